// The harness sending a large trace at a rate through a pipe (the native replay session on its
// own port, every packet captured and judged), against the same trace sent by nmreplay into nmcap
// on a pipe in the same run. HARNESS_BENCH_PACKETS=N (default 1,000,000), HARNESS_BENCH_RATE=PPS
// (default 1,000,000). Times on a shared machine are lower bounds: compare the ratio.
import { loadavg } from 'node:os';
import { BIN, fmt, scratch, startTimed, table, timed, udpTrace, verdict } from './harness.mjs';

const N = Number(process.env.HARNESS_BENCH_PACKETS ?? 1_000_000);
const RATE = Number(process.env.HARNESS_BENCH_RATE ?? 1_000_000);
const tmp = scratch('harness-send');
try {
  const trace = await udpTrace(tmp.path('t.pcap'), N);
  const { HarnessSession } = await import('../dist/harness/index.js');
  const { readPacketsSync } = await import('../dist/pcap/index.js');
  const { readFileSync } = await import('node:fs');
  const expected = readPacketsSync(readFileSync(trace)).map((p) => ({ packet: p.data, ports: 'b' }));

  const name = `hs${process.pid}`;
  const h = HarnessSession.open({ a: `pipe:${name}{0`, b: `pipe:${name}}0` });
  let harness;
  try {
    const t0 = performance.now();
    await h.sendFile('a', trace, { pps: RATE });
    const sendS = (performance.now() - t0) / 1000;
    const settled = await h.settle();
    const r = await import('../dist/harness/index.js').then((m) => m.matchPackets(expected, h.captures()));
    harness = { sendS, settled, total: r.total, ok: r.ok };
  } finally {
    h.close();
  }

  const p = `hp${process.pid}`;
  const cap = startTimed('nmcap', ['-i', `pipe:${p}}0`, '-c', String(N), '-w', tmp.path('peer.pcapng'), '-q'], { dir: tmp.dir });
  await new Promise((res) => {
    const t = setInterval(() => {
      if (/listening on/.test(cap.stderr())) {
        clearInterval(t);
        res();
      }
    }, 20);
  });
  const rep = await timed('nmreplay', ['-i', `pipe:${p}{0`, '--rate', `${RATE}pps`, '--json', trace], { dir: tmp.dir });
  const capDone = await cap.done;
  const rj = JSON.parse(rep.stdout);

  table([
    ['sender', 'packets', 'send time', 'rate', 'received'],
    [`harness (native session), ${fmt.si ? fmt.si(RATE) : RATE} pps asked`, String(N), fmt.s(harness.sendS), `${Math.round(N / harness.sendS)} pps`, `${harness.total.matched} matched, ${harness.total.missing} missing (settled by ${harness.settled.rule})`],
    ['nmreplay -> nmcap (peer)', String(rj.packets), fmt.s(rj.seconds), `${Math.round(rj.pps)} pps`, `nmcap exit ${capDone.code}`],
  ]);
  verdict('the harness sent and accounted for every packet', harness.ok && harness.total.matched === N, `${harness.total.matched}/${N}`);
  console.log(`  harness rate / nmreplay rate: ${fmt.ratio(N / harness.sendS, rj.pps)} (load average ${loadavg()[0].toFixed(1)}; the harness also receives and keeps every packet in JS)`);
  void BIN;
} finally {
  tmp.cleanup();
}
