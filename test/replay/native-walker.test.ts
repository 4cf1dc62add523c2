// The native pcap walker of streamed replay (native/loops/trace_walker.h, run as the reader thread
// runs it) against src/pcap, the reference: on every classic pcap fixture, on hand-built files of
// both byte orders and resolutions, and on thousands of mutated and truncated files, both must see
// the same packets (timestamp, caplen, origlen, bytes) and end the same way (the same error code,
// offset and text, or the same warnings). Chunk sizes small enough that records straddle chunks.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { nativeReadable } from '../../src/replay/native-stream.js';
import { bytesOf, pcapHeader, pcapRecord, u32, type Order } from '../helpers/hand.js';
import { mutatedFiles } from '../helpers/mutate.js';
import { expectSame } from './walk-compare.js';

const FIX = join(import.meta.dirname, '..', 'fixtures');

describe('native pcap walker vs src/pcap', () => {
  it('agrees on every classic pcap fixture', () => {
    const files = readdirSync(FIX).filter((f) => f.endsWith('.pcap'));
    expect(files.length).toBeGreaterThanOrEqual(4);
    let packets = 0;
    for (const f of files) packets += expectSame(readFileSync(join(FIX, f))).packets.length;
    expect(packets).toBeGreaterThan(10);
  });

  it('sends classic pcap and pcapng to the native reader, unknown files to the JS one', () => {
    const fixtures = readdirSync(FIX);
    for (const f of fixtures.filter((x) => x.endsWith('.pcapng'))) expect(nativeReadable([join(FIX, f)]), f).toBe(true);
    expect(nativeReadable([join(FIX, 'bad-magic.pcap')])).toBe(false);
    expect(nativeReadable([join(FIX, 'classic-us-le.pcap'), join(FIX, 'classic-ns-be.pcap')])).toBe(true);
    expect(nativeReadable([join(FIX, 'classic-us-le.pcap'), join(FIX, 'demo.pcapng')])).toBe(true);
    expect(nativeReadable([join(FIX, 'classic-us-le.pcap'), join(FIX, 'bad-magic.pcap')])).toBe(false);
    process.env.NMCAP_JS_READER = '1';
    try {
      expect(nativeReadable([join(FIX, 'demo.pcapng')])).toBe(false);
    } finally {
      delete process.env.NMCAP_JS_READER;
    }
  });

  const orders: Order[] = ['le', 'be'];
  for (const o of orders) {
    for (const nanos of [false, true]) {
      it(`agrees on hand-built files (${o}, ${nanos ? 'ns' : 'µs'}): sizes, timestamps, link types`, () => {
        const per = nanos ? 1e9 : 1e6;
        const recs = Array.from({ length: 40 }, (_, i) => pcapRecord(o, 1_700_000_000 + i, (i * 7919) % per, bytesOf((i * 37) % 300, i), 1514));
        for (const lt of [1, 101, 0]) {
          expectSame(Buffer.concat([pcapHeader(o, nanos, 65535, lt), ...recs]));
        }
        // a fraction of 1 s or more: carried, with one warning
        expectSame(Buffer.concat([pcapHeader(o, nanos, 65535, 1), pcapRecord(o, 5, per + 3, bytesOf(20)), pcapRecord(o, 6, per * 3, bytesOf(20))]));
        // caplen beyond what the file allows: the packets before it are kept
        expectSame(Buffer.concat([pcapHeader(o, nanos, 96, 1), ...recs.slice(0, 3), u32(1, o), u32(0, o), u32(262145, o), u32(262145, o)]));
        // an empty file, a cut header, a bad version, reserved link-type bits, no packets
        expectSame(Buffer.alloc(0));
        expectSame(pcapHeader(o, nanos, 65535, 1).subarray(0, 13));
        expectSame(pcapHeader(o, nanos, 65535, 1, [2, 5]));
        expectSame(pcapHeader(o, nanos, 65535, 0x08000001));
        expectSame(pcapHeader(o, nanos, 65535, 1));
      });
    }
  }

  for (const o of orders) {
    for (const nanos of [false, true]) {
      it(`agrees where records end exactly at a chunk's end, and where a chunk's arrays grow (${o}, ${nanos ? 'ns' : 'µs'})`, () => {
        const per = nanos ? 1e9 : 1e6;
        // 64-byte records: chunks of 64 and 24 + 3 x 64 bytes end exactly after a record
        const even = Array.from({ length: 12 }, (_, i) => pcapRecord(o, 1000 + i, i * 3, bytesOf(48, i)));
        expectSame(Buffer.concat([pcapHeader(o, nanos, 65535, 1), ...even]), [64, 24 + 3 * 64, 128]);
        // 3000 empty records in one chunk: its arrays (room for 1024 first) grow twice mid-walk;
        // fractions of 1 s or more at the growth points and right after them, and at the end
        const carried = new Set([1023, 1024, 1025, 2048, 2999]);
        const many = Array.from({ length: 3000 }, (_, i) => pcapRecord(o, i, carried.has(i) ? per * 2 + i : i % per, Buffer.alloc(0), i));
        const w = expectSame(Buffer.concat([pcapHeader(o, nanos, 65535, 1), ...many]), [1 << 16, 16 * 1000 + 24]);
        expect(w.packets.length).toBe(3000);
        expect(w.warnings.map((x) => x.offset)).toEqual([24 + 1023 * 16]);
        expect(w.packets[1024]).toMatchObject({ sec: 1026, nsec: (1024 * (nanos ? 1 : 1000)) });
      });
    }
  }

  it('agrees on every truncation of a file: a cut last record keeps every complete packet', () => {
    const file = Buffer.concat([pcapHeader('le', false, 65535, 1), ...Array.from({ length: 5 }, (_, i) => pcapRecord('le', 10 + i, i, bytesOf(30 + i, i)))]);
    let warned = 0;
    for (let cut = 0; cut <= file.length; cut++) {
      const w = expectSame(file.subarray(0, cut), [64, 4096]);
      if (w.warnings.length) warned++;
    }
    expect(warned).toBeGreaterThan(100);
  });

  it('agrees on 1000 mutated files (bit flips, length fields overwritten, cuts, splices)', () => {
    const seeds = orders.flatMap((o) =>
      [false, true].map((ns) => Buffer.concat([pcapHeader(o, ns, 128, 1), ...Array.from({ length: 8 }, (_, i) => pcapRecord(o, 100 + i, i * 999, bytesOf(i * 11, i), 200))])),
    );
    const outcomes = new Set<string>();
    for (const { file: b } of mutatedFiles(seeds, 1000, 0x5eed)) {
      const w = expectSame(b, [64, 4096]);
      outcomes.add(w.error?.code ?? (w.warnings.length ? w.warnings.map((x) => x.code).join() : 'clean'));
    }
    // the mutations reach clean files, warnings and several kinds of error
    expect(outcomes.size).toBeGreaterThanOrEqual(5);
  });
});
