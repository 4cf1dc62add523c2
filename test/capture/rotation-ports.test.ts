// Several ports with rotation: each file's ISBs say how many packets each port delivered to that
// file (isb_usrdeliv on the port's first interface), checked against tshark's view of the file.
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { isbDelivered, numberedTrace, pcapngBlocks, wiresharkView } from '../helpers/capture-files.js';
import { pipeName, run, start, tempDir } from '../helpers/cli.js';
import { have, tsharkFields } from '../helpers/tools.js';

const tmp = tempDir('nmcap-rot-ports-');
const trace = tmp.path('trace.pcap');
const PER_PORT = 3000;
beforeAll(async () => {
  await numberedTrace(trace, PER_PORT, 64);
});
afterAll(() => tmp.cleanup());

const ISB = 5;
const EPB = 6;

describe('-b with several -i', () => {
  it('every file: isb_usrdeliv of each port is what that port wrote to that file', async () => {
    const dir = tmp.path('out');
    mkdirSync(dir);
    const [pa, pb] = [pipeName('ra'), pipeName('rb')];
    const c = start('nmcap', ['-i', `pipe:${pa}}0`, '-i', `pipe:${pb}}0`, '-w', `${dir}/out.pcapng`, '-b', 'packets:2500', '-c', String(2 * PER_PORT), '--json']);
    await c.waitFor(new RegExp(`^listening on pipe:${pb}`));
    const [ra, rb] = await Promise.all([run('nmreplay', ['-i', `pipe:${pa}{0`, '-t', trace]), run('nmreplay', ['-i', `pipe:${pb}{0`, '-t', trace])]);
    expect(ra.code, ra.stderr).toBe(0);
    expect(rb.code, rb.stderr).toBe(0);
    const cap = await c.done;
    expect(cap.code, cap.stderr).toBe(0);
    const names = readdirSync(dir).sort();
    expect(names.length).toBe(3);
    const totals = [0, 0];
    for (const [k, n] of names.entries()) {
      const path = `${dir}/${n}`;
      const b = readFileSync(path);
      const blocks = pcapngBlocks(path);
      const epbs = [0, 0];
      for (const blk of blocks) if (blk.type === EPB) epbs[b.readUInt32LE(blk.offset + 8)]!++;
      const isbs = blocks.filter((blk) => blk.type === ISB);
      expect(isbs.map((blk) => b.readUInt32LE(blk.offset + 8))).toEqual([0, 1]);
      expect(isbs.map((blk) => isbDelivered(path, blk))).toEqual(epbs.map(BigInt));
      totals[0]! += epbs[0]!;
      totals[1]! += epbs[1]!;
      if (have('tshark') && (k === 0 || k === names.length - 1)) {
        const ws = wiresharkView(path)!;
        expect(ws.complaints).toBe('');
        const ids = tsharkFields(path, ['frame.interface_id']).rows.map((r) => Number(r[0]));
        expect([0, 1].map((i) => ids.filter((x) => x === i).length)).toEqual(epbs);
      }
    }
    expect(totals).toEqual([PER_PORT, PER_PORT]);
  });
});
