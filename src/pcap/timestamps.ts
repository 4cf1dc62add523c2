// Exact timestamp arithmetic between pcapng unit counts (a u64 split in two u32 halves, in units of
// 10^-e or 2^-e seconds) and the (whole seconds, nanoseconds) pairs that batches store.
//
// Exactness: decimal resolutions 10^0 .. 10^-9 convert exactly both ways (integer long division on
// 16-bit limbs, every intermediate below 2^53). Resolutions finer than 1 ns (10^-10 and beyond) and
// binary resolutions (2^-n) cannot be represented in nanoseconds: reading floors to the nanosecond
// below. Writing floors to the unit below for decimal resolutions; for binary ones it takes the
// first unit at or after the timestamp, so that read -> write -> read gives the same nanoseconds.
// Seconds are exact while below 2^53 (always, for any u64 count of units at 10^-3 or finer).

import type { TsResolution } from './types.js';

export const RES_MICRO: TsResolution = Object.freeze({ base: 10, exponent: 6 }) as TsResolution;
export const RES_NANO: TsResolution = Object.freeze({ base: 10, exponent: 9 }) as TsResolution;

const TWO32 = 4294967296;
const NS_PER_SEC = 1_000_000_000;

/** How a resolution is converted; chosen once per interface so hot loops branch on a small integer. */
export type TsMode = 0 | 1 | 2 | 3;
/** 10^-6: the pcapng default. */
export const TS_MICRO = 0;
/** 10^-9. */
export const TS_NANO = 1;
/** 10^-e with 0 <= e <= 8, e != 6: divisor 10^e, multiplier 10^(9-e). */
export const TS_DECIMAL = 2;
/** Anything else: through BigInt, floored to the nanosecond. */
export const TS_BIG = 3;

export function tsModeOf(res: TsResolution): TsMode {
  if (res.base === 10) {
    if (res.exponent === 6) return TS_MICRO;
    if (res.exponent === 9) return TS_NANO;
    if (res.exponent >= 0 && res.exponent < 9) return TS_DECIMAL;
  }
  return TS_BIG;
}

/** Decodes the if_tsresol octet. */
export function resolutionFromByte(b: number): TsResolution {
  return (b & 0x80) !== 0 ? { base: 2, exponent: b & 0x7f } : { base: 10, exponent: b & 0x7f };
}

/** Encodes a resolution as the if_tsresol octet. */
export function resolutionToByte(res: TsResolution): number {
  if (!Number.isInteger(res.exponent) || res.exponent < 0 || res.exponent > 127) {
    throw new RangeError(`timestamp resolution exponent must be 0..127, got ${res.exponent}`);
  }
  return res.base === 2 ? 0x80 | res.exponent : res.exponent;
}

/** Units per second as a bigint. */
export function unitsPerSecond(res: TsResolution): bigint {
  return res.base === 10 ? 10n ** BigInt(res.exponent) : 1n << BigInt(res.exponent);
}

/**
 * Scratch output of splitUnits: [0] whole seconds, [1] remainder in units. A typed array rather than
 * an object return so the hot loops allocate nothing.
 */
export const splitOut = new Float64Array(2);

/**
 * Divides the u64 hi*2^32+lo by `divisor` (1 <= divisor < 2^30) exactly: splitOut = [quotient,
 * remainder]. The quotient is exact when below 2^53 (divisor >= 2^11 guarantees it).
 */
export function splitUnits(hi: number, lo: number, divisor: number): void {
  const q1 = Math.floor(hi / divisor);
  let r = hi - q1 * divisor;
  let cur = r * 65536 + (lo >>> 16);
  const q2 = Math.floor(cur / divisor);
  r = cur - q2 * divisor;
  cur = r * 65536 + (lo & 0xffff);
  const q3 = Math.floor(cur / divisor);
  splitOut[0] = q1 * TWO32 + q2 * 65536 + q3;
  splitOut[1] = cur - q3 * divisor;
}

/**
 * Per-interface converter from unit counts to (sec, nsec). Built once per IDB; `convert` writes
 * splitOut = [sec (after tsOffset), nsec].
 */
export class TsConverter {
  readonly mode: TsMode;
  readonly resolution: TsResolution;
  /** 10^e for Decimal mode. */
  readonly divisor: number;
  /** 10^(9-e) for Decimal mode. */
  readonly multiplier: number;
  /** if_tsoffset in seconds as a number when it is safe, else the BigInt path is used. */
  readonly offsetSec: number;
  readonly offsetBig: bigint;
  private readonly perSecond: bigint;
  private readonly bigOnly: boolean;

  constructor(resolution: TsResolution, tsOffset: bigint = 0n) {
    this.resolution = resolution;
    this.offsetBig = tsOffset;
    const safeOffset = tsOffset >= -(2n ** 52n) && tsOffset <= 2n ** 52n;
    this.offsetSec = safeOffset ? Number(tsOffset) : 0;
    this.bigOnly = !safeOffset;
    this.mode = safeOffset ? tsModeOf(resolution) : TS_BIG;
    this.divisor = resolution.base === 10 && resolution.exponent <= 9 ? 10 ** resolution.exponent : 0;
    this.multiplier = resolution.base === 10 && resolution.exponent <= 9 ? 10 ** (9 - resolution.exponent) : 0;
    this.perSecond = unitsPerSecond(resolution);
  }

  /** splitOut = [sec, nsec] for the unit count hi*2^32+lo. */
  convert(hi: number, lo: number): void {
    switch (this.mode) {
      case TS_MICRO:
        if (hi < 0x200000) {
          // Below 2^53: one float division, then fix the quotient if rounding pushed it up.
          const u = hi * TWO32 + lo;
          let sec = Math.floor(u / 1e6);
          let rem = u - sec * 1e6;
          if (rem < 0) {
            sec -= 1;
            rem += 1e6;
          }
          splitOut[0] = sec + this.offsetSec;
          splitOut[1] = rem * 1000;
          return;
        }
        splitUnits(hi, lo, 1e6);
        splitOut[0] += this.offsetSec;
        splitOut[1] *= 1000;
        return;
      case TS_NANO:
        splitUnits(hi, lo, NS_PER_SEC);
        splitOut[0] += this.offsetSec;
        return;
      case TS_DECIMAL:
        splitUnits(hi, lo, this.divisor);
        splitOut[0] += this.offsetSec;
        splitOut[1] *= this.multiplier;
        return;
      default:
        this.convertBig(hi, lo);
    }
  }

  private convertBig(hi: number, lo: number): void {
    const units = (BigInt(hi) << 32n) | BigInt(lo);
    const ns = this.unitsToNs(units);
    const sec = floorDiv(ns, 1_000_000_000n);
    splitOut[0] = Number(sec);
    splitOut[1] = Number(ns - sec * 1_000_000_000n);
  }

  /** Exact (or floored, see the file comment) ns since the epoch for a unit count, offset applied. */
  unitsToNs(units: bigint): bigint {
    const res = this.resolution;
    let ns: bigint;
    if (res.base === 10) {
      const e = res.exponent;
      ns = e <= 9 ? units * 10n ** BigInt(9 - e) : units / 10n ** BigInt(e - 9);
    } else {
      // floor(units * 1e9 / 2^n); units >= 0 so the shift floors.
      ns = (units * 1_000_000_000n) >> BigInt(res.exponent);
    }
    return ns + this.offsetBig * 1_000_000_000n;
  }

  /** True when every conversion goes through BigInt (absurd tsOffset). */
  get slow(): boolean {
    return this.bigOnly;
  }

  /** Units per second (10^e or 2^e). */
  get unitsPerSec(): bigint {
    return this.perSecond;
  }
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}

/** ns since the epoch from a batch's (tsSec, tsNsec) pair; null for the "no timestamp" marker. */
export function secNsecToNs(sec: number, nsec: number): bigint | null {
  if (nsec === 0xffffffff) return null;
  return BigInt(sec) * 1_000_000_000n + BigInt(nsec);
}

/**
 * Unit count for a timestamp given in ns, at `res`: floored for decimal resolutions coarser than
 * 1 ns, exact for finer decimal ones, and for binary resolutions the first unit at or after the
 * timestamp (so a timestamp read from a file writes back to the units it came from). Negative
 * results and results over 64 bits throw RangeError.
 */
export function nsToUnits(ns: bigint, res: TsResolution): bigint {
  let units: bigint;
  if (res.base === 10) {
    const e = res.exponent;
    if (e <= 9) units = floorDiv(ns, 10n ** BigInt(9 - e));
    else units = ns * 10n ** BigInt(e - 9);
  } else {
    // Ceiling, not floor: the reader floors units to ns, and the first unit at or after a
    // timestamp is the one that reads back as that same timestamp (read -> write -> read is stable).
    const scaled = ns << BigInt(res.exponent);
    units = -floorDiv(-scaled, 1_000_000_000n);
  }
  if (units < 0n || units > 0xffffffffffffffffn) {
    throw new RangeError(`timestamp ${ns} ns does not fit a u64 count of the interface's units`);
  }
  return units;
}

/**
 * Scratch output of secNsecToUnits: [hi, lo] halves of the unit count. Returns false when the fast
 * path cannot be exact (the caller then goes through nsToUnits).
 */
export const unitsOut = new Uint32Array(2);

/** (sec, nsec) -> unit count halves in unitsOut, for Micro, Nano and Decimal modes. */
export function secNsecToUnits(sec: number, nsec: number, mode: TsMode, divisor: number, multiplier: number): boolean {
  if (sec < 0 || sec >= 17179869184 /* 2^34 */) return false;
  if (mode === TS_MICRO) {
    const u = sec * 1e6 + Math.floor(nsec / 1000);
    if (u > Number.MAX_SAFE_INTEGER) return false;
    const hi = Math.floor(u / TWO32);
    unitsOut[0] = hi;
    unitsOut[1] = u - hi * TWO32;
    return true;
  }
  if (mode === TS_NANO) {
    // sec = sH*65536 + sL; value = (sH*1e9)*65536 + sL*1e9 + nsec, every term exact below 2^53.
    const sH = Math.floor(sec / 65536);
    const sL = sec - sH * 65536;
    const low = sL * 1e9 + nsec;
    const x = sH * 1e9;
    const xH = Math.floor(x / 65536);
    const t = (x - xH * 65536) * 65536 + low;
    const carry = Math.floor(t / TWO32);
    unitsOut[0] = xH + carry;
    unitsOut[1] = t - carry * TWO32;
    return true;
  }
  if (mode === TS_DECIMAL) {
    // divisor <= 1e8 and sec < 2^34: the product stays below 2^61... only exact below 2^53.
    const u = sec * divisor + Math.floor(nsec / multiplier);
    if (u > Number.MAX_SAFE_INTEGER) return false;
    const hi = Math.floor(u / TWO32);
    unitsOut[0] = hi;
    unitsOut[1] = u - hi * TWO32;
    return true;
  }
  return false;
}
