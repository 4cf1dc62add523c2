// Test frames shared by the af_xdp child scripts and tests: deterministic Ethernet frames of
// 60 to 1514 bytes with a local experimental EtherType (0x88b5, nothing in the stack answers
// it), a sequence number and a position-dependent payload; plus a minimal pcap reader/writer.
import { createRequire } from 'node:module';
import { readFileSync, writeFileSync } from 'node:fs';

export const ETHERTYPE = 0x88b5;

export function frameLen(i) {
  if (i === 1) return 1514;
  return 60 + ((i * 97) % 1455);
}

export function frame(i) {
  const len = frameLen(i);
  const b = Buffer.alloc(len);
  Buffer.from([0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, ETHERTYPE >> 8, ETHERTYPE & 0xff]).copy(b);
  b.writeUInt32BE(i, 14);
  for (let k = 18; k < len; k++) b[k] = (i * 7 + k) & 0xff;
  return b;
}

/** Sequence number of one of our frames, or -1 for anything else (stray traffic). */
export function seqOf(buf) {
  if (buf.length < 18 || buf.readUInt16BE(12) !== ETHERTYPE) return -1;
  return buf.readUInt32BE(14);
}

export function writePcap(path, frames) {
  const hdr = Buffer.alloc(24);
  hdr.writeUInt32LE(0xa1b2c3d4, 0);
  hdr.writeUInt16LE(2, 4);
  hdr.writeUInt16LE(4, 6);
  hdr.writeUInt32LE(65535, 16);
  hdr.writeUInt32LE(1, 20);
  const parts = [hdr];
  for (const f of frames) {
    const rec = Buffer.alloc(16);
    rec.writeUInt32LE(f.length, 8);
    rec.writeUInt32LE(f.length, 12);
    parts.push(rec, f);
  }
  writeFileSync(path, Buffer.concat(parts));
}

/** Reads a classic pcap file (either byte order, us or ns); returns each record's bytes and time (ns). */
export function readPcap(path) {
  const b = readFileSync(path);
  if (b.length < 24) return [];
  const magicLE = b.readUInt32LE(0);
  const le = magicLE === 0xa1b2c3d4 || magicLE === 0xa1b23c4d;
  const magic = le ? magicLE : b.readUInt32BE(0);
  const nano = magic === 0xa1b23c4d;
  const u32 = (o) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const out = [];
  for (let o = 24; o + 16 <= b.length; ) {
    const caplen = u32(o + 8);
    if (o + 16 + caplen > b.length) break;
    const tsNs = BigInt(u32(o)) * 1000000000n + BigInt(u32(o + 4)) * (nano ? 1n : 1000n);
    out.push({ data: b.subarray(o + 16, o + 16 + caplen), tsNs });
    o += 16 + caplen;
  }
  return out;
}

/** The addon, loaded like src/ports/binding.ts does. */
export function addon() {
  const require = createRequire(import.meta.url);
  return require('../../../build/Release/nmcap.node');
}

export function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
}
