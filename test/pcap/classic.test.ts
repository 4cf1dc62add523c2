import { describe, expect, it } from 'vitest';
import { PcapFormatError, readBatchesSync, readPacketsSync, type PcapWarning } from '../../src/pcap/index.js';
import { bytesOf, pcapHeader, pcapRecord, type Order } from '../helpers/hand.js';

function collect(buf: Buffer): { packets: ReturnType<typeof readPacketsSync>; warnings: PcapWarning[] } {
  const warnings: PcapWarning[] = [];
  const packets = readPacketsSync(buf, { onWarning: (w) => warnings.push(w) });
  return { packets, warnings };
}

function errorOf(buf: Buffer): { err: PcapFormatError; delivered: number } {
  let delivered = 0;
  try {
    for (const b of readBatchesSync(buf)) delivered += b.count;
  } catch (e) {
    expect(e).toBeInstanceOf(PcapFormatError);
    return { err: e as PcapFormatError, delivered };
  }
  throw new Error('expected a PcapFormatError');
}

describe('classic pcap', () => {
  for (const order of ['le', 'be'] as Order[]) {
    for (const nanos of [false, true]) {
      it(`reads ${nanos ? 'nanosecond' : 'microsecond'} files in ${order} byte order`, () => {
        const frac = nanos ? 123456789 : 123456;
        const file = Buffer.concat([
          pcapHeader(order, nanos, 65535, 1),
          pcapRecord(order, 1700000000, frac, bytesOf(60, 1)),
          pcapRecord(order, 1700000001, 0, bytesOf(33, 2), 1500),
        ]);
        const { packets, warnings } = collect(file);
        expect(warnings).toEqual([]);
        expect(packets).toHaveLength(2);
        const p0 = packets[0]!;
        expect(p0.ts).toBe(1700000000n * 1_000_000_000n + BigInt(nanos ? 123456789 : 123456000));
        expect(p0.capLen).toBe(60);
        expect(p0.origLen).toBe(60);
        expect(p0.linkType).toBe(1);
        expect(p0.interface).toBe(0);
        expect(p0.blockType).toBe('pcap');
        expect(Buffer.compare(p0.data, bytesOf(60, 1))).toBe(0);
        expect(packets[1]!.origLen).toBe(1500);
        expect(packets[1]!.capLen).toBe(33);
        const s = p0.section;
        expect(s.format).toBe('pcap');
        expect(s.byteOrder).toBe(order);
        expect(s.version).toEqual({ major: 2, minor: 4 });
        expect(s.sectionLength).toBe(-1n);
        expect(s.interfaces[0]!.snapLen).toBe(65535);
        expect(s.interfaces[0]!.tsResolution).toEqual({ base: 10, exponent: nanos ? 9 : 6 });
      });
    }
  }

  it('hands out packet data as views into the input, not copies', () => {
    const file = Buffer.concat([pcapHeader('le', false, 65535, 1), pcapRecord('le', 1, 2, bytesOf(10))]);
    const [batch] = [...readBatchesSync(file)];
    const view = batch!.data(0);
    expect(view.buffer).toBe(file.buffer);
    file[24 + 16] = 0xee;
    expect(view[0]).toBe(0xee);
  });

  it('decodes the FCS length bits of the link-type word', () => {
    // FCS len 2 (16-bit words) with the P bit: a 4-octet FCS, i.e. 32 bits.
    const word = (2 << 28) | 0x04000000 | 1;
    const [p] = collect(Buffer.concat([pcapHeader('be', false, 1000, word), pcapRecord('be', 5, 6, bytesOf(4))])).packets;
    expect(p!.linkType).toBe(1);
    expect(p!.section.interfaces[0]!.fcsLen).toBe(32);
    const [q] = collect(Buffer.concat([pcapHeader('le', false, 1000, 105), pcapRecord('le', 5, 6, bytesOf(4))])).packets;
    expect(q!.linkType).toBe(105);
    expect(q!.section.interfaces[0]!.fcsLen).toBeUndefined();
  });

  it('refuses reserved bits in the link-type word', () => {
    const { err } = errorOf(pcapHeader('le', false, 1000, 0x00010001));
    expect(err.code).toBe('ERR_PCAP_BAD_LINKTYPE');
    expect(err.offset).toBe(20);
  });

  it('refuses unsupported versions', () => {
    const { err } = errorOf(pcapHeader('le', false, 1000, 1, [3, 0]));
    expect(err.code).toBe('ERR_PCAP_UNSUPPORTED_VERSION');
    expect(err.offset).toBe(4);
  });

  it('refuses a wrong magic with the bytes it saw', () => {
    const { err } = errorOf(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
    expect(err.code).toBe('ERR_PCAP_BAD_MAGIC');
    expect(err.offset).toBe(0);
    expect(err.message).toMatch(/0x47455420/);
  });

  it('an empty file or a cut header is an error, not a warning', () => {
    expect(errorOf(Buffer.alloc(0)).err.code).toBe('ERR_PCAP_TRUNCATED');
    expect(errorOf(pcapHeader('le', false, 10, 1).subarray(0, 10)).err.code).toBe('ERR_PCAP_TRUNCATED');
  });

  it('a last record cut short yields the complete packets and one warning', () => {
    const full = Buffer.concat([
      pcapHeader('le', false, 65535, 1),
      pcapRecord('le', 1, 0, bytesOf(40)),
      pcapRecord('le', 2, 0, bytesOf(40)),
      pcapRecord('le', 3, 0, bytesOf(40)),
    ]);
    for (const cut of [1, 5, 16, 20, 55]) {
      const { packets, warnings } = collect(full.subarray(0, full.length - cut));
      expect(packets).toHaveLength(2);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]!.code).toBe('WARN_PCAP_TRUNCATED');
      expect(warnings[0]!.offset).toBe(24 + 2 * 56);
    }
  });

  it('refuses a captured length beyond reason, after delivering the packets before it', () => {
    const file = Buffer.concat([
      pcapHeader('le', false, 65535, 1),
      pcapRecord('le', 1, 0, bytesOf(40)),
      Buffer.concat([pcapRecord('le', 2, 0, Buffer.alloc(0)).subarray(0, 8), Buffer.from([0, 0, 0, 0x40, 0, 0, 0, 0x40])]),
    ]);
    const { err, delivered } = errorOf(file);
    expect(delivered).toBe(1);
    expect(err.code).toBe('ERR_PCAP_BAD_CAPLEN');
    expect(err.offset).toBe(24 + 56 + 8);
  });

  it('accepts a captured length above a small snaplen up to 256 KiB, as libpcap does', () => {
    const file = Buffer.concat([pcapHeader('le', false, 64, 1), pcapRecord('le', 1, 0, bytesOf(1000))]);
    expect(collect(file).packets[0]!.capLen).toBe(1000);
  });

  it('carries a timestamp fraction of a second or more into the seconds, with a warning', () => {
    const file = Buffer.concat([pcapHeader('le', false, 64, 1), pcapRecord('le', 10, 2_500_000, bytesOf(4))]);
    const { packets, warnings } = collect(file);
    expect(packets[0]!.ts).toBe(12_500_000_000n);
    expect(warnings.map((w) => w.code)).toEqual(['WARN_PCAP_BAD_TIMESTAMP']);
  });

  it('keeps whole-second timestamps up to 2^32-1 exact', () => {
    const file = Buffer.concat([pcapHeader('be', true, 64, 1), pcapRecord('be', 0xffffffff, 999_999_999, bytesOf(4))]);
    expect(collect(file).packets[0]!.ts).toBe(4294967295_999_999_999n);
  });

  it('splits batches at batchPackets and records the header first', () => {
    const recs = Array.from({ length: 10 }, (_, i) => pcapRecord('le', i, 0, bytesOf(i)));
    const batches = [...readBatchesSync(Buffer.concat([pcapHeader('le', false, 64, 1), ...recs]), { batchPackets: 4 })];
    expect(batches.map((b) => b.count)).toEqual([4, 4, 2]);
    expect(batches[0]!.records.map((r) => r.kind)).toEqual(['pcap-header']);
    expect(batches[1]!.records).toEqual([]);
    expect(batches[2]!.ts(1)).toBe(9_000_000_000n);
  });
});
