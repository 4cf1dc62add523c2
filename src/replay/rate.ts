// --rate values: packets per second ("10Mpps", "250kpps", "5000") or bits per second ("1Gbps",
// "100Mbps"). SI prefixes (x1000), as tcpreplay and trafgen count rates. Kept as an exact
// rational so the native schedule never sees a rounded float.
import { UsageError } from '../errors.js';

export interface Rate {
  unit: 'pps' | 'bps';
  /** rate = num / den per second */
  num: number;
  den: number;
}

const PREFIX: Record<string, number> = { '': 0, k: 3, K: 3, M: 6, G: 9, T: 12 };

/** A decimal string ("2.5", "1e6", "1.5E3") as an exact fraction num / 10^scale (num a safe integer). */
function decimal(text: string): { num: number; scale: number } | null {
  const m = /^(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d{1,2}))?$/.exec(text);
  if (!m) return null;
  const frac = m[2] ?? '';
  const num = Number(m[1] + frac);
  if (!Number.isSafeInteger(num)) return null;
  return { num, scale: frac.length - Number(m[3] ?? 0) };
}

/**
 * Parses a rate; throws a UsageError (ERR_USAGE_BAD_RATE) whose message says what forms are accepted.
 * A bare number is packets per second.
 */
export function parseRate(text: string): Rate {
  // Units in any case (10MPPS, 1gbps); "Bps" exactly is bytes per second.
  const m = /^\s*([0-9.]+(?:[eE][+-]?\d+)?)\s*([kKMGT]?)(pps|bps)?\s*$/i.exec(text);
  const bad = () =>
    new UsageError(
      `bad rate '${text}': use packets per second (10Mpps, 250kpps, 5000) or bits per second (1Gbps, 100Mbps, 64kbps)`,
      'ERR_USAGE_BAD_RATE',
    );
  if (!m) throw bad();
  const d = decimal(m[1]);
  if (!d) throw bad();
  // "m" would be milli in SI; nobody means milli-packets: reject rather than guess ("10MPPS" is mega).
  if (m[2] === 'm' && (m[3] === undefined || m[3] !== m[3].toUpperCase())) throw bad();
  const prefix = m[2]!.toUpperCase() === 'K' ? 'k' : m[2]!.toUpperCase();
  const unit: 'pps' | 'bps' | 'Bps' = m[3] === 'Bps' ? 'Bps' : ((m[3]?.toLowerCase() ?? 'pps') as 'pps' | 'bps');
  let exp = PREFIX[prefix] - d.scale;
  let num = d.num;
  if (unit === 'Bps') num *= 8;
  let den = 1;
  while (exp > 0) {
    num *= 10;
    exp--;
  }
  while (exp < 0) {
    den *= 10;
    exp++;
  }
  if (!Number.isSafeInteger(num) || !Number.isSafeInteger(den)) throw bad();
  if (num === 0) throw new UsageError(`rate '${text}' is zero: give a positive rate, or --topspeed`, 'ERR_USAGE_BAD_RATE');
  const g = gcd(num, den);
  return { unit: unit === 'pps' ? 'pps' : 'bps', num: num / g, den: den / g };
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** "1.25 Mpps", "100 Mbps" */
export function formatRate(r: Rate): string {
  return `${formatSi(r.num / r.den)}${r.unit}`;
}

export function formatSi(v: number): string {
  const units: [number, string][] = [
    [1e12, 'T'],
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ];
  for (const [f, p] of units) if (v >= f) return `${trim(v / f)}${p}`;
  return trim(v);
}

function trim(v: number): string {
  return Number(v.toPrecision(6)).toString();
}

/** --multiplier: a positive decimal as an exact fraction. */
export function parseMultiplier(text: string | number): { num: number; den: number } {
  const s = String(text).trim();
  const d = decimal(s);
  if (!d || d.num === 0) {
    throw new UsageError(`bad multiplier '${s}': give a positive number, e.g. 2 (twice as fast) or 0.5`, 'ERR_USAGE_BAD_MULTIPLIER');
  }
  const den = 10 ** d.scale;
  const g = gcd(d.num, den);
  return { num: d.num / g, den: den / g };
}
