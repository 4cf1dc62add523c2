// Child process for test/ports/af_packet*.test.ts, run inside a test bed's namespace (AF_PACKET
// sockets see the namespace they were created in). Reports one JSON line on stdout per result;
// the test decides what is right.
//
//   txrx  FRAMES RXOPTS [late]  TX on va and RX on vb in one process, frames from FRAMES, then an
//                               end marker; receives until every frame or the marker arrived.
//                               With "late", nothing is read until everything was sent (and no
//                               marker: the ring overflows), and receiving ends once every frame
//                               was either read or counted as dropped
//   idle                  CPU time of waits on an idle RX port
//   tx    FRAMES IF       send FRAMES on IF and wait until nothing is pending
//   rx    COUNT IF RXOPTS print {"ready"}, then receive until COUNT packets
//   hold  NAME OPTS       open, print {"ready"}; stdin "close" closes, "exit" exits
//   gone                  open vb (rx) and va (tx), print {"ready"}, wait until the port ends
//   errors CASES          try to open each {name, opts}; report code and message (+ TS mirror)
//
// FRAMES is a file of records: u32 little-endian length, then the bytes. Every time limit here is
// a safety net (scaled to the host, test/helpers/slowness.mjs): the events above end the waits.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';

const require = createRequire(import.meta.url);
const { Port } = require('../../../build/Release/nmcap.node');
const { scaled } = await import('../../helpers/slowness.mjs');

const WAIT_RX = 1;
const WAIT_TX = 2;
const WAIT_TX_PROGRESS = 4;

const out = (o) => process.stdout.write(`${JSON.stringify(o, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}\n`);
const nowNs = () => BigInt(Date.now()) * 1000000n;

function readFrames(file) {
  const b = readFileSync(file);
  const frames = [];
  for (let o = 0; o < b.length; ) {
    const n = b.readUInt32LE(o);
    frames.push(b.subarray(o + 4, o + 4 + n));
    o += 4 + n;
  }
  return frames;
}

function packetJson(p) {
  return { ring: p.ring, data: p.data.toString('base64'), wireLen: p.wireLen, tsNs: p.tsNs };
}

// Inject every frame, syncing whenever the TX ring is full, then flush and wait until the kernel
// gave every frame back. `between` runs after each sync (e.g. to drain an RX port).
function sendAll(tx, frames, between = () => {}) {
  let i = 0;
  while (i < frames.length) {
    if (tx.inject(frames[i])) {
      i++;
      if (i % 256 !== 0) continue;
    } else if (tx.wait(WAIT_TX, scaled(2000)) !== 'ready') {
      throw new Error('TX ring stayed full');
    }
    tx.txsync();
    between();
  }
  tx.txsync();
  const pendingAfterSync = tx.txPending();
  const giveUp = Date.now() + scaled(10_000);
  while (tx.txPending() > 0 && Date.now() < giveUp) tx.wait(WAIT_TX_PROGRESS, 100);
  between();
  return { pendingAfterSync, pendingAfterWait: tx.txPending() };
}

// Receives into `got` until done(got) holds; gives up after a silence no working test sees.
function collect(rx, done, got = []) {
  const silence = scaled(1500);
  let idleSince = Date.now();
  while (!done(got) && Date.now() - idleSince < silence) {
    if (rx.wait(WAIT_RX, 100) === 'ready') {
      got.push(...rx.receive());
      idleSince = Date.now();
    }
  }
  return got;
}

// Sent after the frames under test: once it is in, everything sent before it was (veth keeps order).
const MARKER_TYPE = 0x88b6;
const isMarker = (p) => p.data.length >= 14 && p.data.readUInt16BE(12) === MARKER_TYPE;
function marker() {
  const f = Buffer.alloc(60);
  Buffer.from([0x02, 0, 0, 0, 0, 0xbb, 0x02, 0, 0, 0, 0, 0xee, MARKER_TYPE >> 8, MARKER_TYPE & 0xff]).copy(f);
  return f;
}

const [mode, ...args] = process.argv.slice(2);

if (mode === 'txrx') {
  const frames = readFrames(args[0]);
  const rxOpts = { direction: 'rx', ...JSON.parse(args[1] ?? '{}') };
  const rx = new Port('af_packet:vb', rxOpts);
  const tx = new Port('af_packet:va', { direction: 'tx' });
  const got = [];
  const t0 = nowNs();
  const drain = () => {
    for (;;) {
      rx.rxsync();
      const r = rx.receive();
      if (r.length === 0) break;
      got.push(...r);
    }
  };
  const late = args[2] === 'late';
  const pend = sendAll(tx, frames, late ? () => {} : drain);
  if (late) {
    collect(rx, (g) => g.length + Number(rx.counters().rxDrops) >= frames.length, got);
  } else {
    sendAll(tx, [marker()]);
    collect(rx, (g) => g.length >= frames.length || g.some(isMarker), got);
  }
  const t1 = nowNs();
  out({
    t0,
    t1,
    ...pend,
    rxInfo: rx.info(),
    txInfo: tx.info(),
    rxRing: rx.ring('rx', 0),
    txRing: tx.ring('tx', 0),
    rxCounters: rx.counters(),
    rxCounterTypes: Object.fromEntries(Object.entries(rx.counters()).map(([k, v]) => [k, v === null ? 'null' : typeof v])),
    txCounters: tx.counters(),
    packets: got.filter((p) => !isMarker(p)).map(packetJson),
  });
  rx.close();
  tx.close();
} else if (mode === 'idle') {
  const rx = new Port('af_packet:vb', { direction: 'rx' });
  // The CPU time of this thread, the one that waits: node's own threads (compilers, GC) may still
  // be busy after start-up, for long on a slow host, and are no part of the wait.
  const threadCpuUs = () => {
    try {
      return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1000;
    } catch {
      const c = process.cpuUsage(); // no schedstat: the whole process, an upper bound
      return c.user + c.system;
    }
  };
  const before = threadCpuUs();
  const t0 = Date.now();
  const results = [];
  for (let i = 0; i < 3; i++) results.push(rx.wait(WAIT_RX, 100));
  out({ results, wallMs: Date.now() - t0, cpuUs: threadCpuUs() - before });
  rx.close();
} else if (mode === 'tx') {
  const frames = readFrames(args[0]);
  const tx = new Port(`af_packet:${args[1] ?? 'va'}`, { direction: 'tx' });
  const r = sendAll(tx, frames);
  out({ ...r, end: tx.end(), info: tx.info() });
  tx.close();
} else if (mode === 'rx') {
  const count = Number(args[0]);
  const rx = new Port(`af_packet:${args[1] ?? 'vb'}`, { direction: 'rx', ...JSON.parse(args[2] ?? '{}') });
  const info = rx.info();
  const rings = [];
  for (let k = 0; k < info.rxRings; k++) rings.push(rx.ring('rx', k));
  out({ ready: true, info, rings });
  const got = collect(rx, (g) => g.length >= count);
  out({ counters: rx.counters(), packets: got.map(packetJson) });
  rx.close();
} else if (mode === 'hold') {
  const p = new Port(args[0], JSON.parse(args[1] ?? '{}'));
  out({ ready: true, info: p.info() });
  const rl = createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (line === 'close') {
      p.close();
      out({ closed: true });
    } else if (line === 'exit') {
      process.exit(0);
    }
  }
} else if (mode === 'gone') {
  // With an argument, only RX is watched (for "interface went down", where TX keeps working).
  const rxOnly = args[0] === 'rx';
  const rx = new Port('af_packet:vb', { direction: 'rx' });
  const tx = new Port('af_packet:va', { direction: 'tx' });
  out({ ready: true });
  const result = {};
  const giveUp = Date.now() + scaled(10_000);
  try {
    while (Date.now() < giveUp) {
      if (rx.wait(WAIT_RX, 1000) === 'ready') rx.receive();
    }
    result.rx = { error: null };
  } catch (e) {
    result.rx = { code: e.code, message: e.message, errno: e.errno, end: rx.end() };
  }
  try {
    if (rxOnly) throw Object.assign(new Error('not asked'), { code: 'SKIPPED' });
    const f = Buffer.alloc(60, 0xff);
    tx.inject(f);
    tx.txsync();
    tx.wait(WAIT_TX_PROGRESS, 200);
    tx.txsync();
    result.tx = { error: null, pending: tx.txPending() };
  } catch (e) {
    result.tx = { code: e.code, message: e.message, errno: e.errno, end: tx.end() };
  }
  rx.close();
  rx.close(); // closing twice is harmless
  tx.close();
  out(result);
} else if (mode === 'errors') {
  const cases = JSON.parse(args[0]);
  const results = [];
  for (const c of cases) {
    const r = { name: c.name, opts: c.opts ?? {} };
    try {
      const p = new Port(c.name, c.opts ?? {});
      r.opened = true;
      r.info = p.info();
      p.close();
    } catch (e) {
      r.code = e.code;
      r.message = e.message;
    }
    results.push(r);
  }
  out({ results });
} else {
  console.error(`unknown mode ${mode}`);
  process.exit(2);
}
