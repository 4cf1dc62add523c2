#!/usr/bin/env node
// Runs inside a network namespace: prints interface counters every few ms as JSON lines
// [ms, tx_packets(A), tx_dropped(A), rx_packets(B), rx_dropped(B)] until SIGTERM. The
// benchmarks measure every sender and receiver the same way, from the kernel's own counters.
import { readFileSync } from 'node:fs';

const [a, b, everyArg] = process.argv.slice(2);
const every = Number(everyArg ?? 5);
const read = (dev, what) => Number(readFileSync(`/sys/class/net/${dev}/statistics/${what}`, 'utf8'));
const t0 = performance.now();
const lines = [];
const tick = () => {
  try {
    lines.push(JSON.stringify([Math.round((performance.now() - t0) * 1000) / 1000, read(a, 'tx_packets'), read(a, 'tx_dropped'), read(b, 'rx_packets'), read(b, 'rx_dropped')]));
  } catch {
    /* interface gone */
  }
};
const timer = setInterval(tick, every);
process.on('SIGTERM', () => {
  clearInterval(timer);
  tick();
  process.stdout.write(lines.join('\n') + '\n', () => process.exit(0));
});
tick();
