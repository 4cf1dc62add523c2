// A deliberately broken "switch" on pipes, for the harness's own tests:
//   node broken-switch.mjs IN OUT FAULTS_JSON
// takes packets from pipe:IN}0 and forwards them to pipe:OUT{0 as a router would (IPv4 TTL minus
// one, header checksum recomputed), except for the packets named in FAULTS (by the seq of their
// harness tag): {"drop":[..], "dup":[..], "swap":[[a,b]..] (hold a until b has gone), "ttl":[..]
// (TTL rewritten wrongly: minus two)}. Prints "ready" once both ends are open; exits when the
// sender's end closes.
import { createRequire } from 'node:module';
import { checksumOf, findTag, layoutOf } from '../../../dist/harness/index.js';

const require = createRequire(import.meta.url);
const { Port } = require('../../../build/Release/nmcap.node');
const WAIT_RX = 1;
const WAIT_TX = 2;

const [inName, outName, faultsJson = '{}'] = process.argv.slice(2);
const faults = JSON.parse(faultsJson);
const drop = new Set(faults.drop ?? []);
const dup = new Set(faults.dup ?? []);
const badTtl = new Set(faults.ttl ?? []);
const holdUntil = new Map((faults.swap ?? []).map(([a, b]) => [b, a])); // b releases a
const holding = new Set((faults.swap ?? []).map(([a]) => a));
const held = new Map();

const rx = new Port(`pipe:${inName}}0`);
const tx = new Port(`pipe:${outName}{0`);
process.stdout.write('ready\n');

function route(data) {
  const d = Buffer.from(data);
  const L = layoutOf(d);
  if (L.ipVersion === 4) {
    const seq = findTag(d, L.payloadOff)?.seq;
    d[L.l3Off + 8] = Math.max(0, d[L.l3Off + 8] - (badTtl.has(seq) ? 2 : 1));
    d.writeUInt16BE(0, L.l3Off + 10);
    d.writeUInt16BE(checksumOf(d, L.l3Off, L.l3Off + 20), L.l3Off + 10);
  }
  return d;
}

function emit(d) {
  while (!tx.inject(d)) {
    tx.txsync();
    tx.wait(WAIT_TX, 100);
  }
}

for (;;) {
  const w = rx.wait(WAIT_RX, 200);
  if (rx.end().end !== 'none' && w !== 'ready') break;
  // rxsync also gives back the slots of the previous batch: only after it was forwarded below,
  // so the sender's ring is never drained while a packet is still inside this switch.
  rx.rxsync();
  const batch = rx.receive();
  for (const p of batch) {
    const seq = findTag(p.data)?.seq;
    if (drop.has(seq)) continue;
    const out = route(p.data);
    if (holding.has(seq)) {
      held.set(seq, out);
      continue;
    }
    emit(out);
    if (dup.has(seq)) emit(out);
    if (holdUntil.has(seq) && held.has(holdUntil.get(seq))) {
      emit(held.get(holdUntil.get(seq)));
      held.delete(holdUntil.get(seq));
    }
  }
  if (batch.length > 0) tx.txsync();
}
tx.txsync();
rx.close();
tx.close();
