import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  openSink,
  PcapngWriter,
  PcapWriter,
  readBatchesSync,
  readPacketsSync,
  type TsResolution,
} from '../../src/pcap/index.js';
import { MemoryWritable } from '../helpers/memsink.js';

const resolution = fc.constantFrom<TsResolution>(
  { base: 10, exponent: 9 },
  { base: 10, exponent: 6 },
  { base: 10, exponent: 3 },
  { base: 10, exponent: 0 },
  { base: 10, exponent: 7 },
  { base: 2, exponent: 30 },
  { base: 2, exponent: 10 },
);

const iface = fc.record({
  linkType: fc.integer({ min: 0, max: 300 }),
  snapLen: fc.integer({ min: 0, max: 262144 }),
  name: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
  tsResolution: resolution,
  comments: fc.array(fc.string({ maxLength: 10 }), { maxLength: 2 }),
});

// Timestamps from 1970 to 2500, in ns; the largest fit every resolution above in a u64.
const tsNs = fc.bigInt({ min: 0n, max: 16_725_225_600n * 1_000_000_000n });

const packet = fc.record({
  iface: fc.nat(),
  ts: tsNs,
  data: fc.uint8Array({ maxLength: 300 }),
  extra: fc.nat({ max: 2000 }),
  flags: fc.option(fc.nat({ max: 0xffffffff }), { nil: undefined }),
  dropCount: fc.option(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), { nil: undefined }),
  queue: fc.option(fc.nat({ max: 0xffffffff }), { nil: undefined }),
  comments: fc.option(fc.array(fc.string({ maxLength: 12 }), { maxLength: 2 }), { nil: undefined }),
});

/** What a timestamp becomes after a trip through an interface of resolution r (floored). */
function quantize(ns: bigint, r: TsResolution): bigint {
  if (r.base === 10) {
    const step = 10n ** BigInt(9 - r.exponent);
    return ns - (ns % step);
  }
  // Written as the first unit at or after ns, read back floored to the nanosecond.
  const units = ((ns << BigInt(r.exponent)) + 999_999_999n) / 1_000_000_000n;
  return (units * 1_000_000_000n) >> BigInt(r.exponent);
}

describe('write -> read round trip (property)', () => {
  it('pcapng: every packet, option and interface comes back', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<'le' | 'be'>('le', 'be'),
        fc.array(iface, { minLength: 1, maxLength: 4 }),
        fc.array(packet, { maxLength: 25 }),
        async (byteOrder, ifaces, packets) => {
          const mem = new MemoryWritable();
          const w = new PcapngWriter(openSink(mem, { bufferSize: 512 }), { byteOrder, userAppl: 'prop' });
          for (const f of ifaces) {
            const o: Parameters<PcapngWriter['addInterface']>[0] = { linkType: f.linkType, snapLen: f.snapLen, tsResolution: f.tsResolution, comments: f.comments };
            if (f.name !== undefined) o.name = f.name;
            w.addInterface(o);
          }
          for (const p of packets) {
            const o: Parameters<PcapngWriter['writePacket']>[1] = { ts: p.ts, data: p.data, origLen: p.data.length + p.extra };
            if (p.flags !== undefined) o.flags = p.flags;
            if (p.dropCount !== undefined) o.dropCount = p.dropCount;
            if (p.queue !== undefined) o.queue = p.queue;
            if (p.comments !== undefined) o.comments = p.comments;
            w.writePacket(p.iface % ifaces.length, o);
          }
          await w.close();
          const back = readPacketsSync(mem.bytes);
          expect(back).toHaveLength(packets.length);
          back.forEach((b, i) => {
            const p = packets[i]!;
            const f = ifaces[p.iface % ifaces.length]!;
            expect(b.interface).toBe(p.iface % ifaces.length);
            expect(b.linkType).toBe(f.linkType);
            expect(b.ts).toBe(quantize(p.ts, f.tsResolution));
            expect(new Uint8Array(b.data)).toEqual(p.data);
            expect(b.origLen).toBe(p.data.length + p.extra);
            const x = b.extras;
            const wantExtras = p.flags !== undefined || p.dropCount !== undefined || p.queue !== undefined || (p.comments ?? []).length > 0;
            if (!wantExtras) expect(x).toBeUndefined();
            else {
              expect(x?.flags).toBe(p.flags);
              expect(x?.dropCount).toBe(p.dropCount);
              expect(x?.queue).toBe(p.queue);
              expect(x?.comments).toEqual(p.comments ?? []);
            }
          });
          if (back.length > 0) {
            const s = back[0]!.section;
            expect(s.byteOrder).toBe(byteOrder);
            expect(s.userAppl).toBe('prop');
            expect(s.interfaces.map((x) => [x.linkType, x.snapLen, x.name, x.tsResolution, x.comments])).toEqual(
              ifaces.map((f) => [f.linkType, f.snapLen, f.name, f.tsResolution, f.comments]),
            );
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('pcapng: re-writing a read batch reproduces the same packets (writeBatch)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(iface, { minLength: 1, maxLength: 3 }), fc.array(packet, { minLength: 1, maxLength: 30 }), async (ifaces, packets) => {
        const mem = new MemoryWritable();
        const w = new PcapngWriter(openSink(mem));
        ifaces.forEach((f) => w.addInterface({ linkType: f.linkType, snapLen: f.snapLen, tsResolution: f.tsResolution }));
        for (const p of packets) w.writePacket(p.iface % ifaces.length, { ts: p.ts, data: p.data, ...(p.flags === undefined ? {} : { flags: p.flags }) });
        await w.close();
        const first = mem.bytes;
        const mem2 = new MemoryWritable();
        const w2 = new PcapngWriter(openSink(mem2), { byteOrder: 'be' });
        ifaces.forEach((f) => w2.addInterface({ linkType: f.linkType, snapLen: f.snapLen, tsResolution: f.tsResolution }));
        for (const b of readBatchesSync(first, { batchPackets: 7 })) w2.writeBatch(b, (i) => i);
        await w2.close();
        const norm = (buf: Buffer): unknown[] => readPacketsSync(buf).map((p) => [p.ts, p.interface, p.capLen, p.origLen, p.data.toString('hex'), p.extras?.flags]);
        expect(norm(mem2.bytes)).toEqual(norm(first));
      }),
      { numRuns: 100 },
    );
  });

  it('classic pcap: microsecond and nanosecond files in both byte orders', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.boolean(),
        fc.constantFrom<'le' | 'be'>('le', 'be'),
        fc.array(fc.record({ ts: fc.bigInt({ min: 0n, max: 4_294_967_295_999_999_999n }), data: fc.uint8Array({ maxLength: 200 }), extra: fc.nat({ max: 100 }) }), { maxLength: 30 }),
        async (nanos, byteOrder, packets) => {
          const mem = new MemoryWritable();
          const w = new PcapWriter(openSink(mem, { bufferSize: 300 }), { linkType: 1, snapLen: 65535, nanos, byteOrder });
          for (const p of packets) w.writePacket({ ts: p.ts, data: p.data, origLen: p.data.length + p.extra });
          await w.close();
          const back = readPacketsSync(mem.bytes);
          expect(back.map((b) => [b.ts, b.origLen, b.data.toString('hex')])).toEqual(
            packets.map((p) => [nanos ? p.ts : p.ts - (p.ts % 1000n), p.data.length + p.extra, Buffer.from(p.data).toString('hex')]),
          );
        },
      ),
      { numRuns: 150 },
    );
  });
});
