import { describe, expect, it } from 'vitest';
import {
  PcapFormatError,
  readBatchesSync,
  readPacketsSync,
  type PacketBatch,
  type PcapWarning,
  type TraceRecord,
} from '../../src/pcap/index.js';
import {
  block,
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
  ts64,
  u32,
  u64,
  u8,
  type Order,
} from '../helpers/hand.js';

const ORDERS: Order[] = ['le', 'be'];

function read(buf: Buffer): { batches: PacketBatch[]; warnings: PcapWarning[] } {
  const warnings: PcapWarning[] = [];
  const batches = [...readBatchesSync(buf, { onWarning: (w) => warnings.push(w) })];
  return { batches, warnings };
}
function records(buf: Buffer): TraceRecord[] {
  return read(buf).batches.flatMap((b) => b.records);
}
function failure(buf: Buffer): { err: PcapFormatError; delivered: number } {
  let delivered = 0;
  try {
    for (const b of readBatchesSync(buf)) delivered += b.count;
  } catch (e) {
    if (!(e instanceof PcapFormatError)) throw e;
    return { err: e, delivered };
  }
  throw new Error('expected a PcapFormatError');
}
/** tsresol option value for 10^-e. */
const tsres = (b: number, o: Order): Buffer => opt(9, u8(b), o);

describe('pcapng Section Header Block', () => {
  for (const o of ORDERS) {
    it(`reads version, section length and options (${o})`, () => {
      const file = shb(
        o,
        opts(o, opt(1, str('first comment'), o), opt(2, str('x86 box'), o), opt(3, str('Linux 6.1'), o), opt(4, str('dumpcap 4'), o), opt(1, str('second'), o), opt(0x8001, str('local'), o)),
        [1, 0],
        1234n * 4n,
      );
      const [rec] = records(file);
      expect(rec!.kind).toBe('shb');
      const s = rec!.kind === 'shb' ? rec!.section : undefined;
      expect(s).toMatchObject({
        index: 0,
        format: 'pcapng',
        byteOrder: o,
        version: { major: 1, minor: 0 },
        sectionLength: 4936n,
        hardware: 'x86 box',
        os: 'Linux 6.1',
        userAppl: 'dumpcap 4',
        comments: ['first comment', 'second'],
        interfaces: [],
        offset: 0,
      });
    });
  }

  it('treats minor version 2 as 0 and refuses other versions with the offset of the version', () => {
    expect(records(shb('le', undefined, [1, 2]))[0]!.kind).toBe('shb');
    for (const v of [
      [2, 0],
      [1, 1],
      [0, 9],
    ] as [number, number][]) {
      const { err } = failure(shb('be', undefined, v));
      expect(err.code).toBe('ERR_PCAP_UNSUPPORTED_VERSION');
      expect(err.offset).toBe(12);
    }
  });

  it('reads several sections, of different byte order, each with its own interfaces', () => {
    const a = Buffer.concat([shb('le'), idb('le', 1, 100), epb('le', 0, 5_000_000n, bytesOf(10))]);
    const b = Buffer.concat([
      shb('be', opts('be', opt(4, str('second'), 'be'))),
      idb('be', 101, 200),
      idb('be', 105, 300, opts('be', tsres(9, 'be'))),
      epb('be', 1, 7_000_000_001n, bytesOf(20)),
      epb('be', 0, 8_000_000n, bytesOf(30)),
    ]);
    const c = Buffer.concat([shb('le'), idb('le', 228, 400), epb('le', 0, 9_000_000n, bytesOf(40))]);
    const { batches } = read(Buffer.concat([a, b, c]));
    expect(batches.map((x) => [x.section.index, x.count])).toEqual([
      [0, 1],
      [1, 2],
      [2, 1],
    ]);
    const pk = readPacketsSync(Buffer.concat([a, b, c]));
    expect(pk.map((p) => [p.section.index, p.interface, p.linkType, p.capLen, p.ts])).toEqual([
      [0, 0, 1, 10, 5_000_000_000n],
      [1, 1, 105, 20, 7_000_000_001n],
      [1, 0, 101, 30, 8_000_000_000n],
      [2, 0, 228, 40, 9_000_000_000n],
    ]);
    expect(pk[1]!.section.byteOrder).toBe('be');
    expect(pk[1]!.section.userAppl).toBe('second');
    expect(pk[1]!.section.offset).toBe(a.length);
  });

  it('refuses a bad byte-order magic', () => {
    const f = shb('le');
    f.writeUInt32LE(0x11223344, 8);
    const { err } = failure(f);
    expect(err.code).toBe('ERR_PCAP_BAD_MAGIC');
    expect(err.offset).toBe(8);
  });
});

describe('pcapng Interface Description Block', () => {
  for (const o of ORDERS) {
    it(`reads every standard option (${o})`, () => {
      const ip6 = Buffer.from('20010db8000000000000000000000001', 'hex');
      const file = Buffer.concat([
        shb(o),
        idb(
          o,
          1,
          262144,
          opts(
            o,
            opt(1, str('idb comment'), o),
            opt(2, str('eth0'), o),
            opt(3, str('First Ethernet'), o),
            opt(4, u8(192, 168, 1, 1, 255, 255, 255, 0), o),
            opt(4, u8(10, 0, 0, 1, 255, 0, 0, 0), o),
            opt(5, Buffer.concat([ip6, u8(64)]), o),
            opt(6, u8(0, 1, 2, 3, 4, 5), o),
            opt(7, u8(2, 0x34, 0x56, 0xff, 0xfe, 0x78, 0x9a, 0xbc), o),
            opt(8, u64(10_000_000_000n, o), o),
            tsres(9, o),
            opt(10, u32(60, o), o),
            opt(11, Buffer.concat([u8(0), str('tcp port 80')]), o),
            opt(12, str('Linux'), o),
            opt(13, u8(32), o),
            opt(14, u64(-5n, o), o),
            opt(15, str('Intel NIC'), o),
            opt(16, u64(1000n, o), o),
            opt(17, u64(2000n, o), o),
            opt(18, str('Europe/Berlin'), o),
            opt(0x9999, str('local option skipped'), o),
            opt(2989, Buffer.concat([u32(32473, o), u8(1, 2, 3)]), o),
          ),
        ),
      ]);
      const rec = records(file)[1]!;
      expect(rec.kind).toBe('idb');
      if (rec.kind !== 'idb') return;
      expect(rec.interface).toEqual({
        index: 0,
        linkType: 1,
        snapLen: 262144,
        name: 'eth0',
        description: 'First Ethernet',
        ipv4Addresses: ['192.168.1.1/255.255.255.0', '10.0.0.1/255.0.0.0'],
        ipv6Addresses: ['2001:db8::1/64'],
        macAddress: '00:01:02:03:04:05',
        euiAddress: '02:34:56:ff:fe:78:9a:bc',
        speed: 10_000_000_000n,
        txSpeed: 1000n,
        rxSpeed: 2000n,
        tsResolution: { base: 10, exponent: 9 },
        tsOffset: -5n,
        tzone: 60,
        ianaTzName: 'Europe/Berlin',
        filter: { kind: 0, text: 'tcp port 80', data: new Uint8Array(Buffer.from('tcp port 80')) },
        os: 'Linux',
        hardware: 'Intel NIC',
        fcsLen: 32,
        comments: ['idb comment'],
      });
      expect(rec.section.interfaces[0]).toBe(rec.interface);
    });
  }

  it('keeps a BPF if_filter as bytes', () => {
    const prog = u8(1, 2, 3, 4, 5, 6, 7, 8);
    const rec = records(Buffer.concat([shb('le'), idb('le', 1, 0, opts('le', opt(11, Buffer.concat([u8(1), prog]), 'le')))]))[1]!;
    expect(rec.kind === 'idb' && rec.interface.filter).toEqual({ kind: 1, data: new Uint8Array(prog) });
  });

  it('stops a string option at a NUL', () => {
    const rec = records(Buffer.concat([shb('le'), idb('le', 1, 0, opts('le', opt(2, Buffer.from('eth1\0junk'), 'le')))]))[1]!;
    expect(rec.kind === 'idb' && rec.interface.name).toBe('eth1');
  });

  it('refuses an if_tsresol or if_tsoffset of the wrong length (they change timestamps)', () => {
    for (const bad of [opt(9, u8(9, 9), 'le'), opt(14, u32(1, 'le'), 'le')]) {
      const { err } = failure(Buffer.concat([shb('le'), idb('le', 1, 0, opts('le', bad))]));
      expect(err.code).toBe('ERR_PCAP_BAD_OPTION');
      expect(err.offset).toBe(28 + 16);
    }
  });

  it('skips other options of the wrong length with a warning', () => {
    const { batches, warnings } = read(Buffer.concat([shb('le'), idb('le', 1, 0, opts('le', opt(6, u8(1, 2, 3), 'le'), opt(2, str('ok'), 'le')))]));
    const rec = batches[0]!.records[1]!;
    expect(rec.kind === 'idb' && rec.interface.macAddress).toBeUndefined();
    expect(rec.kind === 'idb' && rec.interface.name).toBe('ok');
    expect(warnings.map((w) => w.code)).toEqual(['WARN_PCAP_BAD_OPTION']);
  });

  it('refuses an option that runs past its block', () => {
    const o: Order = 'le';
    // An option claiming 40 bytes inside an IDB whose options area holds 8.
    const body = Buffer.concat([u8(1, 0, 0, 0), u32(0, o), u8(2, 0, 40, 0), str('abcd')]);
    const { err } = failure(Buffer.concat([shb(o), block(1, body, o)]));
    expect(err.code).toBe('ERR_PCAP_BAD_OPTION');
    expect(err.offset).toBe(28 + 16);
  });
});

describe('pcapng timestamps', () => {
  const one = (o: Order, resByte: number | undefined, units: bigint, extra: Buffer[] = []): bigint | null => {
    const idbOpts = resByte === undefined ? [...extra] : [tsres(resByte, o), ...extra];
    return readPacketsSync(Buffer.concat([shb(o), idb(o, 1, 0, opts(o, ...idbOpts)), epb(o, 0, units, bytesOf(1))]))[0]!.ts;
  };

  for (const o of ORDERS) {
    it(`defaults to microseconds and reads decimal resolutions exactly (${o})`, () => {
      expect(one(o, undefined, 1_700_000_000_123_456n)).toBe(1_700_000_000_123_456_000n);
      expect(one(o, 6, 1_700_000_000_123_456n)).toBe(1_700_000_000_123_456_000n);
      expect(one(o, 9, 1_700_000_000_123_456_789n)).toBe(1_700_000_000_123_456_789n);
      expect(one(o, 3, 1_700_000_000_123n)).toBe(1_700_000_000_123_000_000n);
      expect(one(o, 0, 1_700_000_000n)).toBe(1_700_000_000_000_000_000n);
      expect(one(o, 7, 17_000_000_001_234_567n)).toBe(1_700_000_000_123_456_700n);
    });

    it(`floors resolutions finer than 1 ns and binary ones (${o})`, () => {
      // 10^-12: 1.7e21 picoseconds does not fit u64; use a smaller count.
      expect(one(o, 12, 12_345_678_901_234_567n)).toBe(12_345_678_901_234n);
      // 2^-10 (1/1024 s): 1025 units = 1 s + 1/1024 s = 1 s + 976562.5 ns -> floored.
      expect(one(o, 0x80 | 10, 1025n)).toBe(1_000_976_562n);
      // 2^-30
      expect(one(o, 0x80 | 30, (5n << 30n) + 1n)).toBe(5_000_000_000n);
    });

    it(`applies if_tsoffset (${o})`, () => {
      expect(one(o, 9, 1_000_000_000n, [opt(14, u64(1_600_000_000n, o), o)])).toBe(1_600_000_001_000_000_000n);
      expect(one(o, 6, 5_000_000n, [opt(14, u64(-2n, o), o)])).toBe(3_000_000_000n);
    });
  }

  it('keeps the full u64 range of nanosecond counts exact', () => {
    expect(one('le', 9, 0xffffffffffffffffn)).toBe(0xffffffffffffffffn);
    expect(one('be', 6, 0xffffffffffffffffn)).toBe(0xffffffffffffffffn * 1000n);
  });
});

describe('pcapng packet blocks', () => {
  for (const o of ORDERS) {
    it(`reads EPB fields and every EPB option (${o})`, () => {
      const file = Buffer.concat([
        shb(o),
        idb(o, 1, 0),
        epb(
          o,
          0,
          5n,
          bytesOf(13),
          100,
          opts(
            o,
            opt(1, str('packet comment'), o),
            opt(2, u32(0x01000001, o), o),
            opt(3, u8(2, 0xec, 0x1d, 0x87, 0x97), o),
            opt(4, u64(7n, o), o),
            opt(5, u64(0x1122334455667788n, o), o),
            opt(6, u32(3, o), o),
            opt(7, u8(2, 0, 0, 0, 0, 0, 0, 0, 2), o),
            opt(8, Buffer.concat([u32(1234, o), u32(99, o)]), o),
            opt(0x8123, str('local'), o),
          ),
        ),
        epb(o, 0, 6n, bytesOf(3)),
      ]);
      const [b] = read(file).batches;
      expect(b!.count).toBe(2);
      expect(b!.capLen[0]).toBe(13);
      expect(b!.origLen[0]).toBe(100);
      expect(b!.blockType(0)).toBe('epb');
      expect(b!.extras(0)).toEqual({
        comments: ['packet comment'],
        flags: 0x01000001,
        hashes: [{ algorithm: 2, value: new Uint8Array([0xec, 0x1d, 0x87, 0x97]) }],
        dropCount: 7n,
        packetId: 0x1122334455667788n,
        queue: 3,
        verdicts: [{ type: 2, value: new Uint8Array([0, 0, 0, 0, 0, 0, 0, 2]) }],
        processId: 1234,
        threadId: 99,
      });
      expect(b!.extras(1)).toBeUndefined();
      expect(Buffer.compare(b!.data(0), bytesOf(13))).toBe(0);
    });

    it(`applies the SPB snap length rule (${o})`, () => {
      const withSnap = (snap: number, orig: number, dataLen: number): { count: number; cap?: number } => {
        const file = Buffer.concat([shb(o), idb(o, 1, snap), spb(o, orig, bytesOf(dataLen))]);
        try {
          const [b] = read(file).batches;
          return { count: b!.count, cap: b!.capLen[0]! };
        } catch (e) {
          return { count: -1, cap: (e as PcapFormatError).code === 'ERR_PCAP_BAD_CAPLEN' ? -1 : -2 };
        }
      };
      expect(withSnap(0, 50, 50)).toEqual({ count: 1, cap: 50 }); // snaplen 0: no limit
      expect(withSnap(64, 50, 50)).toEqual({ count: 1, cap: 50 }); // orig below snaplen
      expect(withSnap(64, 1500, 64)).toEqual({ count: 1, cap: 64 }); // truncated to snaplen
      expect(withSnap(64, 1500, 60)).toEqual({ count: -1, cap: -1 }); // block too short for min(snap, orig)
      expect(withSnap(0, 53, 50)).toEqual({ count: -1, cap: -1 });
      // The data area counts its padding: 51 of 52 bytes is within the block.
      expect(withSnap(0, 51, 50)).toEqual({ count: 1, cap: 51 });
      const p = readPacketsSync(Buffer.concat([shb(o), idb(o, 1, 64), spb(o, 1500, bytesOf(64))]))[0]!;
      expect(p.ts).toBeNull();
      expect(p.blockType).toBe('spb');
      expect(p.origLen).toBe(1500);
      expect(p.interface).toBe(0);
    });

    it(`reads the obsolete Packet Block with its drop count and options (${o})`, () => {
      const file = Buffer.concat([
        shb(o),
        idb(o, 1, 0, opts(o, tsres(9, o))),
        idb(o, 101, 0),
        pb(o, 1, 5, 1_000_000n, bytesOf(7), 9, opts(o, opt(2, u32(2, o), o), opt(3, u8(3, 1, 2), o), opt(1, str('pb'), o))),
        pb(o, 0, 0xffff, 42n, bytesOf(1)),
      ]);
      const pk = readPacketsSync(file);
      expect(pk.map((p) => [p.blockType, p.interface, p.linkType, p.ts, p.capLen, p.origLen])).toEqual([
        ['pb', 1, 101, 1_000_000_000n, 7, 9],
        ['pb', 0, 1, 42n, 1, 1],
      ]);
      expect(pk[0]!.extras).toEqual({ comments: ['pb'], flags: 2, hashes: [{ algorithm: 3, value: new Uint8Array([1, 2]) }], dropCount: 5n });
      expect(pk[1]!.extras).toEqual({ comments: [] });
    });
  }

  it('refuses a packet naming an interface not yet described, after delivering earlier packets', () => {
    const file = Buffer.concat([shb('le'), idb('le', 1, 0), epb('le', 0, 1n, bytesOf(4)), epb('le', 1, 2n, bytesOf(4)), idb('le', 1, 0)]);
    const { err, delivered } = failure(file);
    expect(delivered).toBe(1);
    expect(err.code).toBe('ERR_PCAP_UNKNOWN_INTERFACE');
    expect(err.offset).toBe(28 + 20 + 36 + 8);
    expect(failure(Buffer.concat([shb('be'), spb('be', 4, bytesOf(4))])).err.code).toBe('ERR_PCAP_UNKNOWN_INTERFACE');
  });

  it('refuses an EPB whose captured length runs past its block', () => {
    const good = epb('le', 0, 1n, bytesOf(8));
    good.writeUInt32LE(9, 20);
    const { err } = failure(Buffer.concat([shb('le'), idb('le', 1, 0), good]));
    expect(err.code).toBe('ERR_PCAP_BAD_CAPLEN');
    expect(err.offset).toBe(28 + 20 + 20);
  });
});

describe('pcapng other blocks', () => {
  for (const o of ORDERS) {
    it(`reads NRB records and options, skipping unknown record types (${o})`, () => {
      const ip6 = Buffer.from('fe800000000000000000000000000001', 'hex');
      const file = Buffer.concat([
        shb(o),
        nrb(
          o,
          [
            nrbRecord(1, Buffer.concat([u8(127, 0, 0, 1), str('localhost\0loopback\0')]), o),
            nrbRecord(2, Buffer.concat([ip6, str('router\0')]), o),
            nrbRecord(77, str('unknown record'), o),
            nrbRecord(3, Buffer.concat([u8(2, 0xca, 0xff, 0xee, 0xf0, 0x0d), str('teapot under test\0')]), o),
            nrbRecord(4, Buffer.concat([u8(1, 2, 3, 4, 5, 6, 7, 8), str('eui\0')]), o),
          ],
          opts(o, opt(1, str('nrb comment'), o), opt(2, str('ns1'), o), opt(3, u8(192, 0, 2, 53), o), opt(4, ip6, o)),
        ),
      ]);
      expect(records(file)[1]).toEqual({
        kind: 'nrb',
        offset: 28,
        entries: [
          { type: 'ipv4', address: '127.0.0.1', names: ['localhost', 'loopback'] },
          { type: 'ipv6', address: 'fe80::1', names: ['router'] },
          { type: 'eui48', address: '02:ca:ff:ee:f0:0d', names: ['teapot under test'] },
          { type: 'eui64', address: '01:02:03:04:05:06:07:08', names: ['eui'] },
        ],
        dnsName: 'ns1',
        dnsIPv4: '192.0.2.53',
        dnsIPv6: 'fe80::1',
        comments: ['nrb comment'],
      });
    });

    it(`reads ISB counters and times in the interface's resolution (${o})`, () => {
      const file = Buffer.concat([
        shb(o),
        idb(o, 1, 0, opts(o, tsres(3, o))),
        isb(
          o,
          0,
          1_700_000_000_500n,
          opts(
            o,
            opt(1, str('final'), o),
            opt(2, ts64(1_700_000_000_000n, o), o),
            opt(3, ts64(1_700_000_000_400n, o), o),
            opt(4, u64(100n, o), o),
            opt(5, u64(1n, o), o),
            opt(6, u64(90n, o), o),
            opt(7, u64(2n, o), o),
            opt(8, u64(88n, o), o),
          ),
        ),
        isb(o, 0, 5n),
      ]);
      const recs = records(file);
      expect(recs[2]).toEqual({
        kind: 'isb',
        offset: 60,
        interface: 0,
        ts: 1_700_000_000_500_000_000n,
        startTime: 1_700_000_000_000_000_000n,
        endTime: 1_700_000_000_400_000_000n,
        ifRecv: 100n,
        ifDrop: 1n,
        filterAccept: 90n,
        osDrop: 2n,
        usrDeliv: 88n,
        comments: ['final'],
      });
      // Absent counters stay absent: unknown, not 0.
      expect(recs[3]).toEqual({ kind: 'isb', offset: recs[3]!.offset, interface: 0, ts: 5_000_000n, comments: [] });
    });

    it(`reads DSB secrets and custom blocks (${o})`, () => {
      const keylog = str('CLIENT_RANDOM 00 11\n');
      const file = Buffer.concat([
        shb(o),
        dsb(o, 0x544c534b, keylog, opts(o, opt(1, str('keys'), o))),
        custom(o, true, 32473, str('copy me!')),
        custom(o, false, 32473, u8(1, 2, 3, 4)),
      ]);
      const recs = records(file);
      expect(recs[1]).toEqual({ kind: 'dsb', offset: 28, secretsType: 0x544c534b, data: new Uint8Array(keylog), comments: ['keys'] });
      expect(recs[2]).toMatchObject({ kind: 'custom', blockType: 0xbad, copyable: true, pen: 32473 });
      expect(Buffer.from((recs[2] as { data: Uint8Array }).data).toString()).toBe('copy me!');
      expect(recs[3]).toMatchObject({ kind: 'custom', blockType: 0x40000bad, copyable: false, pen: 32473 });
    });

    it(`skips unknown and local-use blocks but reports them (${o})`, () => {
      const file = Buffer.concat([shb(o), block(0x80000001, str('local data'), o), block(0x00000009, str('journal'), o), idb(o, 1, 0), epb(o, 0, 1n, bytesOf(2))]);
      const { batches } = read(file);
      expect(batches[0]!.records.map((r) => [r.kind, (r as { blockType?: number }).blockType])).toEqual([
        ['shb', undefined],
        ['unknown', 0x80000001],
        ['unknown', 9],
        ['idb', undefined],
      ]);
      expect(batches[0]!.count).toBe(1);
    });
  }

  it('refuses an ISB for an undescribed interface and a DSB whose secrets overrun it', () => {
    expect(failure(Buffer.concat([shb('le'), isb('le', 0, 1n)])).err.code).toBe('ERR_PCAP_UNKNOWN_INTERFACE');
    const bad = dsb('le', 1, bytesOf(8));
    bad.writeUInt32LE(100, 12);
    expect(failure(Buffer.concat([shb('le'), bad])).err.code).toBe('ERR_PCAP_BAD_BLOCK');
  });

  it('puts a non-packet block after packets into the next batch, in file order', () => {
    const o: Order = 'le';
    const file = Buffer.concat([shb(o), idb(o, 1, 0), epb(o, 0, 1n, bytesOf(1)), epb(o, 0, 2n, bytesOf(1)), idb(o, 101, 0), epb(o, 1, 3n, bytesOf(1)), isb(o, 1, 4n)]);
    const { batches } = read(file);
    expect(batches.map((b) => [b.records.map((r) => r.kind), b.count])).toEqual([
      [['shb', 'idb'], 2],
      [['idb'], 1],
      [['isb'], 0],
    ]);
  });
});

describe('pcapng block framing errors', () => {
  const base = (): Buffer => Buffer.concat([shb('le'), idb('le', 1, 0)]);
  const at = 28 + 20;

  it('refuses lengths that are not a multiple of 4, below 12, or absurd', () => {
    for (const len of [13, 8, 0, 400 * 1024 * 1024]) {
      const e = epb('le', 0, 1n, bytesOf(4));
      e.writeUInt32LE(len, 4);
      const { err } = failure(Buffer.concat([base(), e]));
      expect(err.code).toBe('ERR_PCAP_BAD_BLOCK_LENGTH');
      expect(err.offset).toBe(at + 4);
    }
  });

  it('refuses a trailing length that disagrees with the leading one', () => {
    const e = epb('le', 0, 1n, bytesOf(4));
    e.writeUInt32LE(e.length + 4, e.length - 4);
    const { err } = failure(Buffer.concat([base(), e, epb('le', 0, 1n, bytesOf(4))]));
    expect(err.code).toBe('ERR_PCAP_BAD_BLOCK_LENGTH');
    expect(err.offset).toBe(at + e.length - 4);
  });

  it('honours a smaller maxBlockLength', () => {
    const file = Buffer.concat([base(), epb('le', 0, 1n, bytesOf(200))]);
    expect(() => [...readBatchesSync(file, { maxBlockLength: 128 })]).toThrow(/exceeds the 128-byte limit/);
  });

  it('treats a block cut at the end of the file as a truncated last record', () => {
    const full = Buffer.concat([base(), epb('le', 0, 1n, bytesOf(40)), epb('le', 0, 2n, bytesOf(40))]);
    for (let cut = 1; cut < 72; cut += 7) {
      const { batches, warnings } = read(full.subarray(0, full.length - cut));
      expect(batches.reduce((n, b) => n + b.count, 0)).toBe(1);
      expect(warnings.map((w) => w.code)).toEqual(['WARN_PCAP_TRUNCATED']);
      expect(warnings[0]!.offset).toBe(at + 72);
    }
  });

  it('a file cut inside its first SHB is an error', () => {
    const { err } = failure(shb('le').subarray(0, 20));
    expect(err.code).toBe('ERR_PCAP_TRUNCATED');
  });
});
