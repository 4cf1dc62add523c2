// The native walker of classic pcap records (native/js/js_pcap_walk.h) that backs the reader's
// default mode: one call per chunk fills the batch's arrays, so a cold read does not wait for the
// JIT to warm the JS loop. The parser keeps its own loop as the reference (and for hosts without
// the addon, or NMCAP_JS_READER=1); every error and warning text is still composed in parser.ts.
// test/pcap/native-reader.test.ts reads every fixture, truncation and mutation both ways.
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

let walkerClass: WalkerClass | null | undefined;

/** The addon's walker class, or null where the addon is not built (the JS loop then reads alone). */
function nativeWalkerClass(): WalkerClass | null {
  if (walkerClass === undefined) {
    try {
      // The addon src/ports/binding.ts loads (the same module: require caches it).
      const addon = createRequire(import.meta.url)('../../build/Release/nmcap.node') as { PcapRecordWalker?: WalkerClass };
      walkerClass = typeof addon.PcapRecordWalker === 'function' ? addon.PcapRecordWalker : null;
    } catch {
      walkerClass = null;
    }
  }
  return walkerClass;
}

/** A native walker for a file whose (already checked) 24-byte header is given, or undefined. */
export function nativePcapWalker(fileHeader: Buffer, maxBlockLength: number, state: Float64Array): NativePcapRecordWalker | undefined {
  if (process.env.NMCAP_JS_READER === '1') return undefined;
  const W = nativeWalkerClass();
  return W === null ? undefined : new W(fileHeader, maxBlockLength, state);
}
