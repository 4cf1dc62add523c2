#!/usr/bin/env node
// npm run demo: the main job with no NIC and no root. nmcap listens on one end of a shared-memory
// pipe, nmreplay replays a bundled trace into the other end (ten times as fast as it was
// recorded), then the capture is read back and compared with the trace, byte for byte.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { readPacketsSync } from '../dist/pcap/index.js';

const root = new URL('..', import.meta.url).pathname;
const trace = join(root, 'test/fixtures/demo.pcapng');
const dir = mkdtempSync(join(tmpdir(), 'nmcap-demo-'));
const out = join(dir, 'captured.pcapng');
const pipe = `demo${process.pid}`;

function launch(tool, args, label) {
  const child = spawn(process.execPath, [join(root, 'bin', tool), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => {
    stderr += d;
    for (const line of String(d).split('\n')) if (line) process.stdout.write(`  [${label}] ${line}\n`);
  });
  const done = new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return { child, done, stderr: () => stderr };
}

async function until(fn, ms = 10000) {
  const t0 = Date.now();
  while (!fn()) {
    if (Date.now() - t0 > ms) throw new Error('demo: nmcap did not start listening');
    await new Promise((r) => setTimeout(r, 20));
  }
}

try {
  console.log(`$ nmcap -i pipe:${pipe}}0 -w ${out}`);
  const cap = launch('nmcap', ['-i', `pipe:${pipe}}0`, '-w', out, '--json'], 'nmcap');
  await until(() => /listening on/.test(cap.stderr()));

  console.log(`$ nmreplay -i pipe:${pipe}{0 -x 10 test/fixtures/demo.pcapng`);
  const rep = launch('nmreplay', ['-i', `pipe:${pipe}{0`, '-x', '10', '--json', trace], 'nmreplay');
  const r = await rep.done;
  const c = await cap.done;
  if (r.code !== 0 || c.code !== 0) throw new Error(`demo: nmreplay exited ${r.code}, nmcap exited ${c.code}`);

  const sent = JSON.parse(r.stdout);
  const got = JSON.parse(c.stdout);
  console.log('\nBoth sides, as JSON (--json):');
  console.log(`  nmreplay: ${sent.packets} packets, ${sent.bytes} bytes in ${sent.seconds.toFixed(3)} s, failed ${sent.failed}, truncated ${sent.truncated}`);
  console.log(`  nmcap:    ${got.captured} captured, ${got.received} received, ${got.dropped} dropped, ${got.fileBytes} bytes written`);

  const want = readPacketsSync(readFileSync(trace));
  const have = readPacketsSync(readFileSync(out));
  const same = want.length === have.length && want.every((p, i) => Buffer.compare(p.data, have[i].data) === 0);
  const span = (pkts) => Number(pkts.at(-1).ts - pkts[0].ts) / 1e9;
  console.log(`\nCompared with the trace: ${have.length}/${want.length} packets, ${same ? 'byte-identical and in order' : 'DIFFERENT'}`);
  console.log(`Trace spans ${span(want).toFixed(3)} s; the capture spans ${span(have).toFixed(3)} s (-x 10: about a tenth)`);

  console.log(`\n$ nmcap -r ${out} -c 12`);
  const show = launch('nmcap', ['-r', out, '-c', '12'], 'nmcap -r');
  const s = await show.done;
  process.stdout.write(s.stdout.replace(/^/gm, '  '));
  process.exitCode = same ? 0 : 1;
} catch (e) {
  console.error(String(e.message ?? e));
  process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
