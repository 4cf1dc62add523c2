// A reflector on --port (default af_xdp:vb, direction both): every frame received on its RX
// rings is copied into its TX ring and sent back, until --count frames were echoed or --ms
// passed. Prints "ready", then one JSON line.
import { addon, arg, seqOf } from './af_xdp-frames.mjs';
import { scaled } from '../../helpers/slowness.mjs';

const { Port } = addon();
const port = new Port(arg('port', 'af_xdp:vb'), { direction: 'both', rxSlots: 64, txSlots: 64 });
const count = Number(arg('count', '100'));
const ms = scaled(Number(arg('ms', '8000'))); // a safety net: the count ends a working run
console.log('ready');
let echoed = 0;
const backlog = [];
const t0 = Date.now();
while (echoed < count && Date.now() - t0 < ms) {
  port.wait(backlog.length ? 1 | 2 : 1, 20);
  for (const p of port.receive()) if (seqOf(p.data) >= 0) backlog.push(p.data);
  while (backlog.length && port.inject(backlog[0])) {
    backlog.shift();
    echoed++;
  }
  port.txsync();
}
while (port.txPending() > 0 && Date.now() - t0 < ms) port.wait(4, 20);
const info = port.info();
console.log(JSON.stringify({ echoed, pendingAfter: port.txPending(), mode: info.mode, xdp: info.xdp, txRings: info.txRings, rxRings: info.rxRings }));
port.close();
