#!/usr/bin/env node
// The baseline receiver of bench/pipe.bench.mjs: opens a port's RX rings and drains them counting
// only (the capture loop's count-only mode, as netmap's pkt-gen -f rx), until the sender closes
// or -c N. Prints "listening on PORT" when open, then one JSON line: packets, seconds.
// usage: node bench/baseline-rx.mjs PORT [COUNT]
import { native } from '../dist/ports/binding.js';

const [name, count] = process.argv.slice(2);
const port = new native.Port(name, { direction: 'rx' });
process.stderr.write(`listening on ${name}\n`);
const t0 = process.hrtime.bigint();
const end = await new Promise((resolve) => {
  const s = new native.CaptureSession(port, { countOnly: true, count: Number(count ?? 0) }, (kind, ev) => {
    if (kind === 'end') resolve(ev);
  });
  s.supply(Buffer.allocUnsafeSlow(65536));
  s.start();
});
port.close();
console.log(JSON.stringify({ packets: end.taken, reason: end.reason, seconds: Number(process.hrtime.bigint() - t0) / 1e9 }));
