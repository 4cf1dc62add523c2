// The comparable form of a packet under a set of match options: named fields cleared, don't-care
// bits masked, Ethernet padding (frames of 60 bytes or less) and, when asked, trailers cut off at
// the end the IP header declares. Two packets match when their comparable forms are equal (or, for
// a non-IP packet with ignoreTrailing, when the expected one is a prefix of the received one).
import { layoutOf, locate } from './decode.js';
import { ETH_MIN_FRAME } from './build.js';
import type { MatchOptions } from './expect.js';

export interface Normalizer {
  /** a stable text of the options, so that expectations with the same options share one index */
  readonly signature: string;
  readonly ignoreTrailing: boolean;
  /** false when the comparable form is a prefix of the packet itself (no field cleared, no mask) */
  readonly copies: boolean;
  /** how many leading bytes of the packet are compared */
  end(d: Uint8Array): number;
  /** the comparable bytes (a view of `d` when nothing needs clearing) */
  bytes(d: Uint8Array): Uint8Array;
}

/** FNV-1a over bytes [0, end): the matcher's index key (collisions are resolved by comparing bytes). */
export function hashBytes(d: Uint8Array, end: number = d.length): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < end; i++) h = Math.imul(h ^ d[i]!, 0x01000193);
  return (h ^ (h >>> 30)) & 0x3fffffff; // 30 bits: a small integer, which Maps hash fastest
}

/** Are a[0, aEnd) and b[0, bEnd) the same bytes? */
export function sameBytes(a: Uint8Array, aEnd: number, b: Uint8Array, bEnd: number): boolean {
  if (aEnd !== bEnd) return false;
  for (let i = 0; i < aEnd; i++) if (a[i] !== b[i]) return false;
  return true;
}

const NON_BYTE_FIELDS = new Set(['ts', 'frame.len']);

export function normalizer(o: MatchOptions): Normalizer {
  const fields = [...new Set([...(o.ignore ?? []), ...(o.predicates ?? []).flatMap((p) => p.covers)])].filter((f) => !NON_BYTE_FIELDS.has(f)).sort();
  const ignoreTrailing = o.ignoreTrailing === true || (o.ignore ?? []).includes('frame.len');
  const mask = o.mask;
  const signature = `${fields.join(',')}|${ignoreTrailing ? 1 : 0}|${mask ? Buffer.from(mask).toString('hex') : ''}`;
  const copyNeeded = fields.length > 0 || mask !== undefined;
  const endOf = (d: Uint8Array): number => {
    let end = d.length;
    if (ignoreTrailing || d.length <= ETH_MIN_FRAME) {
      const ipEnd = ipEndOf(d);
      if (ipEnd >= 0) end = Math.min(end, ipEnd);
      else if (d.length <= ETH_MIN_FRAME) while (end > 14 && d[end - 1] === 0) end--;
    }
    return end;
  };
  const bytes = (d: Uint8Array): Uint8Array => {
    const end = endOf(d);
    if (!copyNeeded) return d.subarray(0, end);
    const L = layoutOf(d);
    const out = Uint8Array.prototype.slice.call(d, 0, end);
    for (const f of fields) {
      const loc = locate(f, L, out);
      if (loc === null) continue;
      if (loc.format === 'bytes') out.fill(0, loc.off, Math.min(end, loc.off + loc.bits / 8));
      else clearFieldBits(out, loc.off, loc.bits, loc.shift);
    }
    if (mask) for (let i = 0; i < Math.min(mask.length, out.length); i++) out[i]! &= mask[i]!;
    return out;
  };
  return {
    signature,
    ignoreTrailing,
    copies: copyNeeded,
    end: endOf,
    bytes,
  };
}

/**
 * Where the IP datagram ends as its header says (bytes after it are padding or a trailer), or -1
 * when the frame is not IPv4/IPv6 (up to two VLAN tags) or the header does not fit. Allocation-free:
 * it runs once per packet on the matcher's fast path.
 */
export function ipEndOf(d: Uint8Array): number {
  if (d.length < 14) return -1;
  let p = 12;
  let t = (d[p]! << 8) | d[p + 1]!;
  for (let k = 0; k < 2 && (t === 0x8100 || t === 0x88a8 || t === 0x9100) && p + 6 <= d.length; k++) {
    p += 4;
    t = (d[p]! << 8) | d[p + 1]!;
  }
  p += 2;
  if (t === 0x0800 && p + 20 <= d.length && d[p]! >> 4 === 4) {
    const end = p + ((d[p + 2]! << 8) | d[p + 3]!);
    return end <= d.length && end >= p + 20 ? end : -1;
  }
  if (t === 0x86dd && p + 40 <= d.length && d[p]! >> 4 === 6) {
    const end = p + 40 + ((d[p + 4]! << 8) | d[p + 5]!);
    return end <= d.length ? end : -1;
  }
  return -1;
}

function clearFieldBits(d: Uint8Array, off: number, bits: number, shift: number): void {
  const nbytes = Math.ceil((shift + bits) / 8);
  for (let i = 0; i < nbytes && off + i < d.length; i++) {
    const lo = Math.max(shift - i * 8, 0);
    const hi = Math.min(shift + bits - i * 8, 8);
    if (hi > lo) d[off + i]! &= ~((0xff >> lo) & (0xff << (8 - hi)) & 0xff);
  }
}

/** Do two packets match under the normalizer (the slow path, for leftovers)? */
export function sameUnder(n: Normalizer, expected: Uint8Array, actual: Uint8Array): boolean {
  const e = n.bytes(expected);
  const a = n.bytes(actual);
  if (e.length === a.length || (n.ignoreTrailing && a.length > e.length)) {
    for (let i = 0; i < e.length; i++) if (e[i] !== a[i]) return false;
    return true;
  }
  return false;
}
