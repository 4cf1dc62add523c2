#!/usr/bin/env node
// pcap I/O benchmark, run side by side with the peers in the same run (ratios, not absolutes):
//  1. iterate a 1 M-packet, 64-byte Ethernet/IPv4/UDP pcap through our batch API (and its JS
//     reference, NMCAP_JS_READER=1) vs pcap-parser,
//     touching every packet (sum caplen, read the timestamp, read a data byte). Target >= 20 Mpps.
//     The floors beside it: the same consumer over ready batches (no file, no walk), the same with
//     each batch's arrays copied into fresh memory as the default mode does, and the file alone
//     (the reader's own source, no walk, no consumer).
//  2. `nmcap -r in.pcap -w out.pcapng` vs `editcap -F pcapng in.pcap out2.pcapng` on a 5 M-packet
//     trace (hyperfine when installed, else repeated runs), then a check that both outputs hold
//     identical packets. Target: nmcap at least 3x faster.
// Each reader pass runs in a fresh Node process; "cold" is the first pass (JIT warming up, as in a
// real one-shot run), "warm" the best of the following passes. `--read-only`: section 1 alone.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DISK_DIR, diskScratch, have, scratch } from './harness.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SELF = fileURLToPath(import.meta.url);
const PACKETS = 1_000_000;
/** The conversion trace: big enough that start-up does not decide the ratio. */
const CONVERT_PACKETS = 5_000_000;
const FRAME = 64;

// ------------------------------------------------------------------------------------------------
// Child mode: one reader, timed inside the process (Node start-up excluded), result as JSON.

/** The benchmark's consumer: touches every packet of every batch (the same loop for every source). */
async function consume(batches) {
  let n = 0;
  let bytes = 0;
  let x = 0;
  let ts = 0;
  for await (const b of batches) {
    const { capLen, dataOffset, tsSec, tsNsec, buffer } = b;
    const c = b.count;
    for (let i = 0; i < c; i++) {
      bytes += capLen[i];
      ts += tsSec[i] + tsNsec[i];
      x ^= buffer[dataOffset[i] + 14];
    }
    n += c;
  }
  return n + bytes + x + (ts > 0 ? 1 : 0);
}

/** Wall time of each pass, and the page faults it took (the whole process: the file reads' too). */
async function timePasses(passes, source) {
  const times = [];
  const faults = [];
  let check = 0;
  for (let k = 0; k < passes; k++) {
    const f0 = process.resourceUsage().minorPageFault;
    const t0 = process.hrtime.bigint();
    check = await consume(source());
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    faults.push(process.resourceUsage().minorPageFault - f0);
  }
  return { times, faults, check };
}

async function childOurs(path, passes, reuse) {
  const { openTrace } = await import(join(ROOT, 'dist', 'pcap', 'index.js'));
  return timePasses(passes, () => openTrace(path, { reuse }).batches());
}

/**
 * The floor of a cold pass: no file and no walk, the consumer alone over the batches the reader
 * hands out (the reader's own, read before the clock starts), yielded by an async generator as the
 * reader's are. With `fresh`, each batch goes through the reader's own
 * BatchBuilder and finishCopy inside the timed pass (its arrays copied into fresh memory, as the
 * default mode does), the walk replaced by a copy of ready arrays.
 */
async function childFloor(path, passes, fresh) {
  const { openTrace, BatchBuilder } = await import(join(ROOT, 'dist', 'pcap', 'index.js'));
  const ready = [];  // the default mode's batches: each holds its own chunk and arrays
  for await (const b of openTrace(path).batches()) ready.push(b);
  const builder = new BatchBuilder(1 << 16);
  const copied = (b) => {
    builder.reset();
    for (const k of ['dataOffset', 'capLen', 'origLen', 'iface', 'tsSec', 'tsNsec', 'kinds']) builder[k].set(b[k]);
    builder.count = b.count;
    builder.buffer = b.buffer;
    builder.section = b.section;
    return builder.finishCopy(b.buffer);
  };
  async function* batches() {
    for (const b of ready) yield fresh ? copied(b) : b;
  }
  return timePasses(passes, batches);
}

/** The file alone: the reader's own source (default chunk size, fresh buffers), no walk, no consumer. */
async function childReadAlone(path, passes) {
  const { FileSource } = await import(join(ROOT, 'dist', 'pcap', 'sources.js'));
  const { DEFAULT_CHUNK_SIZE } = await import(join(ROOT, 'dist', 'pcap', 'index.js'));
  const empty = Buffer.alloc(0);
  async function* chunks() {
    const src = new FileSource(path, DEFAULT_CHUNK_SIZE);
    try {
      for (let r = await src.refill(empty, 0, 0); !r.eof; r = await src.refill(empty, 0, 0)) yield { count: 0 };
    } finally {
      await src.close();
    }
  }
  return timePasses(passes, chunks);
}

async function childPcapParser(path, passes) {
  const pcapp = (await import('pcap-parser')).default;
  const times = [];
  let check = 0;
  for (let k = 0; k < passes; k++) {
    const t0 = process.hrtime.bigint();
    const r = await new Promise((resolve, reject) => {
      let n = 0;
      let bytes = 0;
      let x = 0;
      let ts = 0;
      const p = pcapp.parse(path);
      p.on('packet', (pk) => {
        n++;
        bytes += pk.header.capturedLength;
        ts += pk.header.timestampSeconds + pk.header.timestampMicroseconds;
        x ^= pk.data[14];
      });
      p.on('error', reject);
      p.on('end', () => resolve(n + bytes + x + (ts > 0 ? 1 : 0)));
    });
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    check = r;
  }
  return { times, check };
}

if (process.argv[2] === '--child') {
  const [, , , which, path, passes] = process.argv;
  const r =
    which === 'pcap-parser'
      ? await childPcapParser(path, Number(passes))
      : which === 'read-alone'
        ? await childReadAlone(path, Number(passes))
        : which.startsWith('floor')
        ? await childFloor(path, Number(passes), which === 'floor-fresh')
        : await childOurs(path, Number(passes), which === 'ours-reuse');
  process.stdout.write(JSON.stringify(r));
  process.exit(0);
}

// ------------------------------------------------------------------------------------------------
// Helpers.

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmt = (x, d = 1) => x.toFixed(d);

/** `packets` Ethernet/IPv4/UDP frames of 64 bytes, microsecond pcap, timestamps 1 µs apart. */
function makeTrace(path, packets = PACKETS) {
  const rec = 16 + FRAME;
  const buf = Buffer.alloc(24 + packets * rec);
  buf.writeUInt32LE(0xa1b2c3d4, 0);
  buf.writeUInt16LE(2, 4);
  buf.writeUInt16LE(4, 6);
  buf.writeUInt32LE(65535, 16);
  buf.writeUInt32LE(1, 20);
  const frame = Buffer.alloc(FRAME);
  Buffer.from('020000000002020000000001', 'hex').copy(frame, 0);
  frame.writeUInt16BE(0x0800, 12);
  frame[14] = 0x45;
  frame.writeUInt16BE(FRAME - 14, 16);
  frame[22] = 64;
  frame[23] = 17;
  Buffer.from([10, 0, 0, 1, 10, 0, 0, 2]).copy(frame, 26);
  frame.writeUInt16BE(FRAME - 34, 38);
  let p = 24;
  const t0 = 1_700_000_000;
  for (let i = 0; i < packets; i++) {
    buf.writeUInt32LE(t0 + Math.floor(i / 1_000_000), p);
    buf.writeUInt32LE(i % 1_000_000, p + 4);
    buf.writeUInt32LE(FRAME, p + 8);
    buf.writeUInt32LE(FRAME, p + 12);
    frame.writeUInt16BE(i & 0xffff, 34);
    frame.writeUInt32BE(i, 42);
    frame.copy(buf, p + 16);
    p += rec;
  }
  writeFileSync(path, buf);
}

function runChild(which, path, passes, env = {}) {
  const r = spawnSync(process.execPath, [SELF, '--child', which, path, String(passes)], { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 20, env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(`${which} reader failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** Packets of a capture through our reader: count and a hash over timestamps, lengths and data. */
async function digest(path) {
  const { openTrace } = await import(join(ROOT, 'dist', 'pcap', 'index.js'));
  const h = createHash('sha256');
  let n = 0;
  const head = Buffer.alloc(20);
  for await (const b of openTrace(path).batches()) {
    for (let i = 0; i < b.count; i++) {
      head.writeDoubleLE(b.tsSec[i], 0);
      head.writeUInt32LE(b.tsNsec[i], 8);
      head.writeUInt32LE(b.capLen[i], 12);
      head.writeUInt32LE(b.origLen[i], 16);
      h.update(head);
      h.update(b.data(i));
    }
    n += b.count;
  }
  return { n, hash: h.digest('hex') };
}

function hyperfine(cmds, dir) {
  const json = join(dir, 'hyperfine.json');
  const args = ['-N', '--warmup', '2', '--runs', '10', '--export-json', json, '--style', 'none'];
  for (const c of cmds) args.push('--prepare', c.prepare ?? 'true', '--command-name', c.name, c.cmd);
  const r = spawnSync('hyperfine', args, { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`hyperfine failed: ${r.stderr}`);
  const out = JSON.parse(readFileSync(json, 'utf8'));
  return Object.fromEntries(out.results.map((x) => [x.command, { median: x.median * 1000, min: x.min * 1000 }]));
}

/** nmcap -r -w and editcap -F pcapng converting `input` into `dir` (names with `suffix`). */
function conversionCmds(bin, input, dir, suffix = '') {
  const ng = join(dir, 'out.pcapng');
  const ed = join(dir, 'out2.pcapng');
  return [
    { name: `nmcap -r -w${suffix}`, cmd: `${process.execPath} ${bin} -q -r ${input} -w ${ng}`, prepare: `rm -f ${ng}`, out: ng },
    { name: `editcap -F pcapng${suffix}`, cmd: `editcap -F pcapng ${input} ${ed}`, prepare: `rm -f ${ed}`, out: ed },
  ];
}

function manualTiming(cmds) {
  const res = {};
  for (const c of cmds) {
    const times = [];
    for (let k = 0; k < 9; k++) {
      if (c.prepare) spawnSync('sh', ['-c', c.prepare]);
      const t0 = process.hrtime.bigint();
      const r = spawnSync('sh', ['-c', c.cmd], { cwd: ROOT, stdio: 'ignore' });
      const dt = Number(process.hrtime.bigint() - t0) / 1e6;
      if (r.status !== 0) throw new Error(`${c.name} failed`);
      if (k >= 2) times.push(dt);
    }
    res[c.name] = { median: median(times), min: Math.min(...times) };
  }
  return res;
}

// ------------------------------------------------------------------------------------------------
// Main.

const work = scratch('pcap');
const dir = work.dir;
try {
  const input = join(dir, 'in.pcap');
  makeTrace(input);
  console.log(`trace: ${PACKETS} packets x ${FRAME} B (Ethernet/IPv4/UDP, µs pcap) in ${dir}`);

  // 1. Reading.
  const oursRuns = Array.from({ length: 5 }, () => runChild('ours', input, 4));
  const reuseRuns = Array.from({ length: 5 }, () => runChild('ours-reuse', input, 1));
  // The reference: the JS record loop alone (the default walks classic pcap records natively).
  const jsRuns = Array.from({ length: 3 }, () => runChild('ours', input, 4, { NMCAP_JS_READER: '1' }));
  const ppRuns = Array.from({ length: 3 }, () => runChild('pcap-parser', input, 2));
  // The floor (no file, no walk) and the floor with fresh arrays, alternating with ours.
  const floorRuns = [];
  const freshRuns = [];
  const readRuns = [];
  for (let k = 0; k < 5; k++) {
    floorRuns.push(runChild('floor-ready', input, 4));
    freshRuns.push(runChild('floor-fresh', input, 4));
    readRuns.push(runChild('read-alone', input, 4));
  }
  if (oursRuns[0].check !== ppRuns[0].check) throw new Error(`readers disagree: ${oursRuns[0].check} vs ${ppRuns[0].check}`);
  const oursCold = median(oursRuns.map((r) => r.times[0]));
  const oursWarm = median(oursRuns.map((r) => Math.min(...r.times.slice(1))));
  const coldFaults = (runs) => median(runs.map((r) => r.faults[0]));
  const ppCold = median(ppRuns.map((r) => r.times[0]));
  const ppWarm = median(ppRuns.map((r) => Math.min(...r.times.slice(1))));
  const mpps = (ms) => PACKETS / ms / 1000;
  console.log('\n1) iterate every packet (sum caplen, read ts, read a data byte); packets agree between readers');
  console.log(`   nmcap batches():  cold ${fmt(mpps(oursCold))} Mpps (${fmt(oursCold)} ms, ${coldFaults(oursRuns)} page faults)   warm ${fmt(mpps(oursWarm))} Mpps (${fmt(oursWarm)} ms)`);
  const reuseCold = median(reuseRuns.map((r) => r.times[0]));
  console.log(`   nmcap batches({reuse: true}): cold ${fmt(mpps(reuseCold))} Mpps (${fmt(reuseCold)} ms)  (recycled buffers: no fresh-page faults)`);
  const jsCold = median(jsRuns.map((r) => r.times[0]));
  const jsWarm = median(jsRuns.map((r) => Math.min(...r.times.slice(1))));
  console.log(`   nmcap batches(), JS loop only (NMCAP_JS_READER=1): cold ${fmt(mpps(jsCold))} Mpps (${fmt(jsCold)} ms)   warm ${fmt(mpps(jsWarm))} Mpps (${fmt(jsWarm)} ms)`);
  console.log(`   pcap-parser:      cold ${fmt(mpps(ppCold), 2)} Mpps (${fmt(ppCold)} ms)   warm ${fmt(mpps(ppWarm), 2)} Mpps (${fmt(ppWarm)} ms)`);
  for (const [name, runs] of [
    ['floor: the consumer over ready batches (no file, no walk)', floorRuns],
    ['floor + fresh arrays per batch (as the default mode)', freshRuns],
    ['the file alone (the reader\'s source: fresh chunks, no walk, no consumer)', readRuns],
  ]) {
    const cold = median(runs.map((r) => r.times[0]));
    const warm = median(runs.map((r) => Math.min(...r.times.slice(1))));
    console.log(`   ${name}: cold ${fmt(mpps(cold))} Mpps (${fmt(cold)} ms, ${coldFaults(runs)} page faults)   warm ${fmt(mpps(warm))} Mpps (${fmt(warm)} ms)`);
  }
  console.log(`   ratio nmcap/pcap-parser: cold ${fmt(ppCold / oursCold)}x, warm ${fmt(ppWarm / oursWarm)}x`);
  const readOk = mpps(oursCold) >= 20;
  console.log(`   target >= 20 Mpps: ${readOk ? 'MET' : 'MISSED'} cold (${fmt(mpps(oursCold))}), ${mpps(oursWarm) >= 20 ? 'met' : 'missed'} warm (${fmt(mpps(oursWarm))})`);

  if (!process.argv.includes('--read-only')) {
    // 2. Conversion, on a bigger trace.
    const big = join(dir, 'in5m.pcap');
    makeTrace(big, CONVERT_PACKETS);
    const bin = join(ROOT, 'bin', 'nmcap');
    const [nmcapCmd, editcapCmd] = conversionCmds(bin, big, dir);
    const ng = nmcapCmd.out;
    const ed = editcapCmd.out;
    const cmds = [
      nmcapCmd,
      editcapCmd,
      {
        name: 'nmcap -r -w, JS loops only',
        cmd: `env NMCAP_JS_READER=1 NMCAP_JS_WRITER=1 ${process.execPath} ${bin} -q -r ${big} -w ${join(dir, 'js.pcapng')}`,
        prepare: `rm -f ${join(dir, 'js.pcapng')}`,
      },
      { name: 'tcpdump -r -w (pcap)', cmd: `tcpdump -r ${big} -w ${join(dir, 'out3.pcap')}`, prepare: `rm -f ${join(dir, 'out3.pcap')}` },
      { name: 'nmcap -r -w -c 1 (start-up floor)', cmd: `${process.execPath} ${bin} -q -r ${big} -w ${join(dir, 'one.pcapng')} -c 1`, prepare: `rm -f ${join(dir, 'one.pcapng')}` },
      { name: 'nmcap via yargs parsing (-qn)', cmd: `${process.execPath} ${bin} -qn -r ${big} -w ${join(dir, 'y.pcapng')}`, prepare: `rm -f ${join(dir, 'y.pcapng')}` },
      { name: 'node -e 0', cmd: `${process.execPath} -e 0` },
    ].filter((c) => !c.cmd.startsWith('editcap') || have('editcap'))
      .filter((c) => !c.cmd.startsWith('tcpdump') || have('tcpdump'));
    const t = have('hyperfine') ? hyperfine(cmds, dir) : manualTiming(cmds);
    console.log(`\n2) convert ${CONVERT_PACKETS / 1e6} M packets to pcapng (${have('hyperfine') ? 'hyperfine, 10 runs' : '7 runs'}, median wall time)`);
    for (const c of cmds) console.log(`   ${c.name.padEnd(36)} ${fmt(t[c.name].median)} ms (min ${fmt(t[c.name].min)})`);
    if (t['editcap -F pcapng']) {
      const ratio = t['editcap -F pcapng'].median / t['nmcap -r -w'].median;
      console.log(`   ratio editcap/nmcap: ${fmt(ratio, 2)}x   target >= 3x: ${ratio >= 3 ? 'MET' : 'MISSED'}`);
      const floor = t['nmcap -r -w -c 1 (start-up floor)'].median;
      console.log(`   nmcap start-up + one packet: ${fmt(floor)} ms; conversion work above that: ${fmt(t['nmcap -r -w'].median - floor)} ms`);
      console.log(`   3x editcap would mean ${fmt(t['editcap -F pcapng'].median / 3)} ms in all, against a start-up floor of ${fmt(floor)} ms`);

      // Identical packet data in both outputs (and the same as the input).
      const [a, b, c] = [await digest(ng), await digest(ed), await digest(big)];
      const same = a.n === CONVERT_PACKETS && a.n === b.n && a.hash === b.hash && a.hash === c.hash;
      console.log(`   outputs identical (count, timestamps, lengths, data): ${same ? 'yes' : `NO (${a.n}/${a.hash} vs ${b.n}/${b.hash})`}`);
      if (have('capinfos')) {
        const ci = spawnSync('capinfos', ['-c', '-M', ng], { encoding: 'utf8' });
        console.log(`   capinfos on nmcap's output: ${/Number of packets:\s+(\d+)/.exec(ci.stdout)?.[1] ?? 'unreadable'} packets`);
      }
      if (!same) process.exitCode = 1;

      // The same on a disk file system (/var/tmp), where the page cache takes large folios: the
      // tmpfs above (no THP for shmem here) gives every output page fresh, at 4-9 us each on this VM.
      const disk = diskScratch('convert');
      try {
        if (!disk.tmpfs) {
          const din = disk.path('in5m.pcap');
          copyFileSync(big, din);
          const dcmds = conversionCmds(bin, din, disk.dir, ' (disk)');
          const d = have('hyperfine') ? hyperfine(dcmds, disk.dir) : manualTiming(dcmds);
          console.log(`   the same with input and output on ${DISK_DIR}:`);
          for (const c of dcmds) console.log(`   ${c.name.padEnd(36)} ${fmt(d[c.name].median)} ms (min ${fmt(d[c.name].min)})`);
          const dr = d[dcmds[1].name].median / d[dcmds[0].name].median;
          console.log(`   ratio editcap/nmcap on ${DISK_DIR}: ${fmt(dr, 2)}x   target >= 3x: ${dr >= 3 ? 'MET' : 'MISSED'}`);
        }
      } finally {
        disk.cleanup();
      }
    } else {
      console.log('   editcap not installed: no ratio');
    }
  }
} finally {
  work.cleanup();
}
