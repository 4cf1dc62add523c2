// The O_DIRECT writer gives the same bytes as buffered writes: on the real disk (ext4, xfs...:
// O_DIRECT) and on tmpfs (declined there: buffered), for appends of every awkward size (tails
// inside a 4 KiB block, buffers larger than a chunk, one byte), and a trailer after them.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';

import { openAppendSink, openSink, type ByteSink } from '../../src/pcap/index.js';
import { native } from '../../src/ports/binding.js';
import { pipeName, run, start } from '../helpers/cli.js';
import { numberedTrace } from '../helpers/capture-files.js';

// /var/tmp is on the real disk here (/tmp may be tmpfs elsewhere); /dev/shm is tmpfs.
const disk = mkdtempSync('/var/tmp/nmcap-direct-');
const shm = mkdtempSync('/dev/shm/nmcap-direct-');
afterAll(() => {
  rmSync(disk, { recursive: true, force: true });
  rmSync(shm, { recursive: true, force: true });
});

function directSupported(dir: string): boolean {
  try {
    new native.DirectFile(`${dir}/probe`, 1 << 20).close();
    return true;
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_DIRECT_UNSUPPORTED') return false;
    throw e;
  }
}

/** Pseudo-random appends of sizes 1 B .. 2.5 MiB through `sink`, then a 40-byte trailer. */
async function writeAwkward(sink: ByteSink): Promise<Buffer> {
  const parts: Buffer[] = [];
  let seed = 11;
  const sizes = [1, 4095, 4096, 4097, 65536, 1 << 20, (1 << 20) + 1, 2_500_000, 7, 123_457];
  for (let i = 0; i < 40; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    const n = i < sizes.length ? sizes[i]! : 1 + (seed % 300_000);
    const b = Buffer.alloc(n);
    for (let k = 0; k < n; k += 997) b[k] = (i * 31 + k) & 0xff;
    b[n - 1] = i;
    parts.push(Buffer.from(b));
    await sink.writeOwned(b);
  }
  const trailer = Buffer.alloc(40, 0xee);
  sink.write(trailer);
  parts.push(trailer);
  await sink.close();
  return Buffer.concat(parts);
}

describe('O_DIRECT writer', () => {
  it.skipIf(!directSupported(disk))('on the real disk: byte-identical to buffered writes, exact length', async () => {
    const want = await writeAwkward(openSink(`${disk}/buffered.bin`));
    const f = new native.DirectFile(`${disk}/direct.bin`, 1 << 20);
    const got = await writeAwkward(openAppendSink(f, `${disk}/direct.bin`));
    expect(got.equals(want)).toBe(true);
    expect(statSync(`${disk}/direct.bin`).size).toBe(want.length);
    expect(readFileSync(`${disk}/direct.bin`).equals(readFileSync(`${disk}/buffered.bin`))).toBe(true);
    expect(statSync(`${disk}/direct.bin`).mode & 0o777).toBe(0o600);
  });

  it.skipIf(!directSupported(disk))('chunks are 64 KiB .. 1 MiB whatever is asked, and a small chunk gives the same bytes', async () => {
    expect(new native.DirectFile(`${disk}/c1`, 1000).chunk).toBe(64 << 10);
    expect(new native.DirectFile(`${disk}/c2`, 64 << 20).chunk).toBe(1 << 20);
    const f = new native.DirectFile(`${disk}/direct64k.bin`, 64 << 10);
    const want = await writeAwkward(openAppendSink(f, 'x'));
    expect(readFileSync(`${disk}/direct64k.bin`).equals(want)).toBe(true);
  });

  it('tmpfs is memory: the DirectFile declines with a code, and capture falls back to buffered', () => {
    expect(directSupported(shm)).toBe(false);
    expect(() => new native.DirectFile(`${shm}/x`, 1 << 20)).toThrow(expect.objectContaining({ code: 'ERR_DIRECT_UNSUPPORTED' }));
  });

  it('live capture: reports the mode on stderr and in --json; same packets on disk and tmpfs', async () => {
    const trace = `${shm}/trace.pcap`;
    await numberedTrace(trace, 5000, 200);
    const results: Record<string, { mode: string; bytes: Buffer }> = {};
    for (const [dir, tag] of [
      [disk, 'disk'],
      [shm, 'tmpfs'],
    ] as const) {
      const out = `${dir}/live.pcapng`;
      const pipe = pipeName('dw');
      const c = start('nmcap', ['-i', `pipe:${pipe}}0`, '-w', out, '--json']);
      await c.waitFor(/^listening on/);
      await run('nmreplay', ['-i', `pipe:${pipe}{0`, '-t', trace]);
      const cap = await c.done;
      expect(cap.code, cap.stderr).toBe(0);
      const stats = JSON.parse(cap.stdout);
      expect(stats).toMatchObject({ captured: 5000, written: 5000, fileBytes: statSync(out).size });
      results[tag] = { mode: stats.writeMode, bytes: readFileSync(out) };
      if (stats.writeMode === 'direct') expect(cap.stderr).toMatch(/^nmcap: writing with O_DIRECT, 1024 KiB chunks/m);
      else expect(cap.stderr).toMatch(/^nmcap: writing buffered: tmpfs is memory: O_DIRECT would gain nothing$/m);
    }
    expect(results['tmpfs']!.mode).toBe('buffered');
    if (directSupported(disk)) expect(results['disk']!.mode).toBe('direct');
    // Same packets: compare the EPB payloads (timestamps differ between the two runs).
    const { readPacketsSync } = await import('../../src/pcap/index.js');
    const a = readPacketsSync(results['disk']!.bytes).map((p) => Buffer.from(p.data).toString('hex'));
    const b = readPacketsSync(results['tmpfs']!.bytes).map((p) => Buffer.from(p.data).toString('hex'));
    expect(a).toEqual(b);
  });
});
