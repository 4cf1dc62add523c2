// The native pcapng walker of streamed replay (native/loops/pcapng_walker.h, run as the reader
// thread runs it) against src/pcap, the reference: on every pcapng fixture, on hand-built files
// (both byte orders, a new section mid-file, if_tsresol in both forms, if_tsoffset, EPB, SPB, PB,
// every other block type, several link types in one file), on every truncation of a few files and
// on hundreds of mutated ones: the same packets (timestamps, lengths, link types, bytes) and the
// same end (the same error code, offset and text, or the same warnings).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import {
  bytesOf,
  custom,
  dsb,
  epb,
  idb,
  isb,
  nrb,
  nrbRecord,
  opt,
  opts,
  pb,
  shb,
  spb,
  str,
  u32,
  u64,
  u8,
  type Order,
} from '../helpers/hand.js';
import { mutatedFiles } from '../helpers/mutate.js';
import { expectSame } from './walk-compare.js';

const FIX = join(import.meta.dirname, '..', 'fixtures');
const orders: Order[] = ['le', 'be'];

/** A file with most of what pcapng holds: two sections, three interfaces, every block type. */
function zoo(o: Order, other: Order = o): Buffer {
  return Buffer.concat([
    shb(o, opts(o, opt(1, str('zoo'), o), opt(3, str('linux'), o))),
    idb(o, 1, 65535, opts(o, opt(2, str('eth0'), o), opt(9, u8(9), o))), // ns
    idb(o, 101, 128, opts(o, opt(9, u8(0x80 | 20), o), opt(14, u64(-5n, o), o))), // 2^-20 s, offset -5 s
    idb(o, 1, 64, opts(o, opt(9, u8(3), o), opt(6, bytesOf(5), o))), // ms; if_MACaddr of the wrong length: a warning
    epb(o, 0, 1_700_000_000_123_456_789n, bytesOf(60, 1)),
    epb(o, 0, 1_700_000_001_000_000_000n, bytesOf(61, 2), 1514, opts(o, opt(2, u32(1, o), o), opt(4, bytesOf(3), o))),
    epb(o, 1, (1_700_000_000n << 20n) + 12345n, bytesOf(100, 3)),
    epb(o, 1, 3n, bytesOf(10, 4)), // before the epoch once the offset applies
    spb(o, 90, bytesOf(90, 5)),
    epb(o, 2, 1_700_000_000_999n, bytesOf(33, 6)),
    isb(o, 0, 5n, opts(o, opt(4, u64(7n, o), o), opt(5, bytesOf(4), o))),
    nrb(o, [nrbRecord(1, Buffer.concat([u8(10, 0, 0, 1), str('a\0')]), o), nrbRecord(2, bytesOf(3), o)], opts(o, opt(3, bytesOf(5), o))),
    dsb(o, 0x544c534b, bytesOf(13), opts(o, opt(1, str('keys'), o))),
    custom(o, true, 32473, bytesOf(9)),
    custom(o, false, 32473, bytesOf(4)),
    Buffer.concat([u32(0x99, o), u32(16, o), u32(0, o), u32(16, o)]), // an unknown block type
    pb(o, 0, 3, 1_700_000_002_000_000_000n, bytesOf(44, 7), 44, opts(o, opt(2, bytesOf(2), o))),
    epb(o, 0, 1n, bytesOf(20, 8)),
    // a new section (in `other` byte order): its interfaces start again
    shb(other),
    idb(other, 0, 0),
    spb(other, 40, bytesOf(40, 10)),
    epb(other, 0, 2_000_000n, bytesOf(50, 11)),
  ]);
}

describe('native pcapng walker vs src/pcap', () => {
  it('agrees on every pcapng fixture (suite-* included)', () => {
    const files = readdirSync(FIX).filter((f) => f.endsWith('.pcapng'));
    expect(files.filter((f) => f.startsWith('suite-')).length).toBeGreaterThanOrEqual(5);
    let packets = 0;
    for (const f of files) packets += expectSame(readFileSync(join(FIX, f))).packets.length;
    expect(packets).toBeGreaterThan(10);
  });

  for (const o of orders) {
    it(`agrees on a hand-built file of every block type (${o}), and with the second section in the other order`, () => {
      const w = expectSame(zoo(o));
      expect(w.error).toBeUndefined();
      expect(w.packets.length).toBe(10);
      expect(new Set(w.packets.map((p) => p.linkType))).toEqual(new Set([1, 101, 0]));
      expect(w.packets.some((p) => p.nsec === 0xffffffff)).toBe(true); // SPB: no timestamp
      expect(w.warnings.length).toBeGreaterThanOrEqual(4);
      expect(expectSame(zoo(o, o === 'le' ? 'be' : 'le')).packets.length).toBe(10);
    });
  }

  it('agrees on the errors: lengths, interfaces, options, versions, magic', () => {
    const o: Order = 'le';
    const head = Buffer.concat([shb(o), idb(o, 1, 128)]);
    const cases: Buffer[] = [
      Buffer.concat([head, u32(6, o), u32(30, o), Buffer.alloc(22)]), // not a multiple of 4
      Buffer.concat([head, u32(6, o), u32(8, o), Buffer.alloc(8)]), // below the minimum
      Buffer.concat([head, u32(6, o), u32(16, o), Buffer.alloc(4), u32(20, o)]), // trailer disagrees
      Buffer.concat([head, epb(o, 1, 0n, bytesOf(10))]), // unknown interface
      Buffer.concat([shb(o), spb(o, 10, bytesOf(10))]), // SPB before any IDB
      Buffer.concat([head, epb(o, 0, 0n, bytesOf(10), 10, Buffer.concat([u32(0x00400002, o)]))]), // option overruns
      Buffer.concat([shb(o), idb(o, 1, 0, opts(o, opt(9, u8(1, 2), o)))]), // if_tsresol of 2 bytes
      Buffer.concat([shb(o), idb(o, 1, 0, opts(o, opt(14, u32(1, o), o)))]), // if_tsoffset of 4 bytes
      Buffer.concat([head, spb(o, 200, bytesOf(100))]), // SPB caplen beyond its block
      shb(o, Buffer.alloc(0), [2, 0]),
      Buffer.concat([shb(o).subarray(0, 8), u32(0x11223344, o), shb(o).subarray(12)]),
      Buffer.concat([head, dsb(o, 1, Buffer.alloc(0)).fill(0xff, 12, 16)]),
      Buffer.concat([head, isb(o, 3, 0n)]),
    ];
    const codes = new Set<string>();
    for (const c of cases) codes.add(expectSame(c).error?.code ?? 'none');
    expect(codes).toEqual(
      new Set(['ERR_PCAP_BAD_BLOCK_LENGTH', 'ERR_PCAP_UNKNOWN_INTERFACE', 'ERR_PCAP_BAD_OPTION', 'ERR_PCAP_BAD_CAPLEN', 'ERR_PCAP_UNSUPPORTED_VERSION', 'ERR_PCAP_BAD_MAGIC', 'ERR_PCAP_BAD_BLOCK']),
    );
  });

  it('agrees on every truncation of a few files: a cut last block keeps every complete packet', () => {
    const files = [zoo('le'), zoo('be'), readFileSync(join(FIX, 'suite-101.pcapng'))];
    let warned = 0;
    for (const file of files) {
      for (let cut = 0; cut <= file.length; cut++) {
        const w = expectSame(file.subarray(0, cut), [64, 4096]);
        if (w.warnings.some((x) => x.code === 'WARN_PCAP_TRUNCATED')) warned++;
      }
    }
    expect(warned).toBeGreaterThan(500);
  });

  it('agrees on 400 mutated files (bit flips, length fields overwritten, cuts, splices)', () => {
    const seeds = [zoo('le'), zoo('be'), zoo('le', 'be'), readFileSync(join(FIX, 'demo.pcapng'))];
    const outcomes = new Set<string>();
    for (const { file } of mutatedFiles(seeds, 400, 0x9ca9)) {
      const w = expectSame(file, [64, 4096]);
      outcomes.add(w.error?.code ?? (w.warnings.length ? 'warned' : 'clean'));
    }
    expect(outcomes.size).toBeGreaterThanOrEqual(5);
  });
});
