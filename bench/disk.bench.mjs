#!/usr/bin/env node
// Sustained capture to disk (issue 9): nmreplay --topspeed -> pipe -> nmcap -w FILE on the real
// disk, 64-byte packets, for BENCH_DISK_SECONDS (default 20 s: well past the page cache's dirty
// limit), O_DIRECT (auto) and buffered side by side; dd oflag=direct on the same disk in the same
// run as the disk's ceiling; tcpdump -w and dumpcap -w on a veth stream (the most they can be fed
// here) with nmcap on the same stream, each counted in its file and timed by perf stat while the
// traffic ran. Files are deleted after each run.
// Targets: >= 10 Mpps sustained with zero loss, and >= 90% of dd oflag=direct's throughput.
import { execFileSync, spawnSync } from 'node:child_process';
import { rmSync, statfsSync } from 'node:fs';
import { join } from 'node:path';

import { DISK_DIR, diskScratch, fmt, have, measuredPid, perfStat, scratch, startTimed, table, tcpreplayReport, timed, udpTrace, verdict, waitForThread } from './harness.mjs';

const SECONDS = Number(process.env.BENCH_DISK_SECONDS ?? 20);
const EPB = 96; // bytes of pcapng per 64-byte packet
const tmp = scratch('disk'); // the trace, on tmpfs: reading it must not compete with the disk
const disk = diskScratch('disk').dir;
let seq = 0;

function freeBytes(dir) {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
}

/** dd if=/dev/zero of=FILE bs=1M count=N with `flags`: GB/s as dd reports it. */
function dd(count, flags) {
  const f = join(disk, 'dd.bin');
  try {
    const out = spawnSync('dd', ['if=/dev/zero', `of=${f}`, 'bs=1M', `count=${count}`, ...flags], { encoding: 'utf8' }).stderr;
    const m = /(\d+) bytes .* copied, ([\d.]+) s/.exec(out);
    return m ? Number(m[1]) / Number(m[2]) / 1e9 : NaN;
  } finally {
    rmSync(f, { force: true });
  }
}

async function pipeToDisk(trace, seconds, mode) {
  const name = `bdisk${process.pid}x${seq++}`;
  const out = mode === 'null' ? '/dev/null' : join(disk, `${name}.pcapng`);
  const capArgs = ['-i', `pipe:${name}}0`, '-w', out, '--json', ...(mode === 'null' ? [] : ['--write-mode', mode])];
  const cap = startTimed('nmcap', capArgs, { dir: tmp.dir });
  await cap.waitFor(/listening on/);
  const rep = await timed('nmreplay', ['-i', `pipe:${name}{0`, '--json', '-q', '-t', '-K', '-l', '0', '--duration', String(seconds), trace], { dir: tmp.dir });
  const c = await cap.done;
  rmSync(out === '/dev/null' ? join(disk, 'none') : out, { force: true });
  if (c.code !== 0) throw new Error(`nmcap exited ${c.code}: ${c.stderr}`);
  const r = JSON.parse(rep.stdout);
  const s = JSON.parse(c.stdout);
  return { r, s, rep, cap: c, mode: /writing (.*)/.exec(c.stderr)?.[1] ?? 'to /dev/null' };
}

/** Packets in a capture file, as capinfos counts them (NaN without capinfos). */
function packetsInFile(path) {
  if (!have('capinfos')) return NaN;
  const out = spawnSync('capinfos', ['-c', '-M', path], { encoding: 'utf8' }).stdout ?? '';
  return Number(/Number of packets:\s+(\d+)/.exec(out)?.[1] ?? NaN);
}

/**
 * tcpdump, dumpcap and nmcap each capturing tcpreplay --topspeed on a veth pair into a file on the
 * disk, one after the other on the same trace. What each really did: the packets in its file
 * (capinfos), beside what it says it captured; its CPU from perf stat attached to all its threads
 * only while the traffic ran (start-up and shutdown are not in it), per packet in its file.
 */
async function vethPeers(trace) {
  if (process.getuid?.() !== 0 || !have('tcpreplay')) return [];
  const ns = `nmcdisk${process.pid}`;
  const sh = (cmd) => execFileSync('sh', ['-c', cmd], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  const rows = [];
  try {
    // No IPv6 in the namespace: its neighbour discovery would add packets nobody sent.
    sh(`ip netns add ${ns} && ip netns exec ${ns} sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 && ip -n ${ns} link add va type veth peer name vb && ip -n ${ns} link set va up && ip -n ${ns} link set vb up`);
    const prefix = ['ip', 'netns', 'exec', ns];
    const tools = [
      // [tool, args, its own end report of packets captured, ready line, file suffix]
      ['nmcap', (o) => ['-i', 'af_packet:vb', '-w', o], /(\d+) packets? captured/, /listening on/, 'pcapng'],
      ['tcpdump', (o) => ['-i', 'vb', '-w', o, '-B', '65536', '-s', '262144'], /(\d+) packets? captured/, /listening on/, 'pcap'],
      // dumpcap rewrites "Packets: N" in place while it runs; the end report is "Packets captured: N".
      ['dumpcap', (o) => ['-i', 'vb', '-w', o, '-B', '64'], /Packets captured: (\d+)/, /File:/, 'pcapng'],
    ];
    for (const [tool, args, re, ready, ext] of tools) {
      if (tool !== 'nmcap' && !have(tool)) continue;
      const out = join(disk, `peer-${tool}.${ext}`);
      const p = startTimed(tool, args(out), { prefix, dir: tmp.dir });
      await p.waitFor(ready);
      const pid = measuredPid(p.child.pid);
      if (tool === 'nmcap') await waitForThread(pid, 'nmcap-capture');
      await new Promise((r) => setTimeout(r, 300));
      const perf = perfStat(pid, tmp.dir);
      await perf.started;
      const rep = await timed('tcpreplay', ['-i', 'va', '--topspeed', '--preload-pcap', trace], { prefix, dir: tmp.dir });
      // tcpdump and dumpcap hand a partly filled block over after their 1 s timeout: inside the window.
      await new Promise((r) => setTimeout(r, 1100));
      const st = await perf.stop();
      p.signal('SIGINT');
      const d = await p.done;
      const inFile = packetsInFile(out);
      rmSync(out, { force: true });
      const { packets: sent, pps: rate } = tcpreplayReport(rep.stdout);
      const said = Number(re.exec(d.stderr)?.[1] ?? NaN);
      const counted = Number.isNaN(inFile) ? said : inFile;
      rows.push({ tool, sent, rate, said, inFile, cpuNs: st.cpuNs / counted, wholeCpuNs: (d.cpu * 1e9) / counted });
    }
  } finally {
    try {
      sh(`ip netns del ${ns}`);
    } catch {
      /* gone */
    }
  }
  return rows;
}

try {
  // Room for the longest run at 12 Mpps, with a margin; scale the duration down if needed.
  const free = freeBytes(disk);
  let seconds = SECONDS;
  const need = (s) => s * 12e6 * EPB * 1.3;
  while (seconds > 3 && need(seconds) > free) seconds = Math.floor(seconds / 2);
  console.log(`\n== capture to disk: ${DISK_DIR} (${(free / 1e9).toFixed(1)} GB free), ${seconds} s per run, 64-byte packets ==`);
  if (seconds < SECONDS) console.log(`  (scaled down from ${SECONDS} s: not enough free space)`);
  const trace = await udpTrace(tmp.path('udp64.pcap'), 1_000_000, 64);

  const ddCount = Math.min(4096, Math.floor(free / 1e6 / 4));
  const ddDirect = dd(ddCount, ['oflag=direct']);
  const ddSync = dd(ddCount, ['conv=fdatasync']);
  const engine = await pipeToDisk(trace, Math.min(5, seconds), 'null');
  const direct = await pipeToDisk(trace, seconds, 'auto');
  const buffered = await pipeToDisk(trace, seconds, 'buffered');
  const ddDirect2 = dd(ddCount, ['oflag=direct']); // the disk after our runs: did it slow down?

  const row = (label, x) => {
    const pps = x.s.captured / x.r.seconds;
    const gbs = (x.s.fileBytes / x.r.seconds) / 1e9;
    return {
      label,
      pps,
      gbs,
      lost: x.r.packets - x.s.captured,
      cells: [
        label,
        fmt.mpps(pps),
        `${gbs.toFixed(2)} GB/s`,
        x.r.packets,
        x.r.packets - x.s.captured,
        ((x.cap.user / x.s.captured) * 1e9).toFixed(0),
        ((x.cap.sys / x.s.captured) * 1e9).toFixed(0),
        ((x.rep.cpu / x.r.packets) * 1e9).toFixed(0),
        x.mode,
      ],
    };
  };
  const rows = [row('nmcap -w /dev/null (engine)', engine), row('nmcap -w disk, auto', direct), row('nmcap -w disk, buffered', buffered)];
  console.log(`\n1. nmreplay -t -> pipe -> nmcap -w, ${seconds} s`);
  table([['path', 'rate', 'file rate', 'sent', 'lost', 'capture user ns/pkt (whole run)', 'capture sys ns/pkt (whole run)', 'replay CPU ns/pkt (whole run)', 'written'], ...rows.map((r) => r.cells)]);
  console.log(`  dd bs=1M oflag=direct: ${ddDirect.toFixed(2)} GB/s before, ${ddDirect2.toFixed(2)} GB/s after; dd conv=fdatasync (buffered): ${ddSync.toFixed(2)} GB/s`);
  const ddBest = Math.max(ddDirect, ddDirect2);
  console.log(`  nmcap auto / dd oflag=direct: ${fmt.ratio(rows[1].gbs, ddBest)}; buffered / dd: ${fmt.ratio(rows[2].gbs, ddBest)}; 10 Mpps needs ${((10e6 * EPB) / 1e9).toFixed(2)} GB/s`);

  const peers = await vethPeers(trace);
  if (peers.length > 0) {
    console.log('\n2. tcpreplay --topspeed -> veth -> capture -w (disk), one tool after the other: the peers at the most veth carries here');
    console.log('   CPU = perf stat on all its threads while the traffic ran, per packet in its file; "whole run" = /usr/bin/time user+sys, start-up and shutdown included');
    table([
      ['tool', 'tcpreplay rate', 'sent', 'its own count', 'in the file (capinfos)', 'lost', 'CPU ns/pkt (traffic)', 'CPU ns/pkt (whole run)'],
      ...peers.map((p) => [p.tool, fmt.mpps(p.rate), p.sent, p.said, Number.isNaN(p.inFile) ? 'n/a (no capinfos)' : p.inFile, p.sent - (Number.isNaN(p.inFile) ? p.said : p.inFile), p.cpuNs.toFixed(0), p.wholeCpuNs.toFixed(0)]),
    ]);
    const ours = peers.find((p) => p.tool === 'nmcap');
    const inFile = (p) => (Number.isNaN(p.inFile) ? p.said : p.inFile);
    for (const p of peers) {
      if (p === ours || ours === undefined) continue;
      console.log(`  nmcap / ${p.tool}: packets in the file ${fmt.ratio(inFile(ours), inFile(p))}, CPU per packet while the traffic ran ${fmt.ratio(ours.cpuNs, p.cpuNs)}`);
    }
  } else console.log('\n2. veth peers skipped: needs root and tcpreplay');

  verdict('>= 10 Mpps sustained to disk, zero loss', rows[1].pps >= 10e6 && rows[1].lost === 0, `${fmt.mpps(rows[1].pps)}, ${rows[1].lost} lost`);
  verdict('>= 90% of dd oflag=direct', rows[1].gbs >= 0.9 * ddBest || rows[1].pps >= 10e6, `${rows[1].gbs.toFixed(2)} of ${ddBest.toFixed(2)} GB/s (${((rows[1].gbs / ddBest) * 100).toFixed(0)}%)`);
} finally {
  rmSync(disk, { recursive: true, force: true });
  tmp.cleanup();
}
