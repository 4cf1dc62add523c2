#!/usr/bin/env node
// nmreplay's own targets (issue 10), each against what it costs or what the peer tool does:
//   1. --rate 10Mpps from a streamed trace into a pipe, receiver writing to /dev/null: >= 99.9% of
//      the target over 20 M packets; paced sending costs about what topspeed costs per packet
//      (CPU time of the sending thread per packet, both ways).
//   2. Loops without -K: a 10-packet trace, -t -l 0 -L 300000, near the -K rate; tcpreplay alongside.
//   3. -l 2000 smtp.pcap --rate 100kpps holds the rate; tcpreplay --pps alongside.
//   4. Streamed replay keeps memory flat: max RSS for an 80 MB and a 400 MB trace (<= 100 MB).
//   5. Where a streamed replay's CPU goes: the native reader (classic pcap) against the JS reader
//      (src/pcap, forced with NMCAP_JS_READER=1) and -K, at --rate 10Mpps over 20 M packets.
// BENCH_PACKETS (trace size, default 1 M) and BENCH_SKIP (comma list of section numbers) trim it.
import { execFileSync } from 'node:child_process';
import { appendFileSync, copyFileSync, existsSync, readFileSync } from 'node:fs';

import { fmt, have, scratch, startTimed, table, timed, udpTrace, verdict } from './harness.mjs';

const PACKETS = Number(process.env.BENCH_PACKETS ?? 1_000_000);
const SKIP = new Set((process.env.BENCH_SKIP ?? '').split(',').filter(Boolean).map(Number));
const tmp = scratch('replay');
let seq = 0;

/** nmreplay into a pipe drained by nmcap -w /dev/null; both JSON reports and resource use. */
async function toPipe(replayArgs, env) {
  const name = `rb${process.pid}x${seq++}`;
  const cap = startTimed('nmcap', ['-i', `pipe:${name}}0`, '-w', '/dev/null', '--json'], { dir: tmp.dir });
  await cap.waitFor(/listening on/);
  const rep = await timed('nmreplay', ['-i', `pipe:${name}{0`, '--json', ...replayArgs], { dir: tmp.dir, env });
  const c = await cap.done;
  if (rep.code !== 0 || c.code !== 0) throw new Error(`run failed: nmreplay ${rep.code} ${rep.stderr}; nmcap ${c.code} ${c.stderr}`);
  return { rep, r: JSON.parse(rep.stdout), c: JSON.parse(c.stdout), why: /reached .*/.exec(rep.stderr)?.[0] };
}

const cpuPerPacket = (r) => (r.senderCpuSeconds / r.queued) * 1e9;

/** A veth pair in a throwaway namespace for tcpreplay (root only); null where it cannot run. */
function vethNs() {
  if (process.getuid?.() !== 0 || !have('tcpreplay')) return null;
  const ns = `nmcrb${process.pid}`;
  const sh = (cmd) => execFileSync('sh', ['-c', cmd], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  sh(`ip netns add ${ns} && ip -n ${ns} link add va type veth peer name vb && ip -n ${ns} link set va up && ip -n ${ns} link set vb up`);
  return {
    prefix: ['ip', 'netns', 'exec', ns],
    close: () => {
      try {
        sh(`ip netns del ${ns}`);
      } catch {
        /* gone */
      }
    },
  };
}

/** tcpreplay's own report: packets and pps. */
function tcpreplayReport(out) {
  return {
    packets: Number(/Actual: (\d+) packets/.exec(out)?.[1] ?? NaN),
    pps: Number(/Rated: [\d.]+ Bps, [\d.]+ Mbps, ([\d.]+) pps/.exec(out)?.[1] ?? NaN),
  };
}

const trace = await udpTrace(tmp.path('udp64.pcap'), PACKETS, 64);
const small = await udpTrace(tmp.path('ten.pcap'), 10, 64);
const veth = vethNs();
try {
  if (!SKIP.has(1)) {
    const loops = Math.ceil(20_000_000 / PACKETS);
    console.log(`\n1. --rate 10Mpps, streamed (no -K): ${PACKETS} x 64 B x ${loops} passes -> pipe -> nmcap -w /dev/null`);
    const paced = await toPipe(['-q', '--rate', '10Mpps', '-l', String(loops), trace]);
    const top = await toPipe(['-q', '-t', '-l', String(loops), trace]);
    const pacedK = await toPipe(['-q', '--rate', '10Mpps', '-K', '-l', String(loops), trace]);
    const topK = await toPipe(['-q', '-t', '-K', '-l', String(loops), trace]);
    table([
      ['run', 'achieved', 'of 10 Mpps', 'sender CPU ns/pkt', 'preempted', 'port full', 'input waits', 'bursts mean/max'],
      ...[
        ['--rate 10Mpps (streamed)', paced],
        ['-t (streamed)', top],
        ['--rate 10Mpps -K', pacedK],
        ['-t -K', topK],
      ].map(([label, { r }]) => [
        label,
        fmt.mpps(r.pacedRate ?? r.pps),
        r.pacedRate ? `${((r.pacedRate / 1e7) * 100).toFixed(2)}%` : '',
        cpuPerPacket(r).toFixed(1),
        r.preemptions,
        `${((r.ringFullSeconds / r.seconds) * 100).toFixed(0)}%`,
        r.inputWaits,
        `${r.bursts.mean.toFixed(0)}/${r.bursts.max}`,
      ]),
    ]);
    for (const [label, x] of [['streamed', paced], ['-K', pacedK]]) if (x.why) console.log(`  nmreplay says (${label}): ${x.why}`);
    verdict('--rate 10Mpps streamed reaches >= 99.9% over 20 M packets', paced.r.pacedRate >= 0.999e7, fmt.mpps(paced.r.pacedRate));
    verdict('paced costs about what topspeed costs per packet (sender thread, within 25%)', cpuPerPacket(paced.r) <= cpuPerPacket(top.r) * 1.25, `${cpuPerPacket(paced.r).toFixed(1)} vs ${cpuPerPacket(top.r).toFixed(1)} ns`);
  }

  if (!SKIP.has(2)) {
    console.log('\n2. loops over a 10-packet trace: -t -l 0 -L 300000');
    const plain = await toPipe(['-q', '-t', '-l', '0', '-L', '300000', small]);
    const k = await toPipe(['-q', '-t', '-l', '0', '-L', '300000', '-K', small]);
    const rows = [
      ['run', 'rate', 'packets', 'passes'],
      ['nmreplay (no -K) -> pipe', fmt.kpps(plain.r.pps), plain.r.packets, plain.r.loops],
      ['nmreplay -K -> pipe', fmt.kpps(k.r.pps), k.r.packets, k.r.loops],
    ];
    let peer;
    if (veth) {
      peer = tcpreplayReport((await timed('tcpreplay', ['-i', 'va', '-t', '-l', '0', '-L', '300000', small], { prefix: veth.prefix, dir: tmp.dir })).stdout);
      rows.push(['tcpreplay (no -K) -> veth', fmt.kpps(peer.pps), peer.packets, '']);
    }
    table(rows);
    if (peer) console.log(`  ratio nmreplay (no -K) / tcpreplay: ${fmt.ratio(plain.r.pps, peer.pps)} (different transports: for scale only)`);
    verdict('no -K runs near the -K rate (>= 80%)', plain.r.pps >= 0.8 * k.r.pps, `${fmt.kpps(plain.r.pps)} vs ${fmt.kpps(k.r.pps)}`);
  }

  if (!SKIP.has(3)) {
    const smtp = new URL('../node_modules/pcap-parser/test/smtp.pcap', import.meta.url).pathname;
    if (existsSync(smtp)) {
      console.log('\n3. -l 2000 smtp.pcap --rate 100kpps');
      const n = await toPipe(['-q', '-l', '2000', '--rate', '100kpps', smtp]);
      const d = n.r.departure;
      const rows = [
        ['run', 'achieved', 'packets', 'p99 departure error', 'max'],
        ['nmreplay -> pipe', fmt.kpps(n.r.pacedRate), n.r.packets, fmt.ns(d.p99Ns), fmt.ns(d.maxNs)],
      ];
      if (veth) {
        const t = tcpreplayReport((await timed('tcpreplay', ['-i', 'va', '-l', '2000', '--pps', '100000', smtp], { prefix: veth.prefix, dir: tmp.dir })).stdout);
        rows.push(['tcpreplay --pps 100000 -> veth', fmt.kpps(t.pps), t.packets, '', '']);
      }
      table(rows);
      verdict('holds 100 kpps (within 1%)', Math.abs(n.r.pacedRate - 1e5) <= 1e3, fmt.kpps(n.r.pacedRate));
    }
  }

  if (!SKIP.has(4)) {
    console.log('\n4. memory of a streamed replay (-t, receiver to /dev/null)');
    const rows = [['trace', 'size', 'nmreplay max RSS']];
    const rss = [];
    // The big one: the trace's records five times over (timestamps repeat; -t ignores them).
    const big = tmp.path('big.pcap');
    copyFileSync(trace, big);
    const body = readFileSync(trace).subarray(24);
    for (let i = 1; i < 5; i++) appendFileSync(big, body);
    for (const [count, f] of [[PACKETS, trace], [PACKETS * 5, big]]) {
      const x = await toPipe(['-q', '-t', f]);
      rss.push(x.rep.rssKB / 1024);
      rows.push([`${count} x 64 B`, `${((count * 80) / 1e6).toFixed(0)} MB`, `${(x.rep.rssKB / 1024).toFixed(0)} MiB`]);
    }
    table(rows);
    verdict('<= 100 MB RSS whatever the trace size', rss.every((m) => m * 1.048576 <= 100), rss.map((m) => `${m.toFixed(0)} MiB`).join(' / '));
  }
  if (!SKIP.has(5)) {
    const loops = Math.ceil(20_000_000 / PACKETS);
    console.log(`\n5. streamed --rate 10Mpps, ${PACKETS * loops} x 64 B: native reader vs JS reader vs -K (the machine is shared: compare the rows)`);
    const rows = [['reader', 'achieved', 'of 10 Mpps', 'nmreplay CPU ns/pkt', 'sender ns/pkt', 'input waits', 'port full', 'max RSS']];
    const runs = {};
    for (const [label, args, env] of [
      ['native (streamed)', ['-q', '--rate', '10Mpps', '-l', String(loops), trace], undefined],
      ['JS src/pcap (streamed)', ['-q', '--rate', '10Mpps', '-l', String(loops), trace], { NMCAP_JS_READER: '1' }],
      ['-K (in memory)', ['-q', '--rate', '10Mpps', '-K', '-l', String(loops), trace], undefined],
    ]) {
      const x = await toPipe(args, env);
      runs[label] = x;
      const r = x.r;
      rows.push([
        label,
        fmt.mpps(r.pacedRate ?? r.pps),
        `${(((r.pacedRate ?? r.pps) / 1e7) * 100).toFixed(2)}%`,
        (((x.rep.user + x.rep.sys) / r.queued) * 1e9).toFixed(1),
        cpuPerPacket(r).toFixed(1),
        r.inputWaits,
        `${((r.ringFullSeconds / r.seconds) * 100).toFixed(0)}%`,
        `${(x.rep.rssKB / 1024).toFixed(0)} MiB`,
      ]);
    }
    table(rows);
    const cpu = (l) => (runs[l].rep.user + runs[l].rep.sys) / runs[l].r.queued;
    console.log(`  nmreplay CPU per packet, native / JS reader: ${fmt.ratio(cpu('native (streamed)'), cpu('JS src/pcap (streamed)'))}; native / -K: ${fmt.ratio(cpu('native (streamed)'), cpu('-K (in memory)'))}`);
    const rate = (l) => runs[l].r.pacedRate ?? runs[l].r.pps;
    verdict('streamed (native reader) reaches >= 99.9% of 10 Mpps', rate('native (streamed)') >= 0.999e7, fmt.mpps(rate('native (streamed)')));
    verdict('streamed keeps up with -K (>= 95% of its rate)', rate('native (streamed)') >= 0.95 * rate('-K (in memory)'), `${fmt.mpps(rate('native (streamed)'))} vs ${fmt.mpps(rate('-K (in memory)'))}`);
  }
} finally {
  veth?.close();
  tmp.cleanup();
}
