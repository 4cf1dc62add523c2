#!/usr/bin/env node
// nmreplay's own targets (issue 10), each against what it costs or what the peer tool does:
//   1. --rate 10Mpps from a streamed trace into a pipe, receiver writing to /dev/null: >= 99.9% of
//      the target over 20 M packets; paced sending costs about what topspeed costs per packet
//      (CPU time of the sending thread per packet, both ways).
//   2. Loops without -K: a 10-packet trace, -t -l 0 -L 300000, near the -K rate; tcpreplay alongside.
//   3. -l 2000 smtp.pcap --rate 100kpps holds the rate; tcpreplay --pps alongside.
//   4. Streamed replay keeps memory flat: max RSS for an 80 MB and a 400 MB trace (<= 100 MB).
//   5. --rate 1Mpps through a pipe with and without --realtime --cpu N (N: the CPU where an ideal sender is
//      least disturbed, measured first): departure error p50/p99/max
//      side by side (target: p99 under 10 us with it); what link emulation costs per packet.
//   6. Where a streamed replay's CPU goes: the native reader against the JS reader (src/pcap,
//      forced with NMCAP_JS_READER=1) and -K, at --rate 10Mpps over 20 M packets; classic pcap,
//      and the same trace as pcapng.
//   7. --threads 2 against one ring on a veth pair with 2 TX queues (af_xdp and af_packet, topspeed
//      and --rate): pps, sender CPU per packet, the total rate; trafgen --cpus 2 alongside.
// BENCH_PACKETS (trace size, default 1 M) and BENCH_SKIP (comma list of section numbers) trim it.
import { createRequire } from 'node:module';
import { appendFileSync, copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';

import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';

import { fmt, have, scratch, startTimed, table, tcpreplayReport, timed, udpFrame, udpTrace, verdict, vethNamespace } from './harness.mjs';

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
  return { rep, r: JSON.parse(rep.stdout), c: JSON.parse(c.stdout), capCpu: c.user + c.sys, why: /reached .*/.exec(rep.stderr)?.[0] };
}

const cpuPerPacket = (r) => (r.senderCpuSeconds / r.queued) * 1e9;
// The sending thread's CPU per packet split: work on packets, port waits (for TX room, the
// drain: waitCpuNs) and, above 4 Mpps, the pacer's sleeps between quanta (sleepCpuNs: per quantum
// of 50 us, not per packet), which nmreplay measures apart.
const workPerPacket = (r) => (r.threadCpuNs - r.waitCpuNs - r.sleepCpuNs) / r.queued;
const waitPerPacket = (r) => r.waitCpuNs / r.queued;
const sleepPerPacket = (r) => r.sleepCpuNs / r.queued;
const threadPerPacket = (r) => r.threadCpuNs / r.queued;
// The bench trace as pcapng (written once, by nmcap -r -w), for the streamed readers of section 6.
let pcapngTrace;
const tracePcapng = () => {
  if (!pcapngTrace) {
    pcapngTrace = tmp.path('udp64.pcapng');
    execFileSync(new URL('../bin/nmcap', import.meta.url).pathname, ['-q', '-r', trace, '-w', pcapngTrace]);
  }
  return pcapngTrace;
};
// The test-only addon (build/Release/nmcap_test.node), loaded when a section needs its probes.
const testAddon = () => createRequire(import.meta.url)('../build/Release/nmcap_test.node');

/** `count` 64-byte UDP frames over `flows` flows (source port 9000 + i % flows): --threads spreads flows, not packets. */
async function flowsTrace(path, count, flows) {
  const { writeFileSync } = await import('node:fs');
  const { encodePcapHeader, encodePcapRecord } = await import('../dist/pcap/index.js');
  const parts = [encodePcapHeader({ linkType: 1, snapLen: 65535 })];
  const frame = udpFrame(64);
  for (let i = 0; i < count; i++) {
    frame.writeUInt16BE(9000 + (i % flows), 34);
    frame.writeUInt32BE(i, 42);
    parts.push(encodePcapRecord(1_767_225_600 + Math.floor(i / 1e6), i % 1e6, frame));
  }
  writeFileSync(path, Buffer.concat(parts));
  return path;
}

/** A namespace with a veth pair of `queues` TX/RX queues each way (nothing listens on vb: the stack drops). */
function multiQueueVeth(tag, queues) {
  if (process.getuid?.() !== 0) return null;
  const ns = `nmc${tag}${process.pid}`;
  const ip = (...args) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  ip('netns', 'add', ns);
  const q = ['numtxqueues', String(queues), 'numrxqueues', String(queues)];
  ip('-n', ns, 'link', 'add', 'va', ...q, 'type', 'veth', 'peer', 'name', 'vb', ...q);
  ip('-n', ns, 'link', 'set', 'va', 'up');
  ip('-n', ns, 'link', 'set', 'vb', 'up');
  return { prefix: ['ip', 'netns', 'exec', ns], close: () => ip('netns', 'del', ns) };
}

const trace = await udpTrace(tmp.path('udp64.pcap'), PACKETS, 64);
const small = await udpTrace(tmp.path('ten.pcap'), 10, 64);
const veth = vethNamespace('rb');
try {
  if (!SKIP.has(1)) {
    const loops = Math.ceil(20_000_000 / PACKETS);
    console.log(`\n1. --rate 10Mpps, streamed (no -K): ${PACKETS} x 64 B x ${loops} passes -> pipe -> nmcap -w /dev/null`);
    const paced = await toPipe(['-q', '--rate', '10Mpps', '-l', String(loops), trace]);
    const top = await toPipe(['-q', '-t', '-l', String(loops), trace]);
    const pacedK = await toPipe(['-q', '--rate', '10Mpps', '-K', '-l', String(loops), trace]);
    const topK = await toPipe(['-q', '-t', '-K', '-l', String(loops), trace]);
    // The paced path without its waits: a rate above what the sender reaches, so it never sleeps
    // (the pacer's per-packet and per-burst bookkeeping, against topspeed's none).
    const aboveK = await toPipe(['-q', '--rate', '40Mpps', '-K', '-l', String(loops), trace]);
    // Replaying into a switch: the destination and source MACs rewritten, in the slots.
    const macs = ['--dmac', '02:00:00:00:00:01', '--smac', '02:00:00:00:00:02'];
    const pacedMac = await toPipe(['-q', '--rate', '10Mpps', ...macs, '-l', String(loops), trace]);
    const topMac = await toPipe(['-q', '-t', ...macs, '-l', String(loops), trace]);
    table([
      ['run', 'achieved', 'of 10 Mpps', 'sender CPU ns/pkt: all', 'work', 'wait', 'sleep', 'nmreplay CPU ns/pkt', 'receiver CPU ns/pkt', 'preempted', 'port full', 'input waits', 'bursts mean/max'],
      ...[
        ['--rate 10Mpps (streamed)', paced],
        ['-t (streamed)', top],
        ['--rate 10Mpps -K', pacedK],
        ['-t -K', topK],
        ['--rate 40Mpps -K (above reach: never waits)', aboveK],
        ['--rate 10Mpps --dmac --smac (streamed)', pacedMac],
        ['-t --dmac --smac (streamed)', topMac],
      ].map(([label, { r, rep, capCpu }]) => [
        label,
        fmt.mpps(r.pacedRate ?? r.pps),
        r.target === 1e7 ? `${((r.pacedRate / 1e7) * 100).toFixed(2)}%` : '',
        threadPerPacket(r).toFixed(1),
        workPerPacket(r).toFixed(1),
        waitPerPacket(r).toFixed(1),
        sleepPerPacket(r).toFixed(1),
        (((rep.user + rep.sys) / r.queued) * 1e9).toFixed(1),
        ((capCpu / r.queued) * 1e9).toFixed(1),
        r.preemptions,
        `${((r.ringFullSeconds / r.seconds) * 100).toFixed(0)}%`,
        r.inputWaits,
        `${r.bursts.mean.toFixed(0)}/${r.bursts.max}`,
      ]),
    ]);
    console.log('  all = the sending thread\'s CPU time; work = all less its CPU in port waits (TX room, the drain: waitCpuNs) and in the pacer\'s sleeps between quanta (above 4 Mpps, one per 50 us: sleepCpuNs); nmreplay and receiver CPU: whole processes, start-up included');
    for (const [label, x] of [['streamed', paced], ['-K', pacedK]]) if (x.why) console.log(`  nmreplay says (${label}): ${x.why}`);
    verdict('--rate 10Mpps streamed reaches >= 99.9% over 20 M packets', paced.r.pacedRate >= 0.999e7, fmt.mpps(paced.r.pacedRate));
    for (const [label, p, t] of [['streamed', paced, top], ['-K', pacedK, topK]]) {
      verdict(`paced costs about what topspeed costs per packet (${label}, sending thread's work, within 25%)`, workPerPacket(p.r) <= workPerPacket(t.r) * 1.25, `${workPerPacket(p.r).toFixed(1)} vs ${workPerPacket(t.r).toFixed(1)} ns (the paced thread's sleeps between quanta: ${sleepPerPacket(p.r).toFixed(1)} ns per packet more)`);
    }
    console.log(`  the paced path's own bookkeeping (-K, above reach, against topspeed): ${workPerPacket(aboveK.r).toFixed(1)} vs ${workPerPacket(topK.r).toFixed(1)} ns per packet (${fmt.ratio(workPerPacket(aboveK.r), workPerPacket(topK.r))}); at 10 Mpps the rest is per quantum (one per 50 us): waking the sleeping receiver (a system call that wakes the other vCPU), the sleep, the two thread-CPU clock reads that measure it, and each packet's departure error (perf, -K: put_run itself costs the same paced and at topspeed)`);
  }

  if (!SKIP.has(2)) {
    // A run lasts ~20 ms here, so one stall of the VM decides a single one: 5 of each, alternating,
    // compared by their medians.
    const RUNS = 5;
    console.log(`\n2. loops over a 10-packet trace: -t -l 0 -L 300000 (${RUNS} runs each, alternating; median)`);
    const plains = [], ks = [];
    for (let i = 0; i < RUNS; i++) {
      plains.push(await toPipe(['-q', '-t', '-l', '0', '-L', '300000', small]));
      ks.push(await toPipe(['-q', '-t', '-l', '0', '-L', '300000', '-K', small]));
    }
    const medianRun = (runs) => [...runs].sort((a, b) => a.r.pps - b.r.pps)[runs.length >> 1];
    const plain = medianRun(plains), k = medianRun(ks);
    const spread = (runs) => `${fmt.kpps(Math.min(...runs.map((x) => x.r.pps)))}-${fmt.kpps(Math.max(...runs.map((x) => x.r.pps)))}`;
    const rows = [
      ['run', 'rate (median)', 'runs', 'packets', 'passes'],
      ['nmreplay (no -K) -> pipe', fmt.kpps(plain.r.pps), spread(plains), plain.r.packets, plain.r.loops],
      ['nmreplay -K -> pipe', fmt.kpps(k.r.pps), spread(ks), k.r.packets, k.r.loops],
    ];
    let peer;
    if (veth) {
      peer = tcpreplayReport((await timed('tcpreplay', ['-i', 'va', '-t', '-l', '0', '-L', '300000', small], { prefix: veth.prefix, dir: tmp.dir })).stdout);
      rows.push(['tcpreplay (no -K) -> veth', fmt.kpps(peer.pps), '1 run', peer.packets, '']);
    }
    table(rows);
    if (peer) console.log(`  ratio nmreplay (no -K) / tcpreplay: ${fmt.ratio(plain.r.pps, peer.pps)} (different transports: for scale only)`);
    verdict('no -K runs near the -K rate (>= 80%, medians)', plain.r.pps >= 0.8 * k.r.pps, `${fmt.kpps(plain.r.pps)} vs ${fmt.kpps(k.r.pps)}`);
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
    // 5. --realtime --cpu N (netmap nmreplay's -C): departure precision at 1 Mpps while the receiver runs.
    const loops = Math.max(1, Math.ceil(2_000_000 / PACKETS));
    // The kernel's real-time throttling stops a spinning SCHED_FIFO thread for the rest of each
    // period (50 ms of every second by default): the realtime runs go once more with it off, as
    // root, and it is put back.
    const RT_RUNTIME = '/proc/sys/kernel/sched_rt_runtime_us';
    const throttle = readFileSync(RT_RUNTIME, 'utf8').trim();
    const canUnthrottle = throttle !== '-1' && process.getuid?.() === 0;
    const unthrottled = async (fn) => {
      if (!canUnthrottle) return fn();
      writeFileSync(RT_RUNTIME, '-1');
      try {
        return await fn();
      } finally {
        writeFileSync(RT_RUNTIME, throttle);
      }
    };
    // The machine's own floor, CPU by CPU: an ideal sender placed as nmreplay's is that only reads
    // the clock (native/test/js_spin_probe.cc). Whatever it sees late, no sender can send on time.
    // The CPUs differ (here the block device's interrupts all go to one), so the sender is pinned
    // to the quieter one, as a user would pin it.
    const cpus = Array.from({ length: Math.min(availableParallelism(), 4) }, (_, i) => i);
    const floors = await unthrottled(() => cpus.map((cpu) => testAddon().spinProbe({ ratePps: 1e6, durationMs: 2000, realtime: true, cpu })));
    const quiet = floors.reduce((best, f, i) => (f.p99Ns < floors[best].p99Ns ? i : best), 0);
    const floor = floors[quiet];
    console.log(`\n5. --rate 1Mpps -> pipe -> nmcap -w /dev/null, ${PACKETS * loops} packets, without and with --realtime --cpu ${quiet} (the quietest CPU below)`);
    const plain = await toPipe(['-q', '--rate', '1Mpps', '-K', '-l', String(loops), trace]);
    const rtArgs = ['-q', '--rate', '1Mpps', '-K', '-l', String(loops), '--realtime', '--cpu', String(quiet), trace];
    const rt = await toPipe(rtArgs);
    const rtFree = canUnthrottle ? await unthrottled(() => toPipe(rtArgs)) : undefined;
    table([
      ['run', 'achieved', 'departure p50', 'p99', 'max', 'preempted', 'port full', 'sender thread'],
      ...[
        ['normal scheduling', plain],
        [`--realtime --cpu ${quiet} (rt_runtime ${throttle})`, rt],
        ...(rtFree ? [[`--realtime --cpu ${quiet} (rt_runtime -1)`, rtFree]] : []),
      ].map(([label, { r }]) => [
        label,
        fmt.mpps(r.pacedRate),
        fmt.ns(r.departure.p50Ns),
        fmt.ns(r.departure.p99Ns),
        fmt.ns(r.departure.maxNs),
        r.preemptions,
        `${((r.ringFullSeconds / r.seconds) * 100).toFixed(0)}%`,
        `${r.sender.policy}/${r.sender.priority} on CPUs ${r.sender.cpus.join(',')}`,
      ]),
    ]);
    if (rt.r.sender.realtimeError) console.log(`  ${rt.r.sender.realtimeError}`);
    for (const [cpu, f] of floors.entries()) {
      console.log(
        `  machine floor on CPU ${cpu} (an ideal sender, ${f.policy}${canUnthrottle ? ', rt_runtime -1' : ''}, no receiver, 2 s at 1 Mpps): ` +
          `p50 ${fmt.ns(f.p50Ns)}, p99 ${fmt.ns(f.p99Ns)}, max ${fmt.ns(f.maxNs)}; ${f.stalls} stalls over 10 us took ${fmt.ns(f.stalledNs)}`,
      );
    }
    const best = rtFree ?? rt;
    console.log(`  p99 ratio normal / realtime${rtFree ? ' (unthrottled)' : ''}: ${fmt.ratio(plain.r.departure.p99Ns, best.r.departure.p99Ns)}`);
    verdict(
      `--realtime --cpu ${quiet} keeps p99 departure error under 10 us at 1 Mpps`,
      best.r.departure.p99Ns < 10_000,
      `${fmt.ns(best.r.departure.p99Ns)}; the machine's floor on that CPU ${fmt.ns(floor.p99Ns)}${floor.p99Ns >= 10_000 ? ': not reachable on this machine' : ''}`,
    );

    // What the link emulation stage costs per packet at topspeed (sender CPU), and that it holds a bandwidth.
    console.log(`\n5b. link emulation cost: -t, ${PACKETS} x 64 B -> pipe, without and with --loss 0.001 --delay 1us..5us`);
    const bare = await toPipe(['-q', '-t', '-K', trace]);
    const emu = await toPipe(['-q', '-t', '-K', '--loss', '0.001', '--delay', '1us..5us', '--seed', '1', trace]);
    const bw = await toPipe(['-q', '-t', '-K', '--bandwidth', '100Mbps,eth', '-L', '100000', trace]);
    table([
      ['run', 'rate', 'sender CPU ns/pkt', 'dropped on purpose'],
      ['-t', fmt.mpps(bare.r.pps), cpuPerPacket(bare.r).toFixed(1), ''],
      ['-t --loss 0.001 --delay 1us..5us', fmt.mpps(emu.r.pps), cpuPerPacket(emu.r).toFixed(1), emu.r.emuDropped],
      ['-t --bandwidth 100Mbps,eth (100 k packets)', fmt.mpps(bw.r.pps), cpuPerPacket(bw.r).toFixed(1), ''],
    ]);
    const wire = (bw.r.bytes + 24 * bw.r.packets) * 8 / bw.r.seconds;
    verdict('--bandwidth 100Mbps,eth: on-the-wire rate within 1% of 100 Mbit/s', Math.abs(wire - 1e8) <= 1e6, `${(wire / 1e6).toFixed(2)} Mbit/s`);
  }

  if (!SKIP.has(6)) {
    const loops = Math.ceil(20_000_000 / PACKETS);
    console.log(`\n6. streamed --rate 10Mpps, ${PACKETS * loops} x 64 B: native reader vs JS reader vs -K (the machine is shared: compare the rows)`);
    const rows = [['reader', 'achieved', 'of 10 Mpps', 'nmreplay CPU ns/pkt', 'sender work ns/pkt', 'sender wait', 'receiver CPU ns/pkt', 'input waits', 'port full', 'max RSS']];
    const runs = {};
    for (const [label, args, env] of [
      ['native (streamed)', ['-q', '--rate', '10Mpps', '-l', String(loops), trace], undefined],
      ['JS src/pcap (streamed)', ['-q', '--rate', '10Mpps', '-l', String(loops), trace], { NMCAP_JS_READER: '1' }],
      ['-K (in memory)', ['-q', '--rate', '10Mpps', '-K', '-l', String(loops), trace], undefined],
      ['native, pcapng (streamed)', ['-q', '--rate', '10Mpps', '-l', String(loops), tracePcapng()], undefined],
      ['JS src/pcap, pcapng (streamed)', ['-q', '--rate', '10Mpps', '-l', String(loops), tracePcapng()], { NMCAP_JS_READER: '1' }],
    ]) {
      const x = await toPipe(args, env);
      runs[label] = x;
      const r = x.r;
      rows.push([
        label,
        fmt.mpps(r.pacedRate ?? r.pps),
        `${(((r.pacedRate ?? r.pps) / 1e7) * 100).toFixed(2)}%`,
        (((x.rep.user + x.rep.sys) / r.queued) * 1e9).toFixed(1),
        workPerPacket(r).toFixed(1),
        waitPerPacket(r).toFixed(1),
        ((x.capCpu / r.queued) * 1e9).toFixed(1),
        r.inputWaits,
        `${((r.ringFullSeconds / r.seconds) * 100).toFixed(0)}%`,
        `${(x.rep.rssKB / 1024).toFixed(0)} MiB`,
      ]);
    }
    table(rows);
    const cpu = (l) => (runs[l].rep.user + runs[l].rep.sys) / runs[l].r.queued;
    console.log(`  nmreplay CPU per packet, native / JS reader: ${fmt.ratio(cpu('native (streamed)'), cpu('JS src/pcap (streamed)'))}; native / -K: ${fmt.ratio(cpu('native (streamed)'), cpu('-K (in memory)'))}`);
    console.log(`  the same trace as pcapng, nmreplay CPU per packet, native / JS reader: ${fmt.ratio(cpu('native, pcapng (streamed)'), cpu('JS src/pcap, pcapng (streamed)'))}`);
    const rate = (l) => runs[l].r.pacedRate ?? runs[l].r.pps;
    verdict('streamed (native reader) reaches >= 99.9% of 10 Mpps', rate('native (streamed)') >= 0.999e7, fmt.mpps(rate('native (streamed)')));
    verdict('streamed keeps up with -K (>= 95% of its rate)', rate('native (streamed)') >= 0.95 * rate('-K (in memory)'), `${fmt.mpps(rate('native (streamed)'))} vs ${fmt.mpps(rate('-K (in memory)'))}`);
  }

  if (!SKIP.has(7)) {
    const mq = multiQueueVeth('rt', 2);
    if (!mq) console.log('\n7. --threads: skipped (needs root for a veth pair with 2 queues)');
    else {
      try {
        const n = Math.min(PACKETS, 1_000_000);
        const flows = await flowsTrace(tmp.path('flows64.pcap'), n, 1024);
        console.log(`\n7. --threads 2 vs one ring: veth with 2 TX queues, ${n} x 64 B over 1024 flows, -K (2 cores shared with other work: lower bounds; compare rows of this run)`);
        const rows = [['sender', 'rate', 'of target', 'sender CPU ns/pkt', 'process CPU ns/pkt', 'per ring (sent)']];
        const runs = {};
        const RATE = 300_000;
        for (const [label, args] of [
          ['af_xdp -t, 1 thread', ['-i', 'af_xdp:va', '-t']],
          ['af_xdp -t, --threads 2', ['-i', 'af_xdp:va', '-t', '--threads', '2']],
          ['af_packet -t, 1 thread', ['-i', 'af_packet:va', '-t']],
          ['af_packet -t, --threads 2 --cpu 0,1', ['-i', 'af_packet:va', '-t', '--threads', '2', '--cpu', '0,1']],
          [`af_xdp --rate ${RATE / 1000}kpps, 1 thread`, ['-i', 'af_xdp:va', '--rate', String(RATE)]],
          [`af_xdp --rate ${RATE / 1000}kpps, --threads 2`, ['-i', 'af_xdp:va', '--rate', String(RATE), '--threads', '2']],
        ]) {
          const x = await timed('nmreplay', [...args, '-K', '-q', '--json', flows], { prefix: mq.prefix, dir: tmp.dir });
          if (x.code !== 0) throw new Error(`nmreplay ${args.join(' ')}: ${x.stderr}`);
          const r = JSON.parse(x.stdout);
          runs[label] = r;
          const rate = r.pacedRate ?? r.pps;
          rows.push([label, fmt.kpps(rate), r.target ? `${((rate / r.target) * 100).toFixed(2)}%` : '', cpuPerPacket(r).toFixed(0), ((x.cpu / r.queued) * 1e9).toFixed(0), r.rings.map((g) => g.sent).join(' / ')]);
        }
        if (have('trafgen')) {
          const cfg = tmp.path('udp64.cfg');
          writeFileSync(cfg, `{ ${[...udpFrame(64)].map((b) => `0x${b.toString(16).padStart(2, '0')}`).join(', ')} }\n`);
          for (const cpus of [1, 2]) {
            const t = await timed('trafgen', ['-o', 'va', '-i', cfg, '--cpus', String(cpus), '-n', String(n), '-q'], { prefix: mq.prefix, dir: tmp.dir });
            // trafgen says no rate of its own: packets over its wall time (start-up included, so a lower bound)
            rows.push([`trafgen --cpus ${cpus}`, fmt.kpps(n / t.wall), '', '', ((t.cpu / n) * 1e9).toFixed(0), '']);
            runs[`trafgen ${cpus}`] = { pps: n / t.wall };
          }
        }
        table(rows);
        const r = (l) => runs[l].pacedRate ?? runs[l].pps;
        console.log(`  --threads 2 / 1 thread at topspeed: af_xdp ${fmt.ratio(r('af_xdp -t, --threads 2'), r('af_xdp -t, 1 thread'))}, af_packet ${fmt.ratio(r('af_packet -t, --threads 2 --cpu 0,1'), r('af_packet -t, 1 thread'))}`);
        if (runs['trafgen 2']) console.log(`  nmreplay af_xdp --threads 2 / trafgen --cpus 2: ${fmt.ratio(r('af_xdp -t, --threads 2'), runs['trafgen 2'].pps)}`);
        const paced2 = runs[`af_xdp --rate ${RATE / 1000}kpps, --threads 2`];
        verdict('--threads 2 --rate: the total never exceeds the target (one schedule over both rings)', paced2.pacedRate <= RATE * 1.001, fmt.kpps(paced2.pacedRate));
        verdict('--threads 2 --rate: the total is within 1% of the target', Math.abs(paced2.pacedRate - RATE) <= RATE * 0.01, fmt.kpps(paced2.pacedRate));
      } finally {
        mq.close();
      }
    }
  }
} finally {
  veth?.close();
  tmp.cleanup();
}
