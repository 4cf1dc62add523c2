// The replay loop puts runs of plain packets (one slot each, no rewrite, no link emulation) in a
// loop of their own (put_run) and hands every other record to its general path. A trace that
// mixes both, at topspeed and at fixed packet rates (runs of due packets), must arrive as the
// general path alone would send it: every packet's bytes in order, the empty records failed, the
// cut ones counted as truncated, the large ones (two pipe slots) whole. Real pipe, real receiver.
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodePcapHeader, encodePcapRecord, readPacketsSync } from '../../src/pcap/index.js';
import { pipeName, run, start, tempDir } from '../helpers/cli.js';

const tmp = tempDir('nmcap-runs-');
let trace: string;
const RECORDS = 3000;
// What the loop must do with record i: 0 bytes (failed), cut by the snaplen (truncated), larger
// than a 2048-byte slot (general path, two slots), or plain.
const kind = (i: number) => (i % 97 === 5 ? 'empty' : i % 13 === 0 ? 'cut' : i % 211 === 7 ? 'large' : 'plain');
const frame = (i: number): Buffer => {
  const len = kind(i) === 'empty' ? 0 : kind(i) === 'large' ? 3000 : 60 + (i % 7) * 8;
  const d = Buffer.alloc(len, i & 0xff);
  if (len >= 18) d.writeUInt32BE(i, 14);
  return d;
};
const expected = Array.from({ length: RECORDS }, (_, i) => i).filter((i) => kind(i) !== 'empty');

beforeAll(() => {
  trace = tmp.path('mixed.pcap');
  const parts = [encodePcapHeader({ linkType: 1, snapLen: 65535 })];
  for (let i = 0; i < RECORDS; i++) {
    const d = frame(i);
    parts.push(encodePcapRecord(1_700_000_000, i, d, kind(i) === 'cut' ? 1514 : d.length));
  }
  writeFileSync(trace, Buffer.concat(parts));
});

afterAll(() => tmp.cleanup());

describe('runs of plain packets and the records between them', () => {
  it.each([
    ['topspeed, streamed', ['-t']],
    ['topspeed, in memory', ['-t', '-K']],
    ['10 Mpps (quanta)', ['--rate', '10Mpps']],
    ['200 kpps (packet by packet)', ['--rate', '200kpps']],
  ])('%s: every packet in order, byte for byte, and the counts', async (_what, args) => {
    const name = pipeName('runs');
    const out = tmp.path(`${name}.pcapng`);
    const cap = start('nmcap', ['-i', `pipe:${name}}0`, '-w', out, '--json']);
    await cap.waitFor(/^listening on/);
    const r = await run('nmreplay', ['-i', `pipe:${name}{0`, trace, '--json', '-q', ...args]);
    const c = await cap.done;
    expect(r.code, r.stderr).toBe(0);
    expect(c.code, c.stderr).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep).toMatchObject({
      queued: expected.length,
      packets: expected.length,
      failed: RECORDS - expected.length,
      truncated: expected.filter((i) => kind(i) === 'cut').length,
      queuedBytes: expected.reduce((n, i) => n + frame(i).length, 0),
    });
    if (args[0] === '--rate') expect(rep.departure.count).toBe(expected.length);
    const got = readPacketsSync(readFileSync(out));
    expect(got.length).toBe(expected.length);
    const wrong = got.findIndex((p, k) => !Buffer.from(p.data).equals(frame(expected[k])));
    expect(wrong).toBe(-1);
  });
});
