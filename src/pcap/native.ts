// The addon's helpers of src/pcap's hot loops, one call per chunk or batch so that nothing
// waits for the JIT to warm a per-packet JS loop (and pageOffset, for where reads land):
//  - the walker of classic pcap records (native/js/js_pcap_walk.h) behind the reader's default
//    mode; the parser keeps its own loop as the reference (hosts without the addon, or
//    NMCAP_JS_READER=1) and composes every error and warning text itself
//    (test/pcap/native-reader.test.ts reads every fixture, truncation and mutation both ways);
//  - the EPB encoder (native/js/js_epb_batch.h) behind PcapngWriter.writeBatch's fast path; the
//    writer keeps its own loop as the reference (NMCAP_JS_WRITER=1), and
//    test/pcap/native-writer.test.ts checks the two write the same bytes.
import { createRequire } from 'node:module';

/** walk()'s answers: why it stopped (native/js/js_pcap_walk.cc). */
export const WALK_NEED = 1;
export const WALK_FLUSH = 2;
export const WALK_BAD_CAPLEN = 3;
/** Slots of the state array walk() leaves its results in. */
export const WALK_POS = 0;
export const WALK_COUNT = 1;
export const WALK_NEED_BYTES = 2;
/** File offset of the first record whose fraction was carried into the seconds, or -1. */
export const WALK_WARN_AT = 3;

export interface NativePcapRecordWalker {
  walk(
    chunk: Buffer,
    pos: number,
    end: number,
    base: number,
    dataOffset: Uint32Array,
    capLen: Uint32Array,
    origLen: Uint32Array,
    tsSec: Float64Array,
    tsNsec: Uint32Array,
    count: number,
    capacity: number,
  ): number;
}

type WalkerClass = new (fileHeader: Buffer, maxBlockLength: number, state: Float64Array) => NativePcapRecordWalker;

/**
 * Encodes packets [from, to) of a batch as little-endian EPBs of interface `iface` into out[at, lim);
 * returns the index of the first packet it left (to, or one without timestamp, with seconds
 * outside [0, 2^32), or whose EPB does not fit); state[0] is then the new write position.
 */
export type EncodeEpbs = (
  src: Buffer,
  dataOffset: Uint32Array,
  capLen: Uint32Array,
  origLen: Uint32Array,
  tsSec: Float64Array,
  tsNsec: Uint32Array,
  from: number,
  to: number,
  out: Buffer,
  at: number,
  lim: number,
  iface: number,
  nano: boolean,
  state: Float64Array,
) => number;

interface PcapHelpers {
  PcapRecordWalker?: WalkerClass;
  encodeEpbs?: EncodeEpbs;
  pageOffset?: (b: Uint8Array) => number;
}

let helpers: PcapHelpers | undefined;

/** The addon's helpers, or none where the addon is not built (the JS loops then work alone). */
function addon(): PcapHelpers {
  if (helpers === undefined) {
    try {
      // The addon src/ports/binding.ts loads (the same module: require caches it).
      helpers = createRequire(import.meta.url)('../../build/Release/nmcap.node') as PcapHelpers;
    } catch {
      helpers = {};
    }
  }
  return helpers;
}

/** A native walker for a file whose (already checked) 24-byte header is given, or undefined. */
export function nativePcapWalker(fileHeader: Buffer, maxBlockLength: number, state: Float64Array): NativePcapRecordWalker | undefined {
  if (process.env.NMCAP_JS_READER === '1') return undefined;
  const W = addon().PcapRecordWalker;
  return typeof W === 'function' ? new W(fileHeader, maxBlockLength, state) : undefined;
}

/** Where b's first byte sits in its page (0-4095), or undefined without the addon (see sources.ts). */
export function pageOffset(b: Uint8Array): number | undefined {
  const f = addon().pageOffset;
  return typeof f === 'function' ? f(b) : undefined;
}

/** The native EPB encoder, or undefined (no addon, or NMCAP_JS_WRITER=1). */
export function nativeEpbEncoder(): EncodeEpbs | undefined {
  if (process.env.NMCAP_JS_WRITER === '1') return undefined;
  const f = addon().encodeEpbs;
  return typeof f === 'function' ? f : undefined;
}
