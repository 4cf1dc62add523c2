// Opens --port (default af_xdp:vb) with --direction (default rx), prints one JSON line with its
// info, then keeps receiving (so the event loop stays free for signals). SIGINT closes the port
// and exits 130, like the CLI after Ctrl-C. If the port ends (interface gone), prints the end
// state as JSON and exits 1.
import { setTimeout as sleep } from 'node:timers/promises';
import { addon, arg } from './af_xdp-frames.mjs';

const { Port } = addon();
const name = arg('port', 'af_xdp:vb');
const direction = arg('direction', 'rx');
let port;
try {
  port = new Port(name, { direction });
} catch (e) {
  console.log(JSON.stringify({ error: e.code, message: e.message }));
  process.exit(1);
}
let stop = false;
process.on('SIGINT', () => {
  stop = true;
});
console.log(JSON.stringify({ open: true, ...port.info() }));
try {
  while (!stop) {
    if (direction !== 'tx' && port.wait(1, 20) === 'ready') port.receive();
    else if (direction === 'tx') port.wait(4, 20);
    await sleep(5);
  }
} catch (e) {
  console.log(JSON.stringify({ waitError: e.code, message: e.message, end: port.end() }));
  port.close();
  process.exit(1);
}
port.close();
console.log(JSON.stringify({ closed: true }));
process.exit(130);
