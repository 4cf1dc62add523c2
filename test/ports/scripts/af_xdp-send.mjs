// Sends frames [--first, --first + --count) on --port (default af_xdp:va, TX only), --queue to
// pick a queue, --slots for the TX ring size, then waits until nothing is pending. Prints one JSON line.
import { addon, arg, frame } from './af_xdp-frames.mjs';
import { scaled } from '../../helpers/slowness.mjs';

const { Port } = addon();
const name = arg('port', 'af_xdp:va');
const count = Number(arg('count', '100'));
const first = Number(arg('first', '0'));
const queue = arg('queue');
const slots = arg('slots');
const port = new Port(name, {
  direction: 'tx',
  ...(queue !== undefined ? { queue: Number(queue) } : {}),
  ...(slots !== undefined ? { txSlots: Number(slots) } : {}),
});
const giveUp = Date.now() + scaled(10_000); // safety nets only: the count and the drain end a working run
let sent = 0;
let maxPending = 0;
while (sent < count) {
  while (sent < count && port.inject(frame(first + sent))) sent++;
  port.txsync();
  maxPending = Math.max(maxPending, port.txPending());
  if (sent < count) port.wait(2 /* WAIT_TX */, 1000);
  if (Date.now() > giveUp) break;
}
const drainUntil = Date.now() + scaled(10_000);
while (port.txPending() > 0 && Date.now() < drainUntil) port.wait(4 /* WAIT_TX_PROGRESS */, 50);
const info = port.info();
console.log(JSON.stringify({ sent, pendingAfter: port.txPending(), maxPending, mode: info.mode, maxFrame: info.maxFrame, description: info.description }));
port.close();
