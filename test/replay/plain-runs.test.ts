// The replay loop puts runs of plain packets (one slot each, no link emulation, no edit but the
// Ethernet ones: MACs, VLAN tag) in a loop of their own (put_run) and hands every other record to its general
// path. A trace that mixes both, at topspeed and at fixed packet rates (runs of due packets), must
// arrive as the general path alone would send it: every packet's bytes in order, the empty records
// failed, the cut ones counted as truncated, the large ones (two pipe slots) whole, and with
// --dmac/--smac/--vlan-push/--vlan-pop each frame edited and the records too short for an
// Ethernet header refused. Real pipe, real receiver.
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodePcapHeader, encodePcapRecord, readPacketsSync } from '../../src/pcap/index.js';
import { pipeName, run, start, tempDir } from '../helpers/cli.js';

const tmp = tempDir('nmcap-runs-');
let trace: string;
const RECORDS = 3000;
// What the loop must do with record i: 0 bytes (failed), cut by the snaplen (truncated), larger
// than a 2048-byte slot (general path, two slots), shorter than an Ethernet header (sent as it is;
// refused when frames are edited), or plain (every third of them 802.1Q-tagged).
const kind = (i: number) =>
  i % 97 === 5 ? 'empty' : i % 89 === 3 ? 'runt' : i % 13 === 0 ? 'cut' : i % 211 === 7 ? 'large' : 'plain';
const frame = (i: number): Buffer => {
  const len = kind(i) === 'empty' ? 0 : kind(i) === 'runt' ? 10 : kind(i) === 'large' ? 3000 : 60 + (i % 7) * 8;
  const d = Buffer.alloc(len, i & 0xff);
  if (len >= 18) d.writeUInt32BE(i, 14);
  if (len >= 18 && i % 3 === 1) d.writeUInt32BE((0x81000000 | (i & 0xfff)) >>> 0, 12); // TPID 0x8100, VID i & 0xfff
  return d;
};
const DMAC = Buffer.from([0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0x01]);
const SMAC = Buffer.from([0x02, 0x11, 0x22, 0x33, 0x44, 0x55]);
interface Edits {
  dmac?: boolean;
  smac?: boolean;
  push?: number; // the tag's TCI
  pop?: boolean;
}
/** What record i becomes on the wire: a tag pushed or popped after the MACs, then --dmac/--smac over bytes 0-5 and 6-11. */
const sent = (i: number, e: Edits): Buffer => {
  let d = Buffer.from(frame(i));
  const tagged = d.length >= 18 && (d.readUInt16BE(12) === 0x8100 || d.readUInt16BE(12) === 0x88a8);
  if (e.pop && tagged) d = Buffer.concat([d.subarray(0, 12), d.subarray(16)]);
  if (e.push !== undefined) d = Buffer.concat([d.subarray(0, 12), Buffer.from([0x81, 0x00, e.push >> 8, e.push & 0xff]), d.subarray(12)]);
  if (e.dmac) DMAC.copy(d, 0);
  if (e.smac) SMAC.copy(d, 6);
  return d;
};

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

const RATES: [string, string[]][] = [
  ['topspeed, streamed', ['-t']],
  ['topspeed, in memory', ['-t', '-K']],
  ['10 Mpps (quanta)', ['--rate', '10Mpps']],
  ['200 kpps (packet by packet)', ['--rate', '200kpps']],
];
const EDITS: [string, string[], Edits][] = [
  ['as they are', [], {}],
  ['--dmac', ['--dmac', '02:aa:bb:cc:dd:01'], { dmac: true }],
  ['--dmac --smac', ['--dmac', '02:aa:bb:cc:dd:01', '--smac', '02:11:22:33:44:55'], { dmac: true, smac: true }],
  ['--vlan-push --smac', ['--vlan-push', '300', '--vlan-pcp', '6', '--smac', '02:11:22:33:44:55'], { push: (6 << 13) | 300, smac: true }],
  ['--vlan-pop', ['--vlan-pop'], { pop: true }],
];

describe('runs of plain packets and the records between them', () => {
  it.each(EDITS.flatMap(([m, editArgs, edits]) => RATES.map(([what, args]) => [`${what}, ${m}`, [...args, ...editArgs], edits] as const)))(
    '%s: every packet in order, byte for byte, and the counts',
    async (_what, args, edits) => {
      const rewriting = Object.keys(edits).length > 0;
      const refused = (i: number) => kind(i) === 'empty' || (rewriting && kind(i) === 'runt');
      const expected = Array.from({ length: RECORDS }, (_, i) => i).filter((i) => !refused(i));
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
        unconvertible: rewriting ? RECORDS - expected.length : 0, // no Ethernet header to write over (the empty ones too)
        truncated: expected.filter((i) => kind(i) === 'cut').length,
        queuedBytes: expected.reduce((n, i) => n + sent(i, edits).length, 0),
      });
      if (args[0] === '--rate') expect(rep.departure.count).toBe(expected.length);
      const got = readPacketsSync(readFileSync(out));
      expect(got.length).toBe(expected.length);
      const wrong = got.findIndex((p, k) => !Buffer.from(p.data).equals(sent(expected[k]!, edits)));
      expect(wrong).toBe(-1);
    },
  );
});
