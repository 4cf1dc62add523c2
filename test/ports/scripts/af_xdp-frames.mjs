// Test frames shared by the af_xdp child scripts and tests: deterministic Ethernet frames of
// 60 to 1514 bytes with a local experimental EtherType (0x88b5, nothing in the stack answers
// it), a sequence number and a position-dependent payload; pcap files go through src/pcap.
import { createRequire } from 'node:module';
import { readFileSync, writeFileSync } from 'node:fs';

import { encodePcapHeader, encodePcapRecord, readPacketsSync } from '../../../dist/pcap/index.js';

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

/** Classic pcap through src/pcap's encoders (dist/, built by npm test). */
export function writePcap(path, frames) {
  const records = frames.map((f) => encodePcapRecord(0, 0, f));
  writeFileSync(path, Buffer.concat([encodePcapHeader({ linkType: 1, snapLen: 65535 }), ...records]));
}

/**
 * Reads a capture file with src/pcap's reader; returns each record's bytes and time (ns). A file
 * tcpdump has only begun to write (not even a whole header yet) reads as empty.
 */
export function readPcap(path) {
  const bytes = readFileSync(path);
  if (bytes.length < 24) return [];
  return readPacketsSync(bytes).map((p) => ({ data: p.data, tsNs: p.ts }));
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
