import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import {
  encodeEPB,
  encodeIDB,
  encodeISB,
  encodeSHB,
  encodePcapHeader,
  encodePcapRecord,
  openSink,
  PcapngWriter,
  PcapWriter,
  PcapWriteError,
  UNTIMED_COMMENT,
  readBatchesSync,
  readPacketsSync,
  type TraceRecord,
} from '../../src/pcap/index.js';
import { bytesOf, epb, idb, isb, opt, opts, pcapHeader, pcapRecord, shb, str, u32, u64, u8, type Order } from '../helpers/hand.js';
import { MemoryWritable } from '../helpers/memsink.js';

const dir = mkdtempSync(join(tmpdir(), 'nmcap-writer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function pcapngBytes(build: (w: PcapngWriter) => void, o: ConstructorParameters<typeof PcapngWriter>[1] = {}): Promise<Buffer> {
  const mem = new MemoryWritable();
  const w = new PcapngWriter(openSink(mem, { bufferSize: 4096 }), o);
  build(w);
  await w.close();
  return mem.bytes;
}

function recordsOf(buf: Buffer): TraceRecord[] {
  return [...readBatchesSync(buf)].flatMap((b) => b.records);
}

describe('pure encoders', () => {
  for (const o of ['le', 'be'] as Order[]) {
    it(`lay out EPB, SHB, IDB and ISB exactly as the specification (${o})`, () => {
      const data = bytesOf(13, 5);
      expect(encodeEPB(3, 0x0000012345678901n, data, 99, undefined, o)).toEqual(epb(o, 3, 0x0000012345678901n, data, 99));
      expect(encodeEPB(0, 7n, data, 13, { flags: 1, dropCount: 2n, queue: 4, comments: ['c'] }, o)).toEqual(
        epb(o, 0, 7n, data, 13, opts(o, opt(1, str('c'), o), opt(2, u32(1, o), o), opt(4, u64(2n, o), o), opt(6, u32(4, o), o))),
      );
      expect(encodeSHB({ userAppl: 'nmcap' }, o)).toEqual(shb(o, opts(o, opt(4, str('nmcap'), o))));
      expect(encodeSHB({}, o)).toEqual(shb(o));
      expect(encodeIDB({ linkType: 1, snapLen: 262144, name: 'eth0' }, o)).toEqual(idb(o, 1, 262144, opts(o, opt(2, str('eth0'), o), opt(9, u8(9), o))));
      expect(encodeISB(0, 5n, { ifRecv: 10n, ifDrop: null }, o)).toEqual(isb(o, 0, 5n, opts(o, opt(4, u64(10n, o), o))));
      expect(encodePcapHeader({ linkType: 1, snapLen: 65535, nanos: true }, o)).toEqual(pcapHeader(o, true, 65535, 1));
      expect(encodePcapRecord(1, 2, data, 20, o)).toEqual(pcapRecord(o, 1, 2, data, 20));
    });
  }

  it('refuses values the format cannot hold', () => {
    expect(() => encodeIDB({ linkType: 70000, snapLen: 0 })).toThrow(PcapWriteError);
    expect(() => encodeEPB(0, -1n, bytesOf(1))).toThrow(/not a u64/);
    expect(() => encodePcapHeader({ linkType: 1, snapLen: 0 })).toThrow(/snap length/);
    expect(() => encodeIDB({ linkType: 1, snapLen: 0, ipv4Addresses: ['300.1.1.1/255.0.0.0'] })).toThrow(/IPv4/);
    for (const bad of ['1.2.3./255.0.0.0', '1.2.3.4/255.0.0.', ' 1.2.3.4', '0x1.2.3.4', '01.2.3.4', '1.2.3.4.5']) {
      expect(() => encodeIDB({ linkType: 1, snapLen: 0, ipv4Addresses: [bad] }), bad).toThrow(/not an IPv4 address/);
    }
    for (const bad of ['fe80::1/129', 'fe80::1/x', 'fe80::1/']) {
      expect(() => encodeIDB({ linkType: 1, snapLen: 0, ipv6Addresses: [bad] }), bad).toThrow(/IPv6/);
    }
  });
});

describe('PcapngWriter', () => {
  it('writes SHB, IDBs with their options, EPBs, SPB and ISB that read back identically', async () => {
    const bytes = await pcapngBytes(
      (w) => {
        const a = w.addInterface({
          linkType: 1,
          snapLen: 262144,
          name: 'eth0',
          description: 'uplink',
          filter: 'udp',
          fcsLen: 32,
          os: 'Linux',
          hardware: 'veth',
          speed: 10_000_000_000n,
          ipv4Addresses: ['10.0.0.1/255.255.255.0'],
          ipv6Addresses: ['2001:db8::1/64'],
          macAddress: '02:00:00:00:00:01',
          comments: ['first'],
        });
        const b = w.addInterface({ linkType: 101, snapLen: 1500, tsResolution: { base: 10, exponent: 6 }, tsOffset: 0n });
        expect([a, b]).toEqual([0, 1]);
        w.writePacket(a, { ts: 1_700_000_000_123_456_789n, data: bytesOf(60, 1), origLen: 1514, flags: 1, dropCount: 3n, queue: 2, comments: ['hello'] });
        w.writePacket(b, { ts: 1_700_000_000_123_456_789n, data: bytesOf(20, 2) });
        w.writeStats(a, { ts: 1_700_000_001_000_000_000n, startTime: 1_700_000_000_000_000_000n, ifRecv: 2n, ifDrop: null, osDrop: 0n, comments: ['end'] });
      },
      { hardware: 'x86_64', os: 'Linux 6', userAppl: 'nmcap test', comments: ['a file'] },
    );
    const pk = readPacketsSync(bytes);
    expect(pk).toHaveLength(2);
    expect(pk[0]!.ts).toBe(1_700_000_000_123_456_789n);
    expect(pk[1]!.ts).toBe(1_700_000_000_123_456_000n); // microsecond interface floors
    expect(pk[0]!.extras).toEqual({ comments: ['hello'], flags: 1, dropCount: 3n, queue: 2 });
    expect(pk[0]!.origLen).toBe(1514);
    expect(pk[1]!.linkType).toBe(101);
    const s = pk[0]!.section;
    expect(s).toMatchObject({ hardware: 'x86_64', os: 'Linux 6', userAppl: 'nmcap test', comments: ['a file'] });
    expect(s.interfaces[0]).toMatchObject({
      name: 'eth0',
      description: 'uplink',
      filter: { kind: 0, text: 'udp' },
      fcsLen: 32,
      os: 'Linux',
      hardware: 'veth',
      speed: 10_000_000_000n,
      ipv4Addresses: ['10.0.0.1/255.255.255.0'],
      ipv6Addresses: ['2001:db8::1/64'],
      macAddress: '02:00:00:00:00:01',
      comments: ['first'],
      tsResolution: { base: 10, exponent: 9 },
    });
    const isbRec = recordsOf(bytes).find((r) => r.kind === 'isb');
    expect(isbRec).toEqual({
      kind: 'isb',
      offset: isbRec!.offset,
      interface: 0,
      ts: 1_700_000_001_000_000_000n,
      startTime: 1_700_000_000_000_000_000n,
      ifRecv: 2n,
      osDrop: 0n,
      comments: ['end'],
    });
  });

  it('writes a packet without timestamp as an SPB where legal, else as an EPB marked untimed', async () => {
    const bytes = await pcapngBytes((w) => {
      w.addInterface({ linkType: 1, snapLen: 9 });
      w.addInterface({ linkType: 1, snapLen: 0 });
      // Interface 0 with the implied captured length (min(origLen, snapLen)): an SPB, even with two IDBs.
      w.writePacket(0, { ts: null, data: bytesOf(9), origLen: 100 });
      // 5 bytes of 100 on a snap length of 9 is not what an SPB implies; interface 1 is not an SPB's.
      w.writePacket(0, { ts: null, data: bytesOf(5), origLen: 100 });
      w.writePacket(1, { ts: null, data: bytesOf(7), comments: ['kept'] });
      expect(w.untimedPackets).toBe(3);
    });
    const ps = readPacketsSync(bytes);
    expect(ps.map((p) => [p.blockType, p.interface, p.ts, p.capLen, p.origLen])).toEqual([
      ['spb', 0, null, 9, 100],
      ['epb', 0, 0n, 5, 100],
      ['epb', 1, 0n, 7, 7],
    ]);
    expect(ps[1]!.extras?.comments).toEqual([UNTIMED_COMMENT]);
    expect(ps[2]!.extras?.comments).toEqual(['kept', UNTIMED_COMMENT]);
  });

  it('refuses an interface it does not have, and writes after close', async () => {
    const mem = new MemoryWritable();
    const w = new PcapngWriter(openSink(mem));
    expect(() => w.writePacket(0, { ts: 0n, data: bytesOf(1) })).toThrow(/interface 0 was not added/);
    await w.close();
    expect(() => w.addInterface({ linkType: 1, snapLen: 0 })).toThrow(expect.objectContaining({ code: 'ERR_PCAP_WRITER_CLOSED' }));
  });

  it('writes in big-endian when asked, and writeRaw passes blocks through', async () => {
    const raw = epb('be', 0, 42_000n, bytesOf(5));
    const bytes = await pcapngBytes(
      (w) => {
        w.addInterface({ linkType: 1, snapLen: 0, tsResolution: { base: 10, exponent: 6 } });
        w.writeRaw(raw);
        expect(() => w.writeRaw(bytesOf(5))).toThrow(/multiple of 4/);
      },
      { byteOrder: 'be' },
    );
    expect(bytes.readUInt32BE(8)).toBe(0x1a2b3c4d);
    expect(readPacketsSync(bytes)[0]!.ts).toBe(42_000_000n);
  });

  it('copies batches from a reader, mapping interfaces and keeping options', async () => {
    const o: Order = 'be';
    const input = Buffer.concat([
      shb(o),
      idb(o, 1, 0, opts(o, opt(9, u8(3), o))),
      idb(o, 105, 0, opts(o, opt(9, u8(0x80 | 20), o))),
      epb(o, 0, 1_700_000_000_123n, bytesOf(61), 61, opts(o, opt(2, u32(2, o), o))),
      epb(o, 1, (5n << 20n) + 3n, bytesOf(700)),
    ]);
    const [batch] = [...readBatchesSync(input)];
    const bytes = await pcapngBytes((w) => {
      w.addInterface({ linkType: 105, snapLen: 0 });
      w.addInterface({ linkType: 1, snapLen: 0, tsResolution: { base: 10, exponent: 3 } });
      w.writeBatch(batch!, (i) => (i === 0 ? 1 : 0));
    });
    const pk = readPacketsSync(bytes);
    expect(pk.map((p) => [p.interface, p.linkType, p.ts, p.capLen])).toEqual([
      [1, 1, 1_700_000_000_123_000_000n, 61],
      [0, 105, 5_000_002_861n, 700],
    ]);
    expect(pk[0]!.extras?.flags).toBe(2);
    expect(Buffer.compare(pk[1]!.data, bytesOf(700))).toBe(0);
  });
});

describe('PcapngWriter.writeBatch with interfaces added on first use', () => {
  it('keeps the IDB written by the map ahead of the packets that use it', async () => {
    const input = Buffer.concat([
      shb('le'),
      idb('le', 1, 0),
      idb('le', 101, 0),
      ...Array.from({ length: 50 }, (_, i) => epb('le', i % 2, BigInt(i), bytesOf(10 + i, i))),
    ]);
    const bytes = await pcapngBytes((w) => {
      const m: number[] = [];
      for (const b of readBatchesSync(input, { batchPackets: 8 })) {
        w.writeBatch(b, (i) => (m[i] ??= w.addInterface({ linkType: b.section.interfaces[i]!.linkType, snapLen: 0, tsResolution: { base: 10, exponent: 6 } })));
      }
    });
    const back = readPacketsSync(bytes);
    expect(back.map((p) => [p.interface, p.linkType, p.ts, p.data.toString('hex')])).toEqual(
      readPacketsSync(input).map((p) => [p.interface, p.linkType, p.ts, p.data.toString('hex')]),
    );
  });
});

describe('PcapWriter', () => {
  for (const o of ['le', 'be'] as Order[]) {
    it(`writes microsecond and nanosecond files (${o})`, async () => {
      for (const nanos of [false, true]) {
        const mem = new MemoryWritable();
        const w = new PcapWriter(openSink(mem), { linkType: 1, snapLen: 65535, nanos, byteOrder: o });
        w.writePacket({ ts: 1_700_000_000_123_456_789n, data: bytesOf(30), origLen: 60 });
        await w.close();
        const [p] = readPacketsSync(mem.bytes);
        expect(p!.ts).toBe(nanos ? 1_700_000_000_123_456_789n : 1_700_000_000_123_456_000n);
        expect(p!.section.byteOrder).toBe(o);
        expect(p!.origLen).toBe(60);
      }
    });
  }

  it('writes a batch up to the first packet of another link type, then refuses it', async () => {
    const input = Buffer.concat([shb('le'), idb('le', 1, 0), idb('le', 101, 0), epb('le', 0, 1n, bytesOf(4)), epb('le', 1, 2n, bytesOf(4))]);
    const [batch] = [...readBatchesSync(input)];
    const mem = new MemoryWritable();
    const w = new PcapWriter(openSink(mem), { linkType: 1, snapLen: 100 });
    expect(() => w.writeBatch(batch!)).toThrow(expect.objectContaining({ code: 'ERR_PCAP_LINKTYPE_MISMATCH' }));
    await w.close();
    expect(readPacketsSync(mem.bytes).map((p) => p.ts)).toEqual([1000n]);
  });

  it('refuses timestamps classic pcap cannot hold', () => {
    const w = new PcapWriter(openSink(new MemoryWritable()), { linkType: 1, snapLen: 100 });
    expect(() => w.writePacket({ ts: -1n, data: bytesOf(1) })).toThrow(/negative/);
    expect(() => w.writePacket({ ts: 2n ** 32n * 1_000_000_000n, data: bytesOf(1) })).toThrow(/beyond/);
  });
});

describe('ByteSink', () => {
  it('writes to a path through big buffers, in order', async () => {
    const path = join(dir, 'sink.bin');
    const sink = openSink(path, { bufferSize: 1000 });
    const expected: Buffer[] = [];
    for (let i = 0; i < 300; i++) {
      const b = bytesOf(i % 250, i);
      expected.push(b);
      sink.write(b);
      if (sink.needsDrain) await sink.ready();
    }
    sink.write(bytesOf(5000, 9)); // larger than a buffer
    expected.push(bytesOf(5000, 9));
    expect(sink.bytesWritten).toBe(Buffer.concat(expected).length);
    await sink.close();
    expect(readFileSync(path)).toEqual(Buffer.concat(expected));
  });

  it('reports back-pressure and resumes once a slow stream drains', async () => {
    const slow = new MemoryWritable(5);
    const sink = openSink(slow, { bufferSize: 64, maxQueued: 2 });
    let sawPressure = false;
    for (let i = 0; i < 20; i++) {
      sink.write(bytesOf(64, i));
      if (sink.needsDrain) {
        sawPressure = true;
        await sink.ready();
        expect(sink.needsDrain).toBe(false);
      }
    }
    await sink.close();
    expect(sawPressure).toBe(true);
    expect(slow.bytes.length).toBe(20 * 64);
  });

  it('remembers a failed write and throws it from the next call', async () => {
    const broken = new Writable({
      write(_c, _e, cb): void {
        cb(new Error('disk on fire'));
      },
    });
    broken.on('error', () => undefined);
    const sink = openSink(broken, { bufferSize: 16 });
    sink.write(bytesOf(16));
    sink.write(bytesOf(16));
    await expect(sink.flush()).rejects.toThrow('disk on fire');
    expect(() => sink.write(bytesOf(1))).toThrow('disk on fire');
  });

  it('fails at once on a path it cannot create', () => {
    expect(() => openSink(join(dir, 'no-such-dir', 'x.pcapng'))).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });
});
