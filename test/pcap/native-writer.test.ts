// PcapngWriter.writeBatch encodes runs of plain packets natively (native/js/js_epb_batch.h); its
// own loop is the reference (NMCAP_JS_WRITER=1). Every fixture, and hand-built traces that hit
// each edge of the fast path (µs and ns outputs, untimed packets, timestamps before 1970 and past
// 2106, options, several interfaces, big-endian output, an output buffer too small for a batch),
// must convert to the same bytes both ways.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';

import { convertTrace, openSink, PcapngWriter, readBatchesSync } from '../../src/pcap/index.js';
import { bytesOf, epb, idb, opt, opts, pcapHeader, pcapRecord, shb, spb, u64, u8 } from '../helpers/hand.js';

const FIX = join(import.meta.dirname, '..', 'fixtures');
const dir = mkdtempSync(join(tmpdir(), 'nmcap-native-writer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => {
  delete process.env.NMCAP_JS_WRITER;
});

// Counts the packets the native encoder wrote, so a comparison cannot pass with it never running.
const addon = createRequire(import.meta.url)('../../build/Release/nmcap.node') as { encodeEpbs: (...a: unknown[]) => number };
let nativePackets = 0;
const realEncode = addon.encodeEpbs;
addon.encodeEpbs = (...a: unknown[]): number => {
  const end = realEncode(...a);
  nativePackets += end - (a[6] as number);
  return end;
};

let seq = 0;
async function convertBoth(input: Buffer | string, bufferSize?: number): Promise<{ bytes: Buffer; native: number }> {
  const outs: Buffer[] = [];
  let native = 0;
  for (const js of [true, false]) {
    if (js) process.env.NMCAP_JS_WRITER = '1';
    else delete process.env.NMCAP_JS_WRITER;
    const out = join(dir, `o${seq++}.pcapng`);
    const before = nativePackets;
    if (bufferSize === undefined) {
      const r = await convertTrace(input, out);
      expect(r.error).toBeUndefined();
    } else {
      // A small output buffer: EPBs stop fitting in the middle of a batch, again and again.
      const sink = openSink(out, { bufferSize });
      const w = new PcapngWriter(sink, { userAppl: 'test' });
      const buf = typeof input === 'string' ? readFileSync(input) : input;
      const maps = new Map<unknown, number[]>();
      for (const b of readBatchesSync(buf)) {
        let m = maps.get(b.section);
        if (m === undefined) maps.set(b.section, (m = []));
        const map = m;
        w.writeBatch(b, (i) => (map[i] ??= w.addInterface({ linkType: b.section.interfaces[i]!.linkType, snapLen: 0, tsResolution: b.section.interfaces[i]!.tsResolution })));
      }
      await w.close();
    }
    if (js) expect(nativePackets, 'NMCAP_JS_WRITER=1 encodes in JS only').toBe(before);
    else native = nativePackets - before;
    outs.push(readFileSync(out));
    rmSync(out);
  }
  expect(outs[1]!.equals(outs[0]!), 'native and JS outputs differ').toBe(true);
  return { bytes: outs[0]!, native };
}

describe('native EPB encoding vs the writer’s own loop', () => {
  it('writes every fixture identically, and encodes their plain packets natively', async () => {
    const files = readdirSync(FIX).filter((f) => /\.pcap(ng)?$/.test(f) && !/bad|cut-short/.test(f));
    expect(files.length).toBeGreaterThanOrEqual(10);
    let native = 0;
    for (const f of files) {
      native += (await convertBoth(join(FIX, f))).native;
      native += (await convertBoth(join(FIX, f), 256)).native;
    }
    expect(native).toBeGreaterThan(20);
  });

  it('writes hand-built classic pcap traces identically (µs and ns, both byte orders, every size 0..300)', async () => {
    for (const o of ['le', 'be'] as const) {
      for (const nanos of [false, true]) {
        const per = nanos ? 1e9 : 1e6;
        const recs = Array.from({ length: 301 }, (_, i) => pcapRecord(o, 1_700_000_000 + i, (i * 7919) % per, bytesOf(i, i), 1514));
        const file = Buffer.concat([pcapHeader(o, nanos, 65535, 1), ...recs]);
        const r = await convertBoth(file);
        // the first packet maps interface 0 in JS; the native encoder takes every one after it
        expect(r.native).toBe(300);
        await convertBoth(file, 300);
      }
    }
  });

  it('leaves the packets outside its fast path to the JS loop, with the same bytes', async () => {
    const o = 'le';
    const us = opts(o, opt(9, u8(6), o));
    const ns = opts(o, opt(9, u8(9), o));
    const offset = (s: bigint): Buffer => opts(o, opt(9, u8(6), o), opt(14, u64(s, o), o));
    const d = (n: number): Buffer => bytesOf(n, n);
    const files = [
      // untimed (SPB) packets between timed ones, one interface
      Buffer.concat([shb(o), idb(o, 1, 0, us), epb(o, 0, 1_700_000_000_000_000n, d(60)), spb(o, 60, d(60)), epb(o, 0, 1_700_000_000_000_001n, d(61))]),
      // after 2106 (seconds past 2^32), in µs (if_tsoffset) and ns
      Buffer.concat([shb(o), idb(o, 1, 0, offset(5_000_000_000n)), epb(o, 0, 5n, d(40)), epb(o, 0, 6n, d(41)), epb(o, 0, 7n, d(42))]),
      Buffer.concat([shb(o), idb(o, 1, 0, ns), epb(o, 0, 5_000_000_000n * 1_000_000_000n, d(40)), epb(o, 0, 1_000_000_000n, d(42))]),
      // options on some packets (epb_flags, a comment)
      Buffer.concat([shb(o), idb(o, 1, 0, us), epb(o, 0, 1n, d(33), 33, opts(o, opt(2, Buffer.from([1, 0, 0, 0]), o))), epb(o, 0, 2n, d(34)), epb(o, 0, 3n, d(35), 35, opts(o, opt(1, Buffer.from('hi'), o)))]),
      // two interfaces
      Buffer.concat([shb(o), idb(o, 1, 0, us), idb(o, 1, 0, ns), epb(o, 0, 1n, d(20)), epb(o, 1, 2n, d(21)), epb(o, 0, 3n, d(22))]),
      // big-endian input: its output stays little-endian through convertTrace
      Buffer.concat([shb('be'), idb('be', 1, 0, opts('be', opt(9, u8(6), 'be'))), epb('be', 0, 1n, d(50)), epb('be', 0, 2n, d(51))]),
    ];
    for (const f of files) {
      await convertBoth(f);
      await convertBoth(f, 128);
    }
  });

  it('a big-endian writer never takes the native (little-endian) path', async () => {
    const before = nativePackets;
    const out = join(dir, 'be.pcapng');
    const w = new PcapngWriter(openSink(out), { byteOrder: 'be' });
    for (const b of readBatchesSync(readFileSync(join(FIX, 'classic-us-le.pcap')))) w.writeBatch(b, () => (w.interfaceCount > 0 ? 0 : w.addInterface({ linkType: 1, snapLen: 0 })));
    await w.close();
    expect(nativePackets).toBe(before);
    expect(readBatchesSync(readFileSync(out)).next().value?.section.byteOrder).toBe('be');
  });
});
