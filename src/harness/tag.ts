// Payload tags: 16 bytes a sent packet carries at the start of its payload so that the harness can
// tell which sent packet a captured one is, wherever it arrives and whatever the headers became.
// Layout (big-endian): magic "nmTG" | stream u32 | seq u32 | check u32. The check word ties the
// three others together so a payload that happens to contain the magic is not taken for a tag.

export const TAG_LENGTH = 16;
const MAGIC = 0x6e6d5447; // "nmTG"
const MAGIC_BYTES = Buffer.from([0x6e, 0x6d, 0x54, 0x47]);

export interface PacketTag {
  /** which sender or test the packet belongs to */
  stream: number;
  /** its number within the stream */
  seq: number;
}

function check(stream: number, seq: number): number {
  // A cheap mix: enough to reject accidental magics, not a security device.
  let h = (MAGIC ^ Math.imul(stream, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ seq, 0x85ebca6b) >>> 0;
  return (h ^ (h >>> 13)) >>> 0;
}

export function writeTag(into: Uint8Array, offset: number, tag: PacketTag): void {
  const v = new DataView(into.buffer, into.byteOffset, into.byteLength);
  v.setUint32(offset, MAGIC);
  v.setUint32(offset + 4, tag.stream >>> 0);
  v.setUint32(offset + 8, tag.seq >>> 0);
  v.setUint32(offset + 12, check(tag.stream >>> 0, tag.seq >>> 0));
}

/** The tag at `offset`, or null. */
export function readTag(data: Uint8Array, offset: number): PacketTag | null {
  if (offset < 0 || offset + TAG_LENGTH > data.length) return null;
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (v.getUint32(offset) !== MAGIC) return null;
  const stream = v.getUint32(offset + 4);
  const seq = v.getUint32(offset + 8);
  return v.getUint32(offset + 12) === check(stream, seq) ? { stream, seq } : null;
}

/** The first valid tag anywhere in the packet (encapsulation may have moved it), or null. */
export function findTag(data: Uint8Array, hint = -1): PacketTag | null {
  const at = readTag(data, hint);
  if (at !== null) return at;
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  for (let i = buf.indexOf(MAGIC_BYTES); i >= 0; i = buf.indexOf(MAGIC_BYTES, i + 1)) {
    const t = readTag(buf, i);
    if (t !== null) return t;
  }
  return null;
}
