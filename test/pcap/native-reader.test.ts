// The reader's default mode walks classic pcap records natively (native/js/js_pcap_walk.h); the
// JS loop of src/pcap/parser.ts is the reference (NMCAP_JS_READER=1). Both must give the same
// batches (every array, the packet bytes, records, stream offsets), warnings and errors on every
// fixture, on every truncation and on mutated files, from memory and from files read in chunks
// small enough that records straddle them, with and without reuse.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';

import { PcapFormatError, type PcapWarning } from '../../src/errors.js';
import { openTrace, readBatchesSync, type PacketBatch } from '../../src/pcap/index.js';
import { bytesOf, pcapHeader, pcapRecord, u32, type Order } from '../helpers/hand.js';
import { mutatedFiles } from '../helpers/mutate.js';

const FIX = join(import.meta.dirname, '..', 'fixtures');
const dir = mkdtempSync(join(tmpdir(), 'nmcap-native-reader-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => {
  delete process.env.NMCAP_JS_READER;
});

// Counts the native walker's calls, so a comparison cannot pass by both sides running the JS loop.
const addon = createRequire(import.meta.url)('../../build/Release/nmcap.node') as {
  PcapRecordWalker: { prototype: { walk: (...a: unknown[]) => number } };
};
let nativeCalls = 0;
const realWalk = addon.PcapRecordWalker.prototype.walk;
addon.PcapRecordWalker.prototype.walk = function (this: unknown, ...a: unknown[]): number {
  nativeCalls++;
  return realWalk.apply(this, a);
};

interface Reading {
  batches: unknown[];
  warnings: { code: string; offset: number; message: string }[];
  error?: { code: string; offset: number; reason: string };
}

function describeBatch(b: PacketBatch): unknown {
  const data: string[] = [];
  for (let i = 0; i < b.count; i++) data.push(b.data(i).toString('hex'));
  return {
    count: b.count,
    capLen: [...b.capLen],
    origLen: [...b.origLen],
    tsSec: [...b.tsSec],
    tsNsec: [...b.tsNsec],
    iface: [...b.iface],
    kinds: [...b.kinds],
    records: b.records.map((r) => `${r.kind}@${r.offset}`),
    streamOffset: b.streamOffset,
    linkType: b.section.interfaces[0]?.linkType,
    data,
  };
}

function caught(e: unknown): Reading['error'] {
  if (!(e instanceof PcapFormatError)) throw e;
  return { code: e.code, offset: e.offset, reason: e.reason };
}

const warningsOf = (ws: PcapWarning[]): Reading['warnings'] => ws.map((w) => ({ code: w.code, offset: w.offset, message: w.message }));

function readSync(buf: Buffer, batchPackets: number): Reading {
  const r: Reading = { batches: [], warnings: [] };
  const ws: PcapWarning[] = [];
  try {
    for (const b of readBatchesSync(buf, { batchPackets, onWarning: (w) => ws.push(w) })) r.batches.push(describeBatch(b));
  } catch (e) {
    r.error = caught(e);
  }
  r.warnings = warningsOf(ws);
  return r;
}

let seq = 0;
async function readFile(buf: Buffer, chunkSize: number, reuse: boolean): Promise<Reading> {
  const path = join(dir, `t${seq++}.pcap`);
  writeFileSync(path, buf);
  const r: Reading = { batches: [], warnings: [] };
  const reader = openTrace(path, { chunkSize, reuse, batchPackets: 5 });
  try {
    for await (const b of reader.batches()) r.batches.push(describeBatch(b));
  } catch (e) {
    r.error = caught(e);
  } finally {
    rmSync(path);
  }
  r.warnings = warningsOf(reader.warnings);
  return r;
}

/** Native and JS readings of buf, synchronous and from a file; returns the JS reading. */
async function expectSame(buf: Buffer, fromFile = true): Promise<Reading> {
  process.env.NMCAP_JS_READER = '1';
  const before = nativeCalls;
  const want = readSync(buf, 7);
  const wantFile = fromFile ? await readFile(buf, 64, false) : undefined;
  expect(nativeCalls, 'NMCAP_JS_READER=1 walks in JS only').toBe(before);
  delete process.env.NMCAP_JS_READER;
  expect(readSync(buf, 7)).toEqual(want);
  if (wantFile !== undefined) {
    expect(await readFile(buf, 64, false)).toEqual(wantFile);
    expect(await readFile(buf, 64, true)).toEqual(wantFile);
  }
  return want;
}

describe('native classic pcap records in the reader vs the JS reference', () => {
  it('agrees on every classic pcap fixture, and the native walker really ran', async () => {
    const files = readdirSync(FIX).filter((f) => f.endsWith('.pcap'));
    expect(files.length).toBeGreaterThanOrEqual(4);
    const before = nativeCalls;
    let packets = 0;
    for (const f of files) {
      const r = await expectSame(readFileSync(join(FIX, f)));
      packets += r.batches.reduce((n: number, b) => n + (b as { count: number }).count, 0);
    }
    expect(packets).toBeGreaterThan(10);
    expect(nativeCalls - before).toBeGreaterThan(files.length);
  });

  const orders: Order[] = ['le', 'be'];
  for (const o of orders) {
    for (const nanos of [false, true]) {
      it(`agrees on hand-built files (${o}, ${nanos ? 'ns' : 'µs'}): fractions carried, caplen limits, empty files`, async () => {
        const per = nanos ? 1e9 : 1e6;
        const recs = Array.from({ length: 40 }, (_, i) => pcapRecord(o, 1_700_000_000 + i, (i * 7919) % per, bytesOf((i * 37) % 300, i), 1514));
        await expectSame(Buffer.concat([pcapHeader(o, nanos, 65535, 1), ...recs]));
        await expectSame(Buffer.concat([pcapHeader(o, nanos, 65535, 1), pcapRecord(o, 5, per + 3, bytesOf(20)), pcapRecord(o, 6, per * 3, bytesOf(20))]));
        await expectSame(Buffer.concat([pcapHeader(o, nanos, 96, 1), ...recs.slice(0, 3), u32(1, o), u32(0, o), u32(262145, o), u32(262145, o)]));
        await expectSame(pcapHeader(o, nanos, 65535, 1));
      });
    }
  }

  for (const o of orders) {
    for (const nanos of [false, true]) {
      it(`agrees at batch and chunk boundaries: full batches, records ending at a chunk's end, fractions carried there (${o}, ${nanos ? 'ns' : 'µs'})`, async () => {
        const per = nanos ? 1e9 : 1e6;
        // 40-byte records: the 64-byte chunks of a file read end exactly after a record every 5 records
        // (24 + 40 = 64); batches of 7 and 5 fill exactly; fractions of 1 s or more at and around
        // the batch ends (6, 7, 13, 14) and at the last record
        const carried = new Set([6, 7, 13, 14, 34]);
        const recs = Array.from({ length: 35 }, (_, i) => pcapRecord(o, 50 + i, carried.has(i) ? per + i : i, bytesOf(24, i), 60));
        const r = await expectSame(Buffer.concat([pcapHeader(o, nanos, 65535, 1), ...recs]));
        expect(r.warnings.map((w) => w.offset)).toEqual([24 + 6 * 40]);
        expect(r.batches.length).toBe(5);
      });
    }
  }

  it('keeps the maxBlockLength option: a record beyond it is refused by both', () => {
    const file = Buffer.concat([pcapHeader('le', false, 65535, 1), pcapRecord('le', 1, 0, bytesOf(40)), pcapRecord('le', 2, 0, bytesOf(300))]);
    const read = (): string => {
      try {
        for (const _ of readBatchesSync(file, { maxBlockLength: 256 })) void _;
        return 'clean';
      } catch (e) {
        return `${(e as PcapFormatError).code} ${(e as PcapFormatError).offset} ${(e as PcapFormatError).reason}`;
      }
    };
    const native = read();
    process.env.NMCAP_JS_READER = '1';
    expect(read()).toBe(native);
    expect(native).toMatch(/^ERR_PCAP_BAD_CAPLEN 88 .*more than the 256 this file allows/);
  });

  it('agrees on every truncation of a file', async () => {
    const file = Buffer.concat([pcapHeader('be', true, 65535, 1), ...Array.from({ length: 5 }, (_, i) => pcapRecord('be', 10 + i, i, bytesOf(30 + i, i)))]);
    let warned = 0;
    for (let cut = 0; cut <= file.length; cut++) {
      const w = await expectSame(file.subarray(0, cut), cut % 7 === 0);
      if (w.warnings.length) warned++;
    }
    expect(warned).toBeGreaterThan(100);
  });

  it('agrees on 500 mutated files (bit flips, length fields overwritten, cuts, splices)', async () => {
    const seeds = orders.flatMap((o) =>
      [false, true].map((ns) => Buffer.concat([pcapHeader(o, ns, 128, 1), ...Array.from({ length: 8 }, (_, i) => pcapRecord(o, 100 + i, i * 999, bytesOf(i * 11, i), 200))])),
    );
    const outcomes = new Set<string>();
    for (const { file: b, index: n } of mutatedFiles(seeds, 500, 0xc0ffee)) {
      const w = await expectSame(b, n % 10 === 0);
      outcomes.add(w.error?.code ?? (w.warnings.length ? w.warnings.map((x) => x.code).join() : 'clean'));
    }
    expect(outcomes.size).toBeGreaterThanOrEqual(5);
  });
});
