// A pipe end in its own process, for tests: `node pipe-peer.mjs NAME ROLE ACTION [N]`.
//   send N      inject packets "pkt-0".."pkt-N-1", txsync, wait until consumed, close, exit 0
//   hold        open and wait forever (to be killed)
//   recv N      receive N packets, print them as one JSON line, close
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { Port } = require('../../../build/Release/nmcap.node');
const { scaled } = await import('../../helpers/slowness.mjs');

const [name, action, nArg] = process.argv.slice(2);
const n = Number(nArg ?? 0);
const port = new Port(name);
process.stdout.write('open\n');
if (action === 'send') {
  let i = 0;
  while (i < n) {
    while (i < n && port.inject(Buffer.from(`pkt-${i}`))) i++;
    port.txsync();
    if (i < n) port.wait(2, 1000);
  }
  while (port.txPending() > 0) port.wait(4, 1000);
  port.close();
} else if (action === 'hold') {
  setInterval(() => {}, 1000);
} else if (action === 'recv') {
  const got = [];
  while (got.length < n) {
    const r = port.wait(1, scaled(5000)); // a sender that never comes ends the wait, scaled to the host
    if (r !== 'ready') break;
    for (const p of port.receive(n - got.length)) got.push(p.data.toString());
  }
  port.rxsync();
  process.stdout.write(JSON.stringify(got) + '\n');
  port.close();
}
