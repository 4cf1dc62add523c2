// The native capture thread writes EPBs itself (the only pcapng it writes); src/pcap is the
// reference. Both must produce the same bytes, and our reader must read the native ones back.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeEPB, encodeIDB, encodeSHB, readPacketsSync } from '../../src/pcap/index.js';
import { native } from '../../src/ports/binding.js';
import { nativeTest } from '../helpers/native-test.js';

describe('native EPB encoder', () => {
  it('declares its byte order: little-endian, whatever the host', () => {
    expect(native.epbByteOrder).toBe('le');
    const b = nativeTest.encodeEpb(0, 0n, new Uint8Array(0), 0);
    expect(b.readUInt32LE(0)).toBe(6); // block type, stored little-endian
    expect(b.readUInt32LE(4)).toBe(32);
  });

  it('matches src/pcap encodeEPB byte for byte', () => {
    fc.assert(
      fc.property(
        fc.nat(7),
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        fc.uint8Array({ maxLength: 1600 }),
        fc.nat(9000),
        (iface, ts, data, extra) => {
          const wire = data.length + extra;
          const ours = nativeTest.encodeEpb(iface, ts, data, wire);
          const ref = encodeEPB(iface, ts, data, wire, undefined, native.epbByteOrder);
          expect(Buffer.compare(ours, ref)).toBe(0);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('writes blocks our reader reads back exactly', () => {
    const data = Buffer.from('0123456789abcdefg'); // 17 bytes: needs padding
    const file = Buffer.concat([
      encodeSHB({}, native.epbByteOrder),
      encodeIDB({ linkType: 1, snapLen: 0 }, native.epbByteOrder),
      nativeTest.encodeEpb(0, 1_700_000_000_123_456_789n, data, 60),
    ]);
    const [p] = readPacketsSync(file);
    expect(p.ts).toBe(1_700_000_000_123_456_789n);
    expect(p.origLen).toBe(60);
    expect(Buffer.from(p.data).equals(data)).toBe(true);
  });
});
