// Byte-order specific integer access on Uint8Array without DataView objects, plus the string and
// address decoding the block parsers share. Small functions: V8 inlines them into the loops.

export type U32Reader = (b: Uint8Array, p: number) => number;
export type U16Reader = (b: Uint8Array, p: number) => number;

export function u32le(b: Uint8Array, p: number): number {
  return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
}
export function u32be(b: Uint8Array, p: number): number {
  return ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
}
export function u16le(b: Uint8Array, p: number): number {
  return b[p]! | (b[p + 1]! << 8);
}
export function u16be(b: Uint8Array, p: number): number {
  return (b[p]! << 8) | b[p + 1]!;
}

export function u32(b: Uint8Array, p: number, le: boolean): number {
  return le ? u32le(b, p) : u32be(b, p);
}
export function u16(b: Uint8Array, p: number, le: boolean): number {
  return le ? u16le(b, p) : u16be(b, p);
}
/** A u64 stored as one 64-bit integer in the section's byte order. */
export function u64(b: Uint8Array, p: number, le: boolean): bigint {
  const lo = le ? u32le(b, p) : u32be(b, p + 4);
  const hi = le ? u32le(b, p + 4) : u32be(b, p);
  return (BigInt(hi) << 32n) | BigInt(lo);
}
/** An s64 stored as one 64-bit integer in the section's byte order. */
export function s64(b: Uint8Array, p: number, le: boolean): bigint {
  return BigInt.asIntN(64, u64(b, p, le));
}

export function putU32le(b: Uint8Array, p: number, v: number): void {
  b[p] = v;
  b[p + 1] = v >>> 8;
  b[p + 2] = v >>> 16;
  b[p + 3] = v >>> 24;
}
export function putU32be(b: Uint8Array, p: number, v: number): void {
  b[p] = v >>> 24;
  b[p + 1] = v >>> 16;
  b[p + 2] = v >>> 8;
  b[p + 3] = v;
}
export function putU32(b: Uint8Array, p: number, v: number, le: boolean): void {
  if (le) putU32le(b, p, v);
  else putU32be(b, p, v);
}
export function putU16(b: Uint8Array, p: number, v: number, le: boolean): void {
  if (le) {
    b[p] = v;
    b[p + 1] = v >>> 8;
  } else {
    b[p] = v >>> 8;
    b[p + 1] = v;
  }
}
/** Writes a u64 as one 64-bit integer in the given byte order. */
export function putU64(b: Uint8Array, p: number, v: bigint, le: boolean): void {
  const x = BigInt.asUintN(64, v);
  const hi = Number(x >> 32n);
  const lo = Number(x & 0xffffffffn);
  if (le) {
    putU32le(b, p, lo);
    putU32le(b, p + 4, hi);
  } else {
    putU32be(b, p, hi);
    putU32be(b, p + 4, lo);
  }
}

/** A plain Uint8Array copy of b[start, end) (not a Buffer, not a view). */
export function copyBytes(b: Uint8Array, start: number, end: number): Uint8Array {
  const out = new Uint8Array(end - start);
  out.set(b.subarray(start, end));
  return out;
}

/** Rounds a length up to the next multiple of 4. */
export function pad4(n: number): number {
  return (n + 3) & ~3;
}

const utf8 = new TextDecoder('utf-8');

/**
 * A pcapng string option: UTF-8, not necessarily NUL-terminated, and a NUL ends it (the spec says a
 * reader MUST treat a zero octet as a terminator). Invalid sequences become U+FFFD.
 */
export function readString(b: Uint8Array, start: number, end: number): string {
  let stop = start;
  while (stop < end && b[stop] !== 0) stop++;
  return utf8.decode(b.subarray(start, stop));
}

/** NUL-terminated strings packed back to back (NRB names). A trailing unterminated string counts. */
export function readStrings(b: Uint8Array, start: number, end: number): string[] {
  const out: string[] = [];
  let s = start;
  while (s < end) {
    let e = s;
    while (e < end && b[e] !== 0) e++;
    out.push(utf8.decode(b.subarray(s, e)));
    s = e + 1;
  }
  return out;
}

export function ipv4String(b: Uint8Array, p: number): string {
  return `${b[p]}.${b[p + 1]}.${b[p + 2]}.${b[p + 3]}`;
}

/** RFC 5952 text form of the 16 octets at p (longest run of zero groups compressed). */
export function ipv6String(b: Uint8Array, p: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((b[p + 2 * i]! << 8) | b[p + 2 * i + 1]!);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  const head = hex.slice(0, bestStart).join(':');
  const tail = hex.slice(bestStart + bestLen).join(':');
  return `${head}::${tail}`;
}

/** Colon-separated lower-case hex octets (MAC / EUI addresses). */
export function hexOctets(b: Uint8Array, p: number, n: number): string {
  const parts: string[] = [];
  for (let i = 0; i < n; i++) parts.push(b[p + i]!.toString(16).padStart(2, '0'));
  return parts.join(':');
}
