// Sends --count frames from --port (default af_xdp:va, direction both) and receives what comes
// back on the same port (an echo on the other end), --window frames in flight at most, until all came back or --ms passed.
// Prints one JSON line with the frames that came back (base64).
import { addon, arg, frame, seqOf } from './af_xdp-frames.mjs';
import { scaled } from '../../helpers/slowness.mjs';

const { Port } = addon();
const port = new Port(arg('port', 'af_xdp:va'), { direction: 'both', rxSlots: 64, txSlots: 64 });
const count = Number(arg('count', '100'));
const ms = scaled(Number(arg('ms', '8000'))); // a safety net: the count ends a working run
const window = Number(arg('window', '32'));
let sent = 0;
const back = [];
const t0 = Date.now();
while (back.length < count && Date.now() - t0 < ms) {
  // At most `window` frames out and not yet back: the echo's 64-entry RX ring never overflows.
  while (sent < count && sent - back.length < window && port.inject(frame(sent))) sent++;
  port.txsync();
  port.wait(1, 20);
  for (const p of port.receive()) if (seqOf(p.data) >= 0) back.push(p.data.toString('base64'));
}
console.log(JSON.stringify({ sent, back, pendingAfter: port.txPending(), mode: port.info().mode, xdp: port.info().xdp }));
port.close();
