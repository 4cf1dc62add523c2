// What a test expects: packets on ports (one port, or any of several), how many, which bits do not
// matter, what must hold of the received copy (predicates), and which unexpected packets are noise.
import { HarnessError, HarnessErrorCode } from '../errors.js';
import { checkFieldNames, ipChecksumValid, l4ChecksumValid, layoutOf, locate, readField } from './decode.js';

/** Exactly n, or min..max (max defaults to min; Infinity for "at least"). */
export type CountSpec = number | { min: number; max?: number };

/** A condition on a received packet, given the packet it stands for. `covers` fields are left out of the byte comparison. */
export interface Predicate {
  name: string;
  covers: readonly string[];
  /** null when it holds, else why not */
  check(actual: Uint8Array, expected: Uint8Array): string | null;
}

export interface MatchOptions {
  /** named fields whose value does not matter (see FIELD_NAMES) */
  ignore?: readonly string[];
  /** don't-care bits: a 0 bit in mask[i] ignores that bit of byte i; bytes beyond the mask all count */
  mask?: Uint8Array;
  /** accept extra bytes after the expected packet (an added trailer); padding to 60 bytes is always accepted */
  ignoreTrailing?: boolean;
  predicates?: readonly Predicate[];
}

export interface Expectation extends MatchOptions {
  /** the packet expected, as bytes */
  packet: Uint8Array;
  /** the port it must leave by, or the ports it may leave by (ECMP, LAG, flooding to any one) */
  ports: string | readonly string[];
  /** default 1 */
  count?: CountSpec;
  /** with several ports and a count: how many each port must get at least / at most */
  distribution?: { min?: number; max?: number };
  /** for reports */
  name?: string;
}

/** A packet that may appear and is then ignored instead of failing "no other packets". */
export interface NoiseRule {
  name: string;
  test(d: Uint8Array): boolean;
}

function fail(msg: string): never {
  throw new HarnessError(HarnessErrorCode.BAD_EXPECTATION, msg);
}

export function countRange(c: CountSpec | undefined): { min: number; max: number } {
  if (c === undefined) return { min: 1, max: 1 };
  const r = typeof c === 'number' ? { min: c, max: c } : { min: c.min, max: c.max ?? c.min };
  if (!Number.isInteger(r.min) || r.min < 0 || !(r.max >= r.min) || (r.max !== Infinity && !Number.isInteger(r.max))) {
    fail(`a count must be a whole number or {min, max} with 0 <= min <= max, got ${JSON.stringify(c)}`);
  }
  return r;
}

export function portsOf(e: Expectation): string[] {
  const p = typeof e.ports === 'string' ? [e.ports] : [...e.ports];
  if (p.length === 0) fail(`expectation ${e.name ?? ''} names no port`);
  return p;
}

export function validateOptions(o: MatchOptions): void {
  if (o.ignore) checkFieldNames(o.ignore);
  for (const p of o.predicates ?? []) checkFieldNames(p.covers);
}

function numberField(d: Uint8Array, name: string): number | null {
  const L = layoutOf(d);
  const loc = locate(name, L, d);
  if (loc === null) return null;
  const v = readField(d, loc);
  return typeof v === 'number' ? v : parseInt(String(v), 16);
}

/** The received TTL (IPv4) or hop limit (IPv6) is the sent one minus `by` (default 1). */
export function ttlDecremented(by = 1): Predicate {
  return {
    name: `ip.ttl decremented by ${by}`,
    covers: ['ip.ttl', 'ip.checksum'],
    check(actual, expected) {
      const a = numberField(actual, 'ip.ttl');
      const e = numberField(expected, 'ip.ttl');
      if (a === null || e === null) return 'no IP header to read a TTL from';
      return a === e - by ? null : `ip.ttl is ${a}, expected ${e} - ${by} = ${e - by}`;
    },
  };
}

/** The received packet's IPv4 header checksum and UDP/TCP/ICMP checksum are valid (whatever their value). */
export function checksumsValid(): Predicate {
  return {
    name: 'IPv4 and L4 checksums valid',
    covers: ['ip.checksum', 'l4.checksum'],
    check(actual) {
      const L = layoutOf(actual);
      const bad: string[] = [];
      if (ipChecksumValid(actual, L) === false) bad.push('IPv4 header checksum');
      if (l4ChecksumValid(actual, L) === false) bad.push('L4 checksum');
      return bad.length === 0 ? null : `${bad.join(' and ')} invalid`;
    },
  };
}

/** A named field has this value in the received packet (numbers, or text as the decoder prints it). */
export function fieldIs(name: string, value: number | string): Predicate {
  checkFieldNames([name]);
  return {
    name: `${name} == ${value}`,
    covers: [name],
    check(actual) {
      const loc = locate(name, layoutOf(actual), actual);
      if (loc === null) return `${name} absent`;
      const v = readField(actual, loc);
      return String(v) === String(value) ? null : `${name} is ${v}, expected ${value}`;
    },
  };
}

/** Common noise, to be allowed explicitly. */
export const noise = {
  /** IPv6 neighbour discovery and router solicitation/advertisement (ICMPv6 133..137) */
  ipv6NeighborDiscovery: {
    name: 'IPv6 ND',
    test(d: Uint8Array) {
      const L = layoutOf(d);
      return L.ipVersion === 6 && L.proto === 58 && L.payloadOff > 0 && d[L.l4Off]! >= 133 && d[L.l4Off]! <= 137;
    },
  } satisfies NoiseRule,
  /** MLD reports (ICMPv6 130..132, 143), which Linux sends with ND when an interface comes up */
  mld: {
    name: 'MLD',
    test(d: Uint8Array) {
      const L = layoutOf(d);
      if (L.ipVersion !== 6) return false;
      // MLD sits behind a hop-by-hop header (next header 0), which the layout does not walk.
      const t = L.proto === 0 ? d[L.l4Off + 8]! : L.proto === 58 ? d[L.l4Off]! : -1;
      return t === 143 || (t >= 130 && t <= 132);
    },
  } satisfies NoiseRule,
  lldp: { name: 'LLDP', test: (d: Uint8Array) => layoutOf(d).etherType === 0x88cc } satisfies NoiseRule,
  /** spanning tree BPDUs (01:80:c2:00:00:00, LLC) */
  stp: {
    name: 'STP',
    test: (d: Uint8Array) => d.length >= 17 && d[0] === 0x01 && d[1] === 0x80 && d[2] === 0xc2 && d[3] === 0 && d[4] === 0 && d[5] === 0,
  } satisfies NoiseRule,
} as const;
