// A disk that fills up: nmcap stops, says which file and why in one line, prints the final
// statistics, exits 1, and leaves every file valid up to its last complete block, with counts
// that are what is on disk. A 1 MiB tmpfs stands in for the full disk (a real one, just small).
import { readFileSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { readPacketsSync } from '../../src/pcap/index.js';
import { pipeName, run, start, tempDir } from '../helpers/cli.js';
import { isbDelivered, numberedTrace, pcapngBlocks, smallExt4, smallTmpfs, wiresharkView, type SmallDisk } from '../helpers/capture-files.js';

const disk = smallTmpfs('1m');
const why = typeof disk === 'string' ? disk : null;
const tmp = tempDir();
const small = tmp.path('small.pcap'); // 20,000 x 64 B: about 1.9 MB of pcapng, twice the disk
const jumbo = tmp.path('jumbo.pcap'); // 300 x 8000 B: 2.4 MB

beforeAll(async () => {
  await numberedTrace(small, 20000, 64);
  await numberedTrace(jumbo, 300, 8000);
});

afterAll(() => {
  if (typeof disk !== 'string') disk.cleanup();
  tmp.cleanup();
});

const EPB = 6;
const ISB = 5;

/** The nmcap: lines of stderr (statistics and the write-mode notice aside). */
function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('nmcap:') && !l.startsWith('nmcap: writing '));
}

/** Packets in the file by our reader and by the Wireshark tools, which must agree and not complain. */
function checkFile(path: string): number {
  const packets = readPacketsSync(readFileSync(path)).length;
  const ws = wiresharkView(path);
  if (ws !== undefined) {
    expect(ws.complaints).not.toMatch(/cut short|appears to be damaged|corrupt/i);
    expect(ws.packets).toBe(packets);
  }
  return packets;
}

describe.skipIf(why !== null)(`disk full${why ? ` (skipped: ${why})` : ''}`, () => {
  const d = disk as SmallDisk;

  it('offline -r -w pcapng: one line naming the file, exit 1, file valid, written = what is on disk', async () => {
    const out = d.path('offline.pcapng');
    const r = await run('nmcap', ['-r', small, '-w', out, '--json']);
    expect(r.code).toBe(1);
    expect(errorLines(r.stderr)).toEqual([`nmcap: cannot write ${out}: No space left on device`]);
    const stats = JSON.parse(r.stdout);
    const onDisk = checkFile(out);
    expect(onDisk).toBeGreaterThan(5000);
    expect(onDisk).toBeLessThan(20000);
    expect(stats).toMatchObject({ read: 20000, written: onDisk, bytes: readFileSync(out).length });
    expect(stats.error).toMatch(/No space left on device/);
    rmSync(out);
    // Without --json the statistics are on stderr, with the same count.
    const again = await run('nmcap', ['-r', small, '-w', d.path('offline2.pcapng')]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^20000 packets read$/m);
    expect(again.stderr).toMatch(new RegExp(`^${checkFile(d.path('offline2.pcapng'))} packets written$`, 'm'));
    rmSync(d.path('offline2.pcapng'));
  });

  it('offline -r -w -F pcap: the classic file ends at its last whole record', async () => {
    const out = d.path('offline.pcap');
    const r = await run('nmcap', ['-r', jumbo, '-w', out, '-F', 'pcap', '--json']);
    expect(r.code).toBe(1);
    const onDisk = checkFile(out);
    expect(onDisk).toBeGreaterThan(10);
    expect(JSON.parse(r.stdout).written).toBe(onDisk);
    expect(readFileSync(out).length).toBe(24 + onDisk * (16 + 8000));
    rmSync(out);
  });

  it('live capture over a pipe: stops, final statistics, exit 1, the file holds whole blocks and an ISB when room allows', async () => {
    for (const [trace, sent, name] of [
      [small, 20000, 'live-small.pcapng'],
      [jumbo, 300, 'live-jumbo.pcapng'],
    ] as const) {
      const out = d.path(name);
      const pipe = pipeName('df');
      const c = start('nmcap', ['-i', `pipe:${pipe}}0`, '-w', out, '--json']);
      await c.waitFor(/^listening on/);
      const rep = await run('nmreplay', ['-i', `pipe:${pipe}{0`, '-t', trace]);
      const cap = await c.done;
      expect(cap.code, cap.stderr).toBe(1);
      expect(errorLines(cap.stderr)).toEqual([`nmcap: cannot write ${out}: No space left on device`]);
      const stats = JSON.parse(cap.stdout);
      const blocks = pcapngBlocks(out); // throws on a block cut short
      const packets = blocks.filter((b) => b.type === EPB).length;
      expect(checkFile(out)).toBe(packets);
      expect(stats).toMatchObject({ written: packets, reason: 'error', fileBytes: readFileSync(out).length });
      expect(stats.error.code).toBe('ERR_OUTPUT_NO_SPACE');
      // Everything the sender got rid of was captured; what did not fit is not counted as written.
      expect(stats.captured).toBeGreaterThanOrEqual(packets);
      expect(stats.captured).toBeLessThanOrEqual(sent);
      expect(rep.code === 0 || rep.code === 1).toBe(true);
      expect(cap.stderr).toMatch(new RegExp(`^${packets} packets written to ${out}$`, 'm'));
      // The ISB, when present, is last and counts what is in the file.
      const last = blocks.at(-1)!;
      if (last.type === ISB) expect(isbDelivered(out, last)).toBe(BigInt(packets));
      else expect(last.type).toBe(EPB);
      // With 8 kB blocks, cutting the partial one frees whole pages: then the ISB must be there.
      const size = readFileSync(out).length;
      const freed = 1 << 20 > size + 4096 + 200;
      if (name === 'live-jumbo.pcapng' && freed) expect(last.type).toBe(ISB);
      rmSync(out);
    }
  });
});

const ext4 = smallExt4(8);
const whyExt4 = typeof ext4 === 'string' ? ext4 : null;
afterAll(() => {
  if (typeof ext4 !== 'string') ext4.cleanup();
});

describe.skipIf(whyExt4 !== null)(`disk full under O_DIRECT (8 MiB ext4 on a loop device)${whyExt4 ? ` (skipped: ${whyExt4})` : ''}`, () => {
  it('the direct writer stops at the full disk, the file is cut to whole blocks, counts are what is on disk', async () => {
    const d = ext4 as SmallDisk;
    const big = tmp.path('big.pcap'); // 100,000 x 64 B: 9.6 MB of pcapng on a ~6 MB file system
    await numberedTrace(big, 100000, 64);
    const out = d.path('direct.pcapng');
    const pipe = pipeName('dfx');
    const c = start('nmcap', ['-i', `pipe:${pipe}}0`, '-w', out, '--json']);
    await c.waitFor(/^nmcap: writing/);
    await run('nmreplay', ['-i', `pipe:${pipe}{0`, '-t', big]);
    const cap = await c.done;
    expect(cap.code, cap.stderr).toBe(1);
    expect(cap.stderr).toMatch(/^nmcap: writing with O_DIRECT/m);
    expect(errorLines(cap.stderr)).toEqual([`nmcap: cannot write ${out}: No space left on device`]);
    const stats = JSON.parse(cap.stdout);
    const blocks = pcapngBlocks(out);
    const packets = blocks.filter((b) => b.type === EPB).length;
    expect(packets).toBeGreaterThan(10000);
    expect(checkFile(out)).toBe(packets);
    expect(stats).toMatchObject({ writeMode: 'direct', written: packets, fileBytes: readFileSync(out).length, reason: 'error' });
    rmSync(out);
  });
});
