// Receives on --port (default af_xdp:vb, RX only) until --count of our frames arrived or --ms
// passed (--queue, --slots pick the queue and RX ring size; see --wait-signal, --count-drops); prints "ready" once open, then one JSON line with every frame (base64), its ring and
// time, the test window and the counters (bigints as strings, null when unknown).
import { addon, arg, seqOf } from './af_xdp-frames.mjs';
import { scaled } from '../../helpers/slowness.mjs';

const { Port } = addon();
const name = arg('port', 'af_xdp:vb');
const count = Number(arg('count', '100'));
const ms = scaled(Number(arg('ms', '8000'))); // a safety net: the count ends a working run
const queue = arg('queue');
const slots = arg('slots');
const port = new Port(name, {
  direction: 'rx',
  ...(queue !== undefined ? { queue: Number(queue) } : {}),
  ...(slots !== undefined ? { rxSlots: Number(slots) } : {}),
});
const info = port.info();
const rings = [];
for (let i = 0; i < info.rxRings; i++) rings.push(port.ring('rx', i).index);
console.log('ready');
const windowStartNs = BigInt(Date.now()) * 1000000n;
// --wait-signal: touch nothing until SIGUSR1, so that frames pile up in the kernel's RX ring.
if (process.argv.includes('--wait-signal')) {
  const keepAlive = setInterval(() => {}, 1000); // a signal listener alone does not keep node running
  await new Promise((r) => process.once('SIGUSR1', r));
  clearInterval(keepAlive);
}
// --count-drops: stop once received + dropped frames reach --count.
const countDrops = process.argv.includes('--count-drops');
const drops = () => (countDrops ? Number(port.counters().rxDrops) : 0);
const packets = [];
let stray = 0;
const t0 = Date.now();
while (packets.length + drops() < count && Date.now() - t0 < ms) {
  if (port.wait(1 /* WAIT_RX */, 100) !== 'ready') continue;
  for (const p of port.receive()) {
    if (seqOf(p.data) < 0) stray++;
    else packets.push({ ring: p.ring, b64: p.data.toString('base64'), tsNs: String(p.tsNs) });
  }
}
const windowEndNs = BigInt(Date.now()) * 1000000n;
const c = port.counters();
// Counters travel as { type, value } so the test sees that they are bigints (or null = unknown).
const s = (v) => ({ type: v === null ? 'null' : typeof v, value: v === null ? null : String(v) });
console.log(JSON.stringify({
  packets, stray, rings, mode: info.mode, xdp: info.xdp, description: info.description, tsSource: info.tsSource,
  knows: [info.knowsRxReceived, info.knowsRxDrops],
  windowStartNs: String(windowStartNs), windowEndNs: String(windowEndNs),
  counters: { rxReceived: s(c.rxReceived), rxDrops: s(c.rxDrops), rxRingFull: s(c.rxRingFull) },
}));
port.close();
