#!/usr/bin/env node
// The baseline receiver of bench/pipe.bench.mjs and bench/backends.bench.mjs: opens a port's RX
// rings and drains them counting only (the capture loop's count-only mode, as netmap's pkt-gen
// -f rx), until the sender closes, -c N, or SIGINT/SIGTERM. With --read it also loads a byte of
// every 64-byte line of each packet (the floor with the data brought into the cache).
// Prints "listening on PORT" when open, then one JSON line: packets, drops, reason, seconds.
// usage: node bench/baseline-rx.mjs [--read] PORT [COUNT]
import { native } from '../dist/ports/binding.js';

const argv = process.argv.slice(2);
const reads = argv[0] === '--read';
const [name, count] = reads ? argv.slice(1) : argv;
const port = new native.Port(name, { direction: 'rx' });
const t0 = process.hrtime.bigint();
let session;
const end = await new Promise((resolve) => {
  session = new native.CaptureSession(port, { countOnly: true, countReads: reads, count: Number(count ?? 0) }, (kind, ev) => {
    if (kind === 'end') resolve(ev);
  });
  session.supply(Buffer.allocUnsafeSlow(65536));
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => session.stop());
  session.start();
  process.stderr.write(`listening on ${name}\n`);
});
port.close();
const drops = end.rxDrops === null ? null : Number(end.rxDrops);
console.log(JSON.stringify({ packets: end.taken, drops, reason: end.reason, seconds: Number(process.hrtime.bigint() - t0) / 1e9 }));
