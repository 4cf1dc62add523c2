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
  /** the comparable bytes (a view of `d` when nothing needs clearing) */
  bytes(d: Uint8Array): Uint8Array;
  /** the comparable bytes as a Map key */
  key(d: Uint8Array): string;
}

const NON_BYTE_FIELDS = new Set(['ts', 'frame.len']);

export function normalizer(o: MatchOptions): Normalizer {
  const fields = [...new Set([...(o.ignore ?? []), ...(o.predicates ?? []).flatMap((p) => p.covers)])].filter((f) => !NON_BYTE_FIELDS.has(f)).sort();
  const ignoreTrailing = o.ignoreTrailing === true || (o.ignore ?? []).includes('frame.len');
  const mask = o.mask;
  const signature = `${fields.join(',')}|${ignoreTrailing ? 1 : 0}|${mask ? Buffer.from(mask).toString('hex') : ''}`;
  const copyNeeded = fields.length > 0 || mask !== undefined;
  const bytes = (d: Uint8Array): Uint8Array => {
    const L = layoutOf(d);
    let end = d.length;
    if (L.ipVersion !== 0 && (ignoreTrailing || d.length <= ETH_MIN_FRAME)) end = Math.min(end, L.ipEnd);
    else if (d.length <= ETH_MIN_FRAME) while (end > 14 && d[end - 1] === 0) end--;
    if (!copyNeeded) return d.subarray(0, end);
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
    bytes,
    key: (d) => {
      const b = bytes(d);
      return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
    },
  };
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
