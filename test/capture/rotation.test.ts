// Rotation as dumpcap's -b does it, and the -a filesize/files stop conditions, over a pipe:
// every file complete on its own (SHB, IDB, packets, ISB counting them), dumpcap's names, no
// packet lost or doubled between files, and a file being written never under its final name.
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { readPacketsSync } from '../../src/pcap/index.js';
import { pipeName, run, start, tempDir } from '../helpers/cli.js';
import { isbDelivered, numberedTrace, pcapngBlocks, wiresharkView } from '../helpers/capture-files.js';

const tmp = tempDir();
const trace = tmp.path('trace.pcap');
const SENT = 20000;
const NAME = /^out_(\d{5})_(\d{14})\.pcapng$/;

beforeAll(async () => {
  await numberedTrace(trace, SENT, 64);
});
afterAll(() => tmp.cleanup());

let runs = 0;

/** nmcap -b/-a ... on a pipe, nmreplay sends `replayArgs`; returns the stats and the files in order. */
async function rotate(capArgs: string[], replayArgs: string[] = ['-t', trace]) {
  const dir = tmp.path(`run${runs++}`);
  const { mkdirSync } = await import('node:fs');
  mkdirSync(dir);
  const pipe = pipeName('rot');
  const c = start('nmcap', ['-i', `pipe:${pipe}}0`, '-w', `${dir}/out.pcapng`, '--json', ...capArgs]);
  await c.waitFor(/^listening on/);
  const rep = await run('nmreplay', ['-i', `pipe:${pipe}{0`, ...replayArgs]);
  const cap = await c.done;
  const names = readdirSync(dir).sort();
  return { cap, rep, dir, names, stats: JSON.parse(cap.stdout.split('\n').find((l) => l.startsWith('{'))!) };
}

/**
 * Checks one file stands on its own and returns the sequence numbers of its packets; `tools`
 * also asks capinfos and tshark (a second each on a busy machine: first and last file only).
 */
function checkFile(path: string, tools = true): number[] {
  const blocks = pcapngBlocks(path);
  expect(blocks[0]!.type).toBe(0x0a0d0d0a);
  expect(blocks[1]!.type).toBe(1);
  const epbs = blocks.filter((b) => b.type === 6).length;
  const last = blocks.at(-1)!;
  expect(last.type).toBe(5);
  expect(isbDelivered(path, last)).toBe(BigInt(epbs));
  const ws = tools ? wiresharkView(path) : undefined;
  if (ws !== undefined) {
    expect(ws.complaints).toBe('');
    expect(ws.packets).toBe(epbs);
  }
  return readPacketsSync(readFileSync(path)).map((p) => Buffer.from(p.data).readUInt32BE(14));
}

/** All files in order hold 0..n-1 exactly once, in order. */
function expectSequence(dir: string, names: string[], from: number, to: number): number[] {
  const counts: number[] = [];
  const seq: number[] = [];
  for (const [i, n] of names.entries()) {
    const s = checkFile(`${dir}/${n}`, i === 0 || i === names.length - 1);
    counts.push(s.length);
    seq.push(...s);
  }
  expect(seq.length).toBe(to - from);
  expect(seq.every((v, i) => v === from + i)).toBe(true);
  return counts;
}

describe('-b rotation', () => {
  it('packets:N: files of exactly N, dumpcap names numbered from 1, all packets once, in order', async () => {
    const { cap, dir, names, stats } = await rotate(['-b', 'packets:6000']);
    expect(cap.code, cap.stderr).toBe(0);
    expect(names).toHaveLength(4);
    names.forEach((n, i) => expect(NAME.exec(n)?.[1]).toBe(String(i + 1).padStart(5, '0')));
    expect(expectSequence(dir, names, 0, SENT)).toEqual([6000, 6000, 6000, 2000]);
    expect(stats).toMatchObject({ captured: SENT, written: SENT, received: SENT, dropped: 0 });
    expect(stats.files).toEqual(names.map((n) => `${dir}/${n}`));
  });

  it('filesize:KB: no file past KB kB (1 kB = 1000 bytes) but for its ISB, and the sum is what was sent', async () => {
    const { cap, dir, names, stats } = await rotate(['-b', 'filesize:300']);
    expect(cap.code, cap.stderr).toBe(0);
    expect(names.length).toBe(7); // 20,000 EPBs of 96 bytes: 1.92 MB in 300 kB files
    for (const n of names) {
      const size = readFileSync(`${dir}/${n}`).length;
      const isb = pcapngBlocks(`${dir}/${n}`).at(-1)!.length;
      expect(size - isb).toBeLessThanOrEqual(300_000);
      if (n !== names.at(-1)) expect(size - isb).toBeGreaterThan(300_000 - 96);
    }
    expectSequence(dir, names, 0, SENT);
    expect(stats.written).toBe(SENT);
  });

  it('files:N keeps the newest N (a ring buffer); printname:FILE names the last complete file', async () => {
    const printed = tmp.path('printname.txt');
    const { cap, dir, names, stats } = await rotate(['-b', 'packets:2000', '-b', 'files:3', '-b', `printname:${printed}`]);
    expect(cap.code, cap.stderr).toBe(0);
    expect(names.map((n) => NAME.exec(n)?.[1])).toEqual(['00008', '00009', '00010']);
    expectSequence(dir, names, 14000, SENT);
    expect(readFileSync(printed, 'utf8')).toBe(`${dir}/${names[2]}\n`);
    expect(stats.captured).toBe(SENT);
    expect(stats.written).toBe(SENT); // written, some since deleted by the ring buffer
  });

  it('interval:S: files end on wall-clock multiples of S; duration:S: no file spans more than S', async () => {
    // 1,500 packets at 1 kpps: about 1.5 s of traffic
    const slow = ['--rate', '1kpps', '-L', '1500', trace];
    const iv = await rotate(['-b', 'interval:1'], slow);
    expect(iv.cap.code, iv.cap.stderr).toBe(0);
    expectSequence(iv.dir, iv.names, 0, 1500);
    // A quiet second (before the replay starts) makes an empty file, as dumpcap does.
    const busy = (r: { dir: string; names: string[] }): string[] =>
      r.names.filter((n) => readPacketsSync(readFileSync(`${r.dir}/${n}`)).length > 0);
    expect(busy(iv).length).toBeGreaterThanOrEqual(2);
    for (const n of busy(iv)) {
      const ts = readPacketsSync(readFileSync(`${iv.dir}/${n}`)).map((p) => p.ts!);
      const second = ts[0]! / 1_000_000_000n;
      expect(ts.every((t) => t / 1_000_000_000n === second)).toBe(true);
    }
    const du = await rotate(['-b', 'duration:0.5'], slow);
    expect(du.cap.code, du.cap.stderr).toBe(0);
    expectSequence(du.dir, du.names, 0, 1500);
    expect(busy(du).length).toBeGreaterThanOrEqual(3);
    for (const n of busy(du)) {
      const ts = readPacketsSync(readFileSync(`${du.dir}/${n}`)).map((p) => p.ts!);
      expect(Number(ts.at(-1)! - ts[0]!) / 1e9).toBeLessThan(0.5);
    }
  });

  it('a file being written has a hidden temporary name; the final name appears when it is complete', async () => {
    const dir = tmp.path('partial');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dir);
    const pipe = pipeName('rot');
    const c = start('nmcap', ['-i', `pipe:${pipe}}0`, '-w', `${dir}/out.pcapng`, '-b', 'packets:300', '-b', 'printname:stderr']);
    await c.waitFor(/^listening on/);
    const rep = start('nmreplay', ['-i', `pipe:${pipe}{0`, '--rate', '2kpps', '-l', '0', trace]);
    const first = await c.waitFor(/out_00001_\d{14}\.pcapng$/);
    const seen = readdirSync(dir);
    expect(seen).toContain(first.split('/').at(-1));
    // The file after it is being written: only its temporary name exists. (On a loaded machine
    // the listing may come a rotation later, with one file still closing: each has only its
    // temporary name.)
    const partial = seen.filter((n) => n.endsWith('.part'));
    expect(partial.length).toBeGreaterThanOrEqual(1);
    for (const p of partial) {
      expect(p).toMatch(/^\.out_\d{5}_\d{14}\.pcapng\.part$/);
      expect(seen).not.toContain(p.slice(1, -'.part'.length));
    }
    c.child.kill('SIGINT');
    const cap = await c.done;
    await rep.done;
    expect([0, 130]).toContain(cap.code);
    const after = readdirSync(dir).sort();
    expect(after.some((n) => n.endsWith('.part'))).toBe(false);
    for (const n of after) checkFile(`${dir}/${n}`);
  });
});

describe('-a stop conditions', () => {
  it('filesize:KB without -b: one file, stopped before it grows past KB, counts what is in it', async () => {
    const { cap, dir, names, stats } = await rotate(['-a', 'filesize:500']);
    expect(cap.code, cap.stderr).toBe(0);
    expect(names).toEqual(['out.pcapng']);
    const seq = checkFile(`${dir}/out.pcapng`);
    const size = readFileSync(`${dir}/out.pcapng`).length - pcapngBlocks(`${dir}/out.pcapng`).at(-1)!.length;
    expect(size).toBeLessThanOrEqual(500_000);
    expect(size).toBeGreaterThan(500_000 - 96);
    expect(seq.every((v, i) => v === i)).toBe(true);
    expect(stats).toMatchObject({ reason: 'filesize', written: seq.length, captured: seq.length });
  });

  it('files:N with -b: stops after N complete files', async () => {
    const { cap, dir, names, stats } = await rotate(['-b', 'packets:3000', '-a', 'files:2']);
    expect(cap.code, cap.stderr).toBe(0);
    expect(names).toHaveLength(2);
    expect(expectSequence(dir, names, 0, 6000)).toEqual([3000, 3000]);
    expect(stats).toMatchObject({ reason: 'files', written: 6000, captured: 6000 });
  });

  it('usage errors: one line, exit 2', async () => {
    for (const [args, msg] of [
      [['-b', 'files:3'], /-b needs a rule to start a new file/],
      [['-b', 'sizefile:3'], /-b sizefile: unknown/],
      [['-b', 'filesize:x'], /-b filesize: needs a positive whole number/],
      [['-a', 'files:2'], /-a files:N stops after N files of a rotation/],
    ] as const) {
      const r = await run('nmcap', ['-i', 'pipe:unused}0', '-w', tmp.path('x.pcapng'), ...args]);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(msg);
    }
  });
});
