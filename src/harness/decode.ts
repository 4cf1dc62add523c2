// Named fields of a frame: where each one sits (byte offset, bit width, bit shift) and its value.
// The field names are the harness's vocabulary for masks, predicates, diffs and `nmcap --diff
// --ignore`: eth.*, vlan.* (outer tag), vlan2.* (inner tag), ip.* (IPv4 or IPv6: ip.ttl is the hop
// limit, ip.proto the next header), l4.* (UDP/TCP/ICMP), udp.*, tcp.*, icmp.*, payload, frame.len;
// `ts` is the capture timestamp, which is not in the bytes (the matcher handles it).
import { HarnessError, HarnessErrorCode } from '../errors.js';
import { ipv4Text, ipv6Text, macText } from './addresses.js';
import { onesSum, pseudoHeaderSum } from './checksum.js';

/** Where headers start in one frame. -1: absent. */
export interface Layout {
  /** offsets of the 802.1Q/802.1ad tags (their TPID) */
  vlans: number[];
  etherTypeOff: number;
  etherType: number;
  l3Off: number;
  ipVersion: 0 | 4 | 6;
  /** end of the IP datagram as its header declares it (bytes beyond are padding or trailer); frame end otherwise */
  ipEnd: number;
  proto: number;
  l4Off: number;
  /** first byte after the L4 header, or -1 */
  payloadOff: number;
  /** IPv4 fragment other than the first: no L4 header in it */
  laterFragment: boolean;
}

export type FieldFormat = 'mac' | 'ipv4' | 'ipv6' | 'uint' | 'hex' | 'bytes';

/** A field's place in the frame: `bits` wide starting `shift` bits into byte `off`. */
export interface FieldLoc {
  off: number;
  bits: number;
  shift: number;
  format: FieldFormat;
}

const VLAN_TPIDS = new Set([0x8100, 0x88a8, 0x9100]);

export function layoutOf(d: Uint8Array): Layout {
  const L: Layout = { vlans: [], etherTypeOff: -1, etherType: -1, l3Off: -1, ipVersion: 0, ipEnd: d.length, proto: -1, l4Off: -1, payloadOff: -1, laterFragment: false };
  if (d.length < 14) return L;
  let p = 12;
  let type = (d[p]! << 8) | d[p + 1]!;
  while (VLAN_TPIDS.has(type) && p + 6 <= d.length && L.vlans.length < 8) {
    L.vlans.push(p);
    p += 4;
    type = (d[p]! << 8) | d[p + 1]!;
  }
  L.etherTypeOff = p;
  L.etherType = type;
  p += 2;
  if (type === 0x0800 && p + 20 <= d.length && d[p]! >> 4 === 4) {
    const ihl = (d[p]! & 0x0f) * 4;
    if (ihl < 20 || p + ihl > d.length) return L;
    L.l3Off = p;
    L.ipVersion = 4;
    const total = (d[p + 2]! << 8) | d[p + 3]!;
    if (total >= ihl && p + total <= d.length) L.ipEnd = p + total;
    L.proto = d[p + 9]!;
    L.laterFragment = (((d[p + 6]! << 8) | d[p + 7]!) & 0x1fff) !== 0;
    if (!L.laterFragment) L.l4Off = p + ihl;
  } else if (type === 0x86dd && p + 40 <= d.length && d[p]! >> 4 === 6) {
    L.l3Off = p;
    L.ipVersion = 6;
    const plen = (d[p + 4]! << 8) | d[p + 5]!;
    if (p + 40 + plen <= d.length) L.ipEnd = p + 40 + plen;
    L.proto = d[p + 6]!;
    L.l4Off = p + 40; // extension headers are not walked: the next header is taken as L4
  }
  if (L.l4Off >= 0) {
    const hl = L.proto === 17 ? 8 : L.proto === 6 ? tcpHeaderLen(d, L.l4Off) : L.proto === 1 || L.proto === 58 ? 8 : 0;
    if (hl > 0 && L.l4Off + hl <= L.ipEnd) L.payloadOff = L.l4Off + hl;
    else if (hl === 0) L.l4Off = -1;
  }
  return L;
}

function tcpHeaderLen(d: Uint8Array, off: number): number {
  if (off + 13 > d.length) return 0;
  const hl = (d[off + 12]! >> 4) * 4;
  return hl >= 20 ? hl : 0;
}

type Locator = (L: Layout, d: Uint8Array) => FieldLoc | null;
const at = (off: number, bits: number, format: FieldFormat = 'uint', shift = 0): FieldLoc => ({ off, bits, shift, format });
const ip4 = (rel: number, bits: number, format: FieldFormat = 'uint', shift = 0): Locator => (L) => (L.ipVersion === 4 ? at(L.l3Off + rel, bits, format, shift) : null);
const ip46 = (v4: FieldLoc, v6: FieldLoc): Locator => (L) =>
  L.ipVersion === 4 ? { ...v4, off: L.l3Off + v4.off } : L.ipVersion === 6 ? { ...v6, off: L.l3Off + v6.off } : null;
const vlan = (k: number, rel: number, bits: number, shift: number): Locator => (L) => (L.vlans.length > k ? at(L.vlans[k]! + rel, bits, 'uint', shift) : null);
const l4 = (protos: number[], rel: number, bits: number, format: FieldFormat = 'uint'): Locator => (L) =>
  L.l4Off >= 0 && protos.includes(L.proto) && L.payloadOff > 0 ? at(L.l4Off + rel, bits, format) : null;
const UDP_TCP = [17, 6];
const ICMPS = [1, 58];

/** Every named field, in the order reports list them. */
export const FIELDS: Readonly<Record<string, Locator>> = {
  'eth.dst': () => at(0, 48, 'mac'),
  'eth.src': () => at(6, 48, 'mac'),
  'vlan.tpid': vlan(0, 0, 16, 0),
  'vlan.pcp': vlan(0, 2, 3, 0),
  'vlan.dei': vlan(0, 2, 1, 3),
  'vlan.id': vlan(0, 2, 12, 4),
  'vlan2.tpid': vlan(1, 0, 16, 0),
  'vlan2.pcp': vlan(1, 2, 3, 0),
  'vlan2.id': vlan(1, 2, 12, 4),
  'eth.type': (L) => (L.etherTypeOff >= 0 ? at(L.etherTypeOff, 16, 'hex') : null),
  'ip.version': ip46(at(0, 4), at(0, 4)),
  'ip.hdr_len': ip4(0, 4, 'uint', 4),
  'ip.tos': ip46(at(1, 8, 'hex'), at(0, 8, 'hex', 4)),
  'ip.len': ip46(at(2, 16), at(4, 16)),
  'ip.id': ip4(4, 16, 'hex'),
  'ip.flags': ip4(6, 3, 'hex'),
  'ip.frag': ip4(6, 13, 'uint', 3),
  'ip.ttl': ip46(at(8, 8), at(7, 8)),
  'ip.proto': ip46(at(9, 8), at(6, 8)),
  'ip.checksum': ip4(10, 16, 'hex'),
  'ip.src': ip46(at(12, 32, 'ipv4'), at(8, 128, 'ipv6')),
  'ip.dst': ip46(at(16, 32, 'ipv4'), at(24, 128, 'ipv6')),
  'ipv6.flow': (L) => (L.ipVersion === 6 ? at(L.l3Off + 1, 20, 'hex', 4) : null),
  'l4.sport': l4(UDP_TCP, 0, 16),
  'l4.dport': l4(UDP_TCP, 2, 16),
  'udp.len': l4([17], 4, 16),
  'tcp.seq': l4([6], 4, 32),
  'tcp.ack': l4([6], 8, 32),
  'tcp.flags': l4([6], 13, 8, 'hex'),
  'tcp.window': l4([6], 14, 16),
  'icmp.type': l4(ICMPS, 0, 8),
  'icmp.code': l4(ICMPS, 1, 8),
  'icmp.id': l4(ICMPS, 4, 16),
  'icmp.seq': l4(ICMPS, 6, 16),
  'l4.checksum': (L) => {
    if (L.l4Off < 0 || L.payloadOff < 0) return null;
    const rel = L.proto === 17 ? 6 : L.proto === 6 ? 16 : 2;
    return at(L.l4Off + rel, 16, 'hex');
  },
  payload: (L, d) => {
    const start = L.payloadOff >= 0 ? L.payloadOff : L.l3Off >= 0 ? L.ipEnd : L.etherTypeOff >= 0 ? L.etherTypeOff + 2 : d.length;
    return at(start, (L.ipEnd - start) * 8, 'bytes');
  },
};

/** Field names that are not bytes of the frame. */
export const META_FIELDS = ['ts', 'frame.len'] as const;
export const FIELD_NAMES: readonly string[] = [...Object.keys(FIELDS), ...META_FIELDS];

export function checkFieldNames(names: readonly string[]): void {
  for (const n of names) {
    if (!FIELD_NAMES.includes(n)) {
      throw new HarnessError(HarnessErrorCode.BAD_EXPECTATION, `unknown field "${n}"; known fields: ${FIELD_NAMES.join(', ')}`);
    }
  }
}

export function locate(name: string, L: Layout, d: Uint8Array): FieldLoc | null {
  const f = FIELDS[name];
  if (f === undefined) return null;
  const loc = f(L, d);
  if (loc === null || loc.off + Math.ceil((loc.shift + loc.bits) / 8) > d.length) return null;
  return loc;
}

function hex(d: Uint8Array, from: number, to: number): string {
  return Buffer.from(d.buffer, d.byteOffset + from, to - from).toString('hex');
}

/** A field's value: a number for small integers, text for addresses, hex text otherwise. */
export function readField(d: Uint8Array, loc: FieldLoc): number | string {
  if (loc.format === 'mac') return macText(d, loc.off);
  if (loc.format === 'ipv4') return ipv4Text(d, loc.off);
  if (loc.format === 'ipv6') return ipv6Text(d, loc.off);
  if (loc.format === 'bytes') return hex(d, loc.off, loc.off + loc.bits / 8);
  let v = 0;
  const nbytes = Math.ceil((loc.shift + loc.bits) / 8);
  for (let i = 0; i < nbytes; i++) v = v * 256 + d[loc.off + i]!;
  const drop = nbytes * 8 - loc.shift - loc.bits;
  v = Math.floor(v / 2 ** drop) % 2 ** loc.bits;
  return loc.format === 'hex' ? `0x${v.toString(16).padStart(Math.ceil(loc.bits / 4), '0')}` : v;
}


/** All fields present in the frame, by name (plus frame.len and, when given, ts). */
export function decodeFields(d: Uint8Array, ts?: bigint | null): Record<string, number | string> {
  const L = layoutOf(d);
  const out: Record<string, number | string> = {};
  for (const name of Object.keys(FIELDS)) {
    const loc = locate(name, L, d);
    if (loc !== null && loc.bits > 0) out[name] = readField(d, loc);
  }
  out['frame.len'] = d.length;
  if (ts !== undefined && ts !== null) out['ts'] = ts.toString();
  return out;
}

/** True when the IPv4 header checksum is right; null when there is no IPv4 header. */
export function ipChecksumValid(d: Uint8Array, L: Layout = layoutOf(d)): boolean | null {
  if (L.ipVersion !== 4) return null;
  const ihl = (d[L.l3Off]! & 0x0f) * 4;
  return onesSum(d, L.l3Off, L.l3Off + ihl) === 0xffff;
}

/** True when the UDP/TCP/ICMP checksum is right (UDP's 0 = none counts as right); null when not checkable. */
export function l4ChecksumValid(d: Uint8Array, L: Layout = layoutOf(d)): boolean | null {
  if (L.l4Off < 0 || L.payloadOff < 0 || L.ipEnd > d.length) return null;
  const len = L.ipEnd - L.l4Off;
  if (L.proto === 17 && L.ipVersion === 4 && d[L.l4Off + 6] === 0 && d[L.l4Off + 7] === 0) return true;
  const v = L.ipVersion === 4 ? 4 : 6;
  const initial = L.proto === 1 ? 0 : pseudoHeaderSum(d, L.l3Off, v, L.proto, len);
  if (![17, 6, 1, 58].includes(L.proto)) return null;
  return onesSum(d, L.l4Off, L.ipEnd, initial) === 0xffff;
}

/**
 * A flow's identity as a compact key: protocol, addresses and ports for UDP/TCP, the ICMP id for
 * ICMP, addresses and protocol for other IP; MACs, outer VLAN and EtherType otherwise.
 */
export function flowKey(d: Uint8Array, L: Layout = layoutOf(d)): string {
  const b = Buffer.from(d.buffer, d.byteOffset, d.byteLength);
  if (L.ipVersion !== 0) {
    const addrs = L.ipVersion === 4 ? b.toString('latin1', L.l3Off + 12, L.l3Off + 20) : b.toString('latin1', L.l3Off + 8, L.l3Off + 40);
    const ports = L.payloadOff > 0 ? (L.proto === 6 || L.proto === 17 ? b.toString('latin1', L.l4Off, L.l4Off + 4) : L.proto === 1 || L.proto === 58 ? b.toString('latin1', L.l4Off + 4, L.l4Off + 6) : '') : '';
    return `${L.ipVersion}${L.proto}|${addrs}${ports}`;
  }
  if (d.length < 14) return 'short';
  return `L2|${b.toString('latin1', 0, 12)}${L.vlans.length > 0 ? b.toString('latin1', L.vlans[0]! + 2, L.vlans[0]! + 4) : ''}${L.etherType}`;
}

/**
 * flowKey as a 32-bit number, from the same bytes, without building a string (the streaming diff
 * keeps one per packet). Two flows may share a hash; per-flow order then only gets stricter.
 */
export function flowHash(d: Uint8Array, L: Layout = layoutOf(d)): number {
  let h = 0x811c9dc5;
  const mix = (from: number, to: number): void => {
    for (let i = from; i < to; i++) h = Math.imul(h ^ d[i]!, 0x01000193);
  };
  if (L.ipVersion !== 0) {
    h = Math.imul(h ^ (L.ipVersion * 256 + L.proto), 0x01000193);
    if (L.ipVersion === 4) mix(L.l3Off + 12, L.l3Off + 20);
    else mix(L.l3Off + 8, L.l3Off + 40);
    if (L.payloadOff > 0) {
      if (L.proto === 6 || L.proto === 17) mix(L.l4Off, L.l4Off + 4);
      else if (L.proto === 1 || L.proto === 58) mix(L.l4Off + 4, L.l4Off + 6);
    }
    return h | 0;
  }
  if (d.length < 14) return 1;
  mix(0, 12);
  if (L.vlans.length > 0) mix(L.vlans[0]! + 2, L.vlans[0]! + 4);
  return Math.imul(h ^ L.etherType, 0x01000193) | 0;
}

/** A one-line summary for reports. */
export function summary(d: Uint8Array): string {
  const f = decodeFields(d);
  const parts: string[] = [`${f['eth.src']} > ${f['eth.dst']}`];
  if (f['vlan.id'] !== undefined) parts.push(`vlan ${f['vlan.id']}`);
  if (f['ip.src'] !== undefined) {
    const proto = { 6: 'TCP', 17: 'UDP', 1: 'ICMP', 58: 'ICMPv6' }[f['ip.proto'] as number] ?? `proto ${f['ip.proto']}`;
    const sp = f['l4.sport'] !== undefined ? `:${f['l4.sport']}` : '';
    const dp = f['l4.dport'] !== undefined ? `:${f['l4.dport']}` : '';
    parts.push(`IPv${f['ip.version']} ${f['ip.src']}${sp} > ${f['ip.dst']}${dp} ${proto} ttl ${f['ip.ttl']}`);
  } else if (f['eth.type'] !== undefined) parts.push(`ethertype ${f['eth.type']}`);
  parts.push(`len ${d.length}`);
  return parts.join(', ');
}
