// Mutation fuzzing: valid files with bit flips, overwritten length fields, truncations and splices.
// Every outcome must be clean: packets and warnings, or a PcapFormatError with an offset inside the
// file. Never another exception, never a view outside the input, never a hang.
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { NO_TIMESTAMP, openTrace, PcapFormatError, readBatchesSync } from '../../src/pcap/index.js';
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
  pcapHeader,
  pcapRecord,
  shb,
  spb,
  str,
  u32,
  u64,
  u8,
  type Order,
} from '../helpers/hand.js';

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function ngSeed(o: Order, o2: Order): Buffer {
  return Buffer.concat([
    shb(o, opts(o, opt(1, str('fuzz'), o), opt(4, str('seed'), o))),
    idb(o, 1, 0, opts(o, opt(2, str('eth0'), o), opt(9, u8(9), o), opt(14, u64(10n, o), o))),
    idb(o, 101, 64, opts(o, opt(9, u8(0x80 | 20), o))),
    nrb(o, [nrbRecord(1, Buffer.concat([u8(10, 0, 0, 1), str('a\0')]), o)], opts(o, opt(2, str('dns'), o))),
    epb(o, 0, 1_700_000_000_000_000_001n, bytesOf(60, 1), 60, opts(o, opt(2, u32(1, o), o), opt(4, u64(3n, o), o), opt(1, str('x'), o))),
    epb(o, 1, 12345n, bytesOf(17, 2)),
    pb(o, 0, 2, 99n, bytesOf(9, 3), 9, opts(o, opt(2, u32(0, o), o))),
    isb(o, 0, 5n, opts(o, opt(4, u64(1n, o), o))),
    dsb(o, 0x544c534b, str('CLIENT_RANDOM a b\n')),
    custom(o, true, 1, bytesOf(6)),
    shb(o2),
    idb(o2, 1, 40),
    spb(o2, 100, bytesOf(40, 4)),
    epb(o2, 0, 7n, bytesOf(3, 5)),
  ]);
}

function pcapSeed(o: Order, nanos: boolean): Buffer {
  return Buffer.concat([pcapHeader(o, nanos, 96, 1), ...Array.from({ length: 6 }, (_, i) => pcapRecord(o, 1000 + i, i * 1001, bytesOf(i * 13, i)))]);
}

const SEEDS = [ngSeed('le', 'be'), ngSeed('be', 'le'), pcapSeed('le', false), pcapSeed('be', true)];
const INTERESTING = [0, 1, 3, 4, 8, 11, 12, 13, 16, 28, 32, 0x7f, 0x80, 0xff, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffc, 0xffffffff, 0x0a0d0d0a, 0x1a2b3c4d];

function mutate(rand: () => number, seeds: Buffer[]): Buffer {
  const pick = (n: number): number => Math.floor(rand() * n);
  let b = Buffer.from(seeds[pick(seeds.length)]!);
  const rounds = 1 + pick(3);
  for (let r = 0; r < rounds && b.length > 0; r++) {
    switch (pick(6)) {
      case 0: {
        // bit flips
        const flips = 1 + pick(8);
        for (let i = 0; i < flips; i++) b[pick(b.length)]! ^= 1 << pick(8);
        break;
      }
      case 1: {
        // an aligned u32 (often a length, type or id) replaced by an interesting value
        const at = pick(Math.max(1, b.length >> 2)) * 4;
        if (at + 4 <= b.length) {
          const v = rand() < 0.7 ? INTERESTING[pick(INTERESTING.length)]! : (b.readUInt32LE(at) + (pick(64) - 32) * 4) >>> 0;
          if (rand() < 0.5) b.writeUInt32LE(v >>> 0, at);
          else b.writeUInt32BE(v >>> 0, at);
        }
        break;
      }
      case 2:
        // truncation
        b = b.subarray(0, pick(b.length + 1));
        break;
      case 3: {
        // splice a range of another seed in
        const other = seeds[pick(seeds.length)]!;
        const from = pick(other.length);
        const len = pick(Math.min(200, other.length - from) + 1);
        const at = pick(b.length + 1);
        b = Buffer.concat([b.subarray(0, at), other.subarray(from, from + len), b.subarray(at)]);
        break;
      }
      case 4: {
        // delete a range
        const at = pick(b.length);
        const len = 1 + pick(40);
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + len)]);
        break;
      }
      default: {
        // duplicate a range
        const at = pick(b.length);
        const len = 1 + pick(80);
        b = Buffer.concat([b.subarray(0, at + len), b.subarray(at, at + len), b.subarray(at + len)]);
      }
    }
  }
  return b;
}

function checkBatchInvariants(batch: ReturnType<typeof readBatchesSync> extends Iterable<infer T> ? T : never, inputLength: number): void {
  for (let i = 0; i < batch.count; i++) {
    const end = batch.dataOffset[i]! + batch.capLen[i]!;
    if (end > batch.buffer.length || end > inputLength + 0) throw new Error(`packet ${i} view runs past the input`);
    const ns = batch.tsNsec[i]!;
    if (ns !== NO_TIMESTAMP && ns >= 1_000_000_000) throw new Error(`bad nanoseconds ${ns}`);
    if (!Number.isInteger(batch.tsSec[i]!)) throw new Error('non-integer seconds');
    if (batch.iface[i]! >= Math.max(1, batch.section.interfaces.length)) throw new Error('interface out of range');
  }
}

describe('fuzzing the reader with mutated files', () => {
  it('ends every one of 50000 mutated buffers cleanly', () => {
    const seed = 0x5eed1234;
    const rand = mulberry32(seed);
    let errors = 0;
    let successes = 0;
    const codes = new Map<string, number>();
    for (let k = 0; k < 50000; k++) {
      const input = mutate(rand, SEEDS);
      try {
        for (const batch of readBatchesSync(input, { batchPackets: 3, onWarning: () => undefined })) checkBatchInvariants(batch, input.length);
        successes++;
      } catch (e) {
        if (!(e instanceof PcapFormatError)) {
          throw new Error(`case ${k} (seed ${seed}) threw ${String(e)}; input ${input.toString('hex')}`);
        }
        expect(Number.isInteger(e.offset)).toBe(true);
        expect(e.offset).toBeGreaterThanOrEqual(0);
        expect(e.offset).toBeLessThanOrEqual(input.length);
        codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
        errors++;
      }
    }
    // The mutations must exercise both outcomes and several error kinds.
    expect(successes).toBeGreaterThan(1000);
    expect(errors).toBeGreaterThan(1000);
    expect(codes.size).toBeGreaterThanOrEqual(6);
  });

  it('ends mutated streams cleanly through the streaming reader with small chunks', async () => {
    const rand = mulberry32(0xc0ffee);
    for (let k = 0; k < 3000; k++) {
      const input = mutate(rand, SEEDS);
      const pieces: Buffer[] = [];
      for (let p = 0; p < input.length; p += 37) pieces.push(input.subarray(p, p + 37));
      const r = openTrace(Readable.from(pieces), { chunkSize: 64, maxBlockLength: 4096, batchPackets: 2 });
      let sync: string;
      try {
        let n = 0;
        for (const b of readBatchesSync(input, { maxBlockLength: 4096 })) n += b.count;
        sync = `ok:${n}`;
      } catch (e) {
        sync = `${(e as PcapFormatError).code}@${(e as PcapFormatError).offset}`;
      }
      let got: string;
      try {
        let n = 0;
        for await (const b of r.batches()) {
          checkBatchInvariants(b, b.buffer.length);
          n += b.count;
        }
        got = `ok:${n}`;
      } catch (e) {
        if (!(e instanceof PcapFormatError)) throw new Error(`stream case ${k} threw ${String(e)}`);
        got = `${e.code}@${e.offset}`;
      }
      // Same verdict as the in-memory reader, wherever the chunk boundaries fall.
      expect(got).toBe(sync);
    }
  });
});
