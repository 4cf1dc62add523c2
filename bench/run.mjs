#!/usr/bin/env node
// `npm run bench`: runs every bench/*.bench.mjs, one after the other, each in its own Node process
// (so one benchmark's heap and JIT state do not colour the next), and passes their output through.
// `npm run bench -- pcap` runs only the benchmarks whose file name contains "pcap".
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const filters = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.mjs'))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();

if (files.length === 0) {
  console.error(`bench: no bench/*.bench.mjs matches ${filters.join(' ') || '(all)'}`);
  process.exit(1);
}

let failed = 0;
for (const f of files) {
  console.log(`\n=== ${f} ===`);
  const r = spawnSync(process.execPath, [join(here, f)], { stdio: 'inherit', cwd: join(here, '..') });
  if (r.status !== 0) {
    failed++;
    console.log(`=== ${f} failed (exit ${r.status ?? r.signal}) ===`);
  }
}
process.exit(failed === 0 ? 0 : 1);
