// A tiny packet builder so tests need no Scapy: Ethernet, 802.1Q/802.1ad tags, IPv4, IPv6, UDP,
// TCP, ICMP/ICMPv6, a payload and an optional harness tag. Lengths and checksums are computed
// unless given; frames are padded to 60 bytes (the Ethernet minimum without FCS) unless told not to.
import { HarnessError, HarnessErrorCode } from '../errors.js';
import { parseIPv4, parseIPv6, parseMac } from './addresses.js';
import { checksumOf, pseudoHeaderSum } from './checksum.js';
import { TAG_LENGTH, writeTag, type PacketTag } from './tag.js';

export const ETHERTYPE = { IPV4: 0x0800, ARP: 0x0806, VLAN: 0x8100, QINQ: 0x88a8, IPV6: 0x86dd, LLDP: 0x88cc } as const;
export const IPPROTO = { ICMP: 1, TCP: 6, UDP: 17, ICMPV6: 58 } as const;
export const ETH_MIN_FRAME = 60;

export interface EthSpec {
  dst?: string;
  src?: string;
  /** EtherType after the tags; derived from the L3 header when absent */
  type?: number;
}
export interface VlanSpec {
  id: number;
  pcp?: number;
  dei?: boolean;
  /** 0x8100 (default) or 0x88a8 for a service tag */
  tpid?: number;
}
export interface IPv4Spec {
  src: string;
  dst: string;
  ttl?: number;
  id?: number;
  tos?: number;
  /** don't fragment (default true, as Linux sends) */
  df?: boolean;
  /** derived from the L4 header when absent */
  proto?: number;
  /** a fixed header checksum (to build broken packets); computed when absent */
  checksum?: number;
}
export interface IPv6Spec {
  src: string;
  dst: string;
  hopLimit?: number;
  trafficClass?: number;
  flowLabel?: number;
  nextHeader?: number;
}
export interface UdpSpec {
  sport: number;
  dport: number;
  /** a fixed checksum; computed when absent */
  checksum?: number;
}
export interface TcpSpec {
  sport: number;
  dport: number;
  seq?: number;
  ack?: number;
  /** "S", "SA", "PA", "F"... (FSRPAUEC) or the flag byte */
  flags?: string | number;
  window?: number;
  checksum?: number;
}
export interface IcmpSpec {
  /** default: echo request (8 for ICMP, 128 for ICMPv6) */
  type?: number;
  code?: number;
  id?: number;
  seq?: number;
  checksum?: number;
}

export interface PacketSpec {
  eth?: EthSpec;
  vlan?: VlanSpec | VlanSpec[];
  ipv4?: IPv4Spec;
  ipv6?: IPv6Spec;
  udp?: UdpSpec;
  tcp?: TcpSpec;
  icmp?: IcmpSpec;
  /** bytes after the L4 header (after the tag when there is one); a string is UTF-8 */
  payload?: Uint8Array | string;
  /** a harness tag at the start of the payload, for sent-to-received matching */
  tag?: PacketTag;
  /** pad the frame with zeros to this length (default 60; 0 = no padding) */
  padTo?: number;
}

const DEFAULT_SRC = '02:00:00:00:00:01';
const DEFAULT_DST = '02:00:00:00:00:02';
const TCP_FLAG_LETTERS = 'FSRPAUEC';

function bad(msg: string): never {
  throw new HarnessError(HarnessErrorCode.BAD_PACKET, msg);
}

function range(name: string, v: number, max: number): number {
  if (!Number.isInteger(v) || v < 0 || v > max) bad(`${name} must be a whole number from 0 to ${max}, got ${v}`);
  return v;
}

function tcpFlags(f: string | number | undefined): number {
  if (f === undefined) return 0x02; // SYN
  if (typeof f === 'number') return range('tcp.flags', f, 0xff);
  let v = 0;
  for (const c of f.toUpperCase()) {
    const bit = TCP_FLAG_LETTERS.indexOf(c);
    if (bit < 0) bad(`tcp.flags: "${c}" is not one of ${TCP_FLAG_LETTERS}`);
    v |= 1 << bit;
  }
  return v;
}

/** The frame's bytes. */
export function buildPacket(spec: PacketSpec): Buffer {
  if (spec.ipv4 && spec.ipv6) bad('a packet has ipv4 or ipv6, not both');
  const l4Count = [spec.udp, spec.tcp, spec.icmp].filter((x) => x !== undefined).length;
  if (l4Count > 1) bad('a packet has at most one of udp, tcp, icmp');
  if (l4Count === 1 && !spec.ipv4 && !spec.ipv6) bad('udp, tcp and icmp need an ipv4 or ipv6 header');
  const tags = spec.vlan === undefined ? [] : Array.isArray(spec.vlan) ? spec.vlan : [spec.vlan];
  const payload = typeof spec.payload === 'string' ? Buffer.from(spec.payload) : (spec.payload ?? new Uint8Array(0));
  const tagLen = spec.tag ? TAG_LENGTH : 0;
  const l4HeaderLen = spec.udp ? 8 : spec.tcp ? 20 : spec.icmp ? 8 : 0;
  const l3HeaderLen = spec.ipv4 ? 20 : spec.ipv6 ? 40 : 0;
  const l2Len = 14 + 4 * tags.length;
  const l4Len = l4HeaderLen + tagLen + payload.length;
  const unpadded = l2Len + l3HeaderLen + l4Len;
  const frameLen = Math.max(unpadded, spec.padTo ?? ETH_MIN_FRAME);
  const d = Buffer.alloc(frameLen);

  // Ethernet and tags
  d.set(parseMac(spec.eth?.dst ?? DEFAULT_DST), 0);
  d.set(parseMac(spec.eth?.src ?? DEFAULT_SRC), 6);
  let p = 12;
  for (const t of tags) {
    d.writeUInt16BE(range('vlan.tpid', t.tpid ?? ETHERTYPE.VLAN, 0xffff), p);
    const tci = (range('vlan.pcp', t.pcp ?? 0, 7) << 13) | ((t.dei ? 1 : 0) << 12) | range('vlan.id', t.id, 4095);
    d.writeUInt16BE(tci, p + 2);
    p += 4;
  }
  const etherType = spec.eth?.type ?? (spec.ipv4 ? ETHERTYPE.IPV4 : spec.ipv6 ? ETHERTYPE.IPV6 : 0x88b5 /* local experimental */);
  d.writeUInt16BE(range('eth.type', etherType, 0xffff), p);
  p += 2;

  const ipStart = p;
  const proto = spec.udp ? IPPROTO.UDP : spec.tcp ? IPPROTO.TCP : spec.icmp ? (spec.ipv6 ? IPPROTO.ICMPV6 : IPPROTO.ICMP) : 59; // 59: no next header
  if (spec.ipv4) {
    const ip = spec.ipv4;
    d[p] = 0x45;
    d[p + 1] = range('ip.tos', ip.tos ?? 0, 0xff);
    d.writeUInt16BE(range('ip.len', 20 + l4Len, 0xffff), p + 2);
    d.writeUInt16BE(range('ip.id', ip.id ?? 0, 0xffff), p + 4);
    d.writeUInt16BE(ip.df === false ? 0 : 0x4000, p + 6);
    d[p + 8] = range('ip.ttl', ip.ttl ?? 64, 0xff);
    d[p + 9] = range('ip.proto', ip.proto ?? proto, 0xff);
    d.set(parseIPv4(ip.src), p + 12);
    d.set(parseIPv4(ip.dst), p + 16);
    d.writeUInt16BE(ip.checksum !== undefined ? range('ip.checksum', ip.checksum, 0xffff) : checksumOf(d, p, p + 20), p + 10);
    p += 20;
  } else if (spec.ipv6) {
    const ip = spec.ipv6;
    d.writeUInt32BE(((6 << 28) | (range('ipv6.tc', ip.trafficClass ?? 0, 0xff) << 20) | range('ipv6.flow', ip.flowLabel ?? 0, 0xfffff)) >>> 0, p);
    d.writeUInt16BE(range('ipv6.plen', l4Len, 0xffff), p + 4);
    d[p + 6] = range('ipv6.nxt', ip.nextHeader ?? proto, 0xff);
    d[p + 7] = range('ipv6.hlim', ip.hopLimit ?? 64, 0xff);
    d.set(parseIPv6(ip.src), p + 8);
    d.set(parseIPv6(ip.dst), p + 24);
    p += 40;
  }

  const l4Start = p;
  const dataStart = l4Start + l4HeaderLen;
  if (spec.tag) writeTag(d, dataStart, spec.tag);
  d.set(payload, dataStart + tagLen);
  const version = spec.ipv4 ? 4 : 6;
  const l4Sum = (): number => checksumOf(d, l4Start, l4Start + l4Len, pseudoHeaderSum(d, ipStart, version, proto, l4Len));
  if (spec.udp) {
    const u = spec.udp;
    d.writeUInt16BE(range('udp.sport', u.sport, 0xffff), l4Start);
    d.writeUInt16BE(range('udp.dport', u.dport, 0xffff), l4Start + 2);
    d.writeUInt16BE(l4Len, l4Start + 4);
    const sum = u.checksum ?? (l4Sum() || 0xffff); // 0 means "no checksum" in UDP
    d.writeUInt16BE(range('udp.checksum', sum, 0xffff), l4Start + 6);
  } else if (spec.tcp) {
    const t = spec.tcp;
    d.writeUInt16BE(range('tcp.sport', t.sport, 0xffff), l4Start);
    d.writeUInt16BE(range('tcp.dport', t.dport, 0xffff), l4Start + 2);
    d.writeUInt32BE(range('tcp.seq', t.seq ?? 0, 0xffffffff), l4Start + 4);
    d.writeUInt32BE(range('tcp.ack', t.ack ?? 0, 0xffffffff), l4Start + 8);
    d[l4Start + 12] = 5 << 4;
    d[l4Start + 13] = tcpFlags(t.flags);
    d.writeUInt16BE(range('tcp.window', t.window ?? 65535, 0xffff), l4Start + 14);
    d.writeUInt16BE(t.checksum !== undefined ? range('tcp.checksum', t.checksum, 0xffff) : l4Sum(), l4Start + 16);
  } else if (spec.icmp) {
    const c = spec.icmp;
    d[l4Start] = range('icmp.type', c.type ?? (spec.ipv6 ? 128 : 8), 0xff);
    d[l4Start + 1] = range('icmp.code', c.code ?? 0, 0xff);
    d.writeUInt16BE(range('icmp.id', c.id ?? 0, 0xffff), l4Start + 4);
    d.writeUInt16BE(range('icmp.seq', c.seq ?? 0, 0xffff), l4Start + 6);
    // ICMPv4 has no pseudo-header; ICMPv6 does.
    const sum = spec.ipv6 ? l4Sum() : checksumOf(d, l4Start, l4Start + l4Len);
    d.writeUInt16BE(c.checksum !== undefined ? range('icmp.checksum', c.checksum, 0xffff) : sum, l4Start + 2);
  }
  return d;
}

/** `n` packets from one spec, tagged stream/0..n-1 and with `vary(i)` merged in (ports, ids...). */
export function buildStream(n: number, stream: number, spec: PacketSpec, vary?: (i: number) => Partial<PacketSpec>): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) out.push(buildPacket({ ...spec, ...(vary?.(i) ?? {}), tag: { stream, seq: i } }));
  return out;
}
