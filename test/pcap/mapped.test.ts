// Regular files are read through mapped windows of the page cache (src/pcap/sources.ts, the addon's
// PcapRecordWalker.map). What that must not change: a batch written to leaves the file alone, a
// file that grows while read is followed, and a file truncated under a mapped window reads as the
// shorter file would (instead of a SIGBUS killing the process), classic pcap and pcapng alike.
import { appendFileSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { openTrace, readPacketsSync } from '../../src/pcap/index.js';
import { encodeEPB, encodeIDB, encodeSHB } from '../../src/pcap/encode.js';
import { bytesOf, pcapHeader, pcapRecord } from '../helpers/hand.js';

const dir = mkdtempSync(join(tmpdir(), 'nmcap-mapped-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const RECORDS = 2000;
const PAYLOAD = 100;
const file = Buffer.concat([pcapHeader('le', false, 65535, 1), ...Array.from({ length: RECORDS }, (_, i) => pcapRecord('le', 1000 + i, i, bytesOf(PAYLOAD, i)))]);

describe('reading a regular file through mapped windows', () => {
  it('a batch written to leaves the file as it was', async () => {
    const path = join(dir, 'write.pcap');
    writeFileSync(path, file);
    for await (const b of openTrace(path).batches()) {
      for (let i = 0; i < b.count; i++) b.data(i).fill(0xee);
    }
    expect(readFileSync(path).equals(file)).toBe(true);
  });

  it('every batch kept to the end still holds its packets (own arrays, windows alive while referenced)', async () => {
    const path = join(dir, 'keep.pcap');
    writeFileSync(path, file);
    const kept = [];
    for await (const b of openTrace(path, { chunkSize: 16 * 1024, batchPackets: 50 }).batches()) kept.push(b);
    expect(kept.length).toBeGreaterThan(RECORDS / 50);
    const got = kept.flatMap((b) => [...b]);
    const want = readPacketsSync(file);
    expect(got.map((p) => [p.ts, p.capLen, p.origLen, p.interface, p.blockType])).toEqual(want.map((p) => [p.ts, p.capLen, p.origLen, p.interface, p.blockType]));
    got.forEach((p, i) => expect(p.data.equals(want[i]!.data)).toBe(true));
  });

  it('follows a file that grows between batches', async () => {
    const path = join(dir, 'grow.pcap');
    writeFileSync(path, file);
    let n = 0;
    let grown = false;
    for await (const b of openTrace(path, { chunkSize: 64 * 1024 }).batches()) {
      n += b.count;
      if (!grown) {
        appendFileSync(path, Buffer.concat(Array.from({ length: 10 }, (_, i) => pcapRecord('le', 9000 + i, 0, bytesOf(PAYLOAD)))));
        grown = true;
      }
    }
    expect(n).toBe(RECORDS + 10);
  });

  it('a file truncated under its mapped window ends where it now ends, as a read of the shorter file would', async () => {
    const path = join(dir, 'shrink.pcap');
    writeFileSync(path, file);
    const cut = 5000;
    const kept: Buffer[] = [];
    // One window holds the whole file; small batches leave most of it to be walked after the cut
    // (past the cut the window reads as zeros: in the page of the new end, and on the pages after
    // it, where the addon's SIGBUS handler puts zero pages instead of letting the process die).
    const reader = openTrace(path, { chunkSize: 1 << 20, batchPackets: 10 });
    let first: Buffer | undefined;
    for await (const b of reader.batches()) {
      first ??= b.buffer;
      for (let i = 0; i < b.count; i++) kept.push(Buffer.from(b.data(i)));
      if (kept.length === 10) truncateSync(path, cut);
    }
    // A kept batch's window past the cut: zeros, and the process is still here.
    expect(first!.length).toBe(file.length);
    expect(first![file.length - 1]).toBe(0);
    expect(first![cut + 1]).toBe(0);
    const want = readPacketsSync(file.subarray(0, cut));
    expect(want.length).toBe(Math.floor((cut - 24) / (16 + PAYLOAD)));
    expect(kept.length).toBe(want.length);
    kept.forEach((d, i) => expect(d.equals(want[i]!.data)).toBe(true));
    expect(reader.warnings.map((w) => [w.code, w.offset])).toEqual([['WARN_PCAP_TRUNCATED', 24 + want.length * (16 + PAYLOAD)]]);
  });

  it('the same for pcapng', async () => {
    const path = join(dir, 'shrink.pcapng');
    const head = Buffer.concat([encodeSHB({}), encodeIDB({ linkType: 1, snapLen: 65535 })]);
    const epbs = Array.from({ length: RECORDS }, (_, i) => encodeEPB(0, BigInt(i) * 1000n, bytesOf(PAYLOAD, i)));
    writeFileSync(path, Buffer.concat([head, ...epbs]));
    const cut = 8192 + 100;
    const reader = openTrace(path, { chunkSize: 1 << 20, batchPackets: 10 });
    let n = 0;
    for await (const b of reader.batches()) {
      n += b.count;
      if (n === 10) truncateSync(path, cut);
    }
    const whole = Math.floor((cut - head.length) / epbs[0]!.length);
    expect(n).toBe(whole);
    expect(reader.warnings.map((w) => [w.code, w.offset])).toEqual([['WARN_PCAP_TRUNCATED', head.length + whole * epbs[0]!.length]]);
  });
});
