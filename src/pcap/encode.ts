// Pure block encoders: arguments in, a Buffer holding one complete block out. The writers use the same
// layout (their hot paths write it in place); the native capture thread's EPBs are checked against
// encodeEPB byte for byte.

import { PcapWriteError, WriteErrorCode } from '../errors.js';
import {
  BlockType,
  EpbOption,
  FilterKind,
  IdbOption,
  IsbOption,
  NrbOption,
  NrbRecordType,
  OPT_COMMENT,
  PCAP_LT_FCS_PRESENT,
  PCAP_LT_FCS_SHIFT,
  PCAP_MAGIC_NS,
  PCAP_MAGIC_US,
  PCAP_VERSION_MAJOR,
  PCAP_VERSION_MINOR,
  PCAPNG_BYTE_ORDER_MAGIC,
  PCAPNG_VERSION_MAJOR,
  PCAPNG_VERSION_MINOR,
  ShbOption,
} from './constants.js';
import { pad4, putU16, putU32, putU64 } from './bytes.js';
import { resolutionToByte } from './timestamps.js';
import type { ByteOrder, NameResolutionEntry, PacketHash, PacketVerdict, TsResolution } from './types.js';

/** One option before encoding. */
export interface OptionValue {
  code: number;
  value: Uint8Array;
}

const utf8 = new TextEncoder();

export function stringOption(code: number, s: string): OptionValue {
  const value = utf8.encode(s);
  if (value.length > 0xffff) throw new PcapWriteError(WriteErrorCode.BAD_ARGUMENT, `option ${code} string is longer than 65535 bytes`);
  return { code, value };
}
export function u8Option(code: number, v: number): OptionValue {
  return { code, value: Uint8Array.of(v & 0xff) };
}
export function u32Option(code: number, v: number, le: boolean): OptionValue {
  const value = new Uint8Array(4);
  putU32(value, 0, v >>> 0, le);
  return { code, value };
}
export function u64Option(code: number, v: bigint, le: boolean): OptionValue {
  if (v < 0n || v > 0xffffffffffffffffn) throw new PcapWriteError(WriteErrorCode.BAD_ARGUMENT, `option ${code} value ${v} is not a u64`);
  const value = new Uint8Array(8);
  putU64(value, 0, v, le);
  return { code, value };
}
/** A timestamp option stored as two u32 (high, low), as EPB timestamps are (isb_starttime/endtime). */
export function tsOption(code: number, units: bigint, le: boolean): OptionValue {
  const value = new Uint8Array(8);
  putU32(value, 0, Number(units >> 32n), le);
  putU32(value, 4, Number(units & 0xffffffffn), le);
  return { code, value };
}
function bytesOption(code: number, first: number, rest: Uint8Array): OptionValue {
  const value = new Uint8Array(1 + rest.length);
  value[0] = first;
  value.set(rest, 1);
  return { code, value };
}

/** Encoded size of an option list, including opt_endofopt; 0 when there are no options. */
export function optionsLength(opts: readonly OptionValue[]): number {
  if (opts.length === 0) return 0;
  let n = 4;
  for (const o of opts) n += 4 + pad4(o.value.length);
  return n;
}

/** Writes the list (then opt_endofopt) at out[p]; returns the position after it. Padding is zeroed. */
export function putOptions(out: Uint8Array, p: number, opts: readonly OptionValue[], le: boolean): number {
  if (opts.length === 0) return p;
  for (const o of opts) {
    putU16(out, p, o.code, le);
    putU16(out, p + 2, o.value.length, le);
    out.set(o.value, p + 4);
    const padded = pad4(o.value.length);
    out.fill(0, p + 4 + o.value.length, p + 4 + padded);
    p += 4 + padded;
  }
  putU32(out, p, 0, le);
  return p + 4;
}

function commentOptions(comments: readonly string[] | undefined): OptionValue[] {
  return (comments ?? []).map((c) => stringOption(OPT_COMMENT, c));
}

/** Allocates a block of `len` bytes with type and both lengths filled in. */
function block(type: number, len: number, le: boolean): Buffer {
  if (len > 0xffffffff) throw new PcapWriteError(WriteErrorCode.BAD_ARGUMENT, `block of ${len} bytes is too large for pcapng`);
  const out = Buffer.alloc(len);
  putU32(out, 0, type, le);
  putU32(out, 4, len, le);
  putU32(out, len - 4, len, le);
  return out;
}

const isLe = (o: ByteOrder | undefined): boolean => o !== 'be';

export interface ShbFields {
  hardware?: string;
  os?: string;
  userAppl?: string;
  comments?: readonly string[];
  /** Default -1n (unspecified). */
  sectionLength?: bigint;
}

export function encodeSHB(f: ShbFields = {}, byteOrder: ByteOrder = 'le'): Buffer {
  const le = isLe(byteOrder);
  const opts = commentOptions(f.comments);
  if (f.hardware !== undefined) opts.push(stringOption(ShbOption.HARDWARE, f.hardware));
  if (f.os !== undefined) opts.push(stringOption(ShbOption.OS, f.os));
  if (f.userAppl !== undefined) opts.push(stringOption(ShbOption.USERAPPL, f.userAppl));
  const out = block(BlockType.SHB, 28 + optionsLength(opts), le);
  putU32(out, 8, PCAPNG_BYTE_ORDER_MAGIC, le);
  putU16(out, 12, PCAPNG_VERSION_MAJOR, le);
  putU16(out, 14, PCAPNG_VERSION_MINOR, le);
  putU64(out, 16, f.sectionLength ?? -1n, le);
  putOptions(out, 24, opts, le);
  return out;
}

/** Interface description as writers accept it. */
export interface InterfaceFields {
  linkType: number;
  snapLen: number;
  name?: string;
  description?: string;
  /** Default 10^-9 (nanoseconds). if_tsresol is always written. */
  tsResolution?: TsResolution;
  /** A libpcap filter string, or {kind, data} for other kinds (BPF program bytes...). */
  filter?: string | { kind: number; data: Uint8Array };
  /** if_fcslen as stored (bits per the spec). */
  fcsLen?: number;
  tsOffset?: bigint;
  os?: string;
  hardware?: string;
  speed?: bigint;
  txSpeed?: bigint;
  rxSpeed?: bigint;
  /** "a.b.c.d/m.m.m.m" */
  ipv4Addresses?: readonly string[];
  /** "addr/prefix" */
  ipv6Addresses?: readonly string[];
  /** "aa:bb:cc:dd:ee:ff" */
  macAddress?: string;
  /** "aa:bb:cc:dd:ee:ff:00:11" */
  euiAddress?: string;
  tzone?: number;
  ianaTzName?: string;
  comments?: readonly string[];
}

export function parseIpv4(s: string): Uint8Array {
  // Dotted decimal only: Number() alone would take '' (so '1.2.3.'), ' 1' and '0x1'.
  const parts = s.split('.').map((x) => (/^(0|[1-9][0-9]{0,2})$/.test(x) ? Number(x) : NaN));
  if (parts.length !== 4 || parts.some((x) => !(x >= 0 && x <= 255))) {
    throw new PcapWriteError(WriteErrorCode.BAD_ARGUMENT, `not an IPv4 address: ${s}`);
  }
  return Uint8Array.from(parts);
}

export function parseIpv6(s: string): Uint8Array {
  const bad = (): never => {
    throw new PcapWriteError(WriteErrorCode.BAD_ARGUMENT, `not an IPv6 address: ${s}`);
  };
  const halves = s.split('::');
  if (halves.length > 2) bad();
  const groups = (h: string): number[] => (h === '' ? [] : h.split(':').map((g) => (/^[0-9a-fA-F]{1,4}$/.test(g) ? parseInt(g, 16) : bad())));
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  const fill = 8 - head.length - tail.length;
  if ((halves.length === 1 && fill !== 0) || fill < 0) bad();
  const all = [...head, ...new Array<number>(halves.length === 2 ? fill : 0).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

export function parseHexOctets(s: string, n: number): Uint8Array {
  const parts = s.split(/[:-]/);
  if (parts.length !== n || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) {
    throw new PcapWriteError(WriteErrorCode.BAD_ARGUMENT, `not a ${n}-octet address: ${s}`);
  }
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

export function encodeIDB(f: InterfaceFields, byteOrder: ByteOrder = 'le'): Buffer {
  const le = isLe(byteOrder);
  if (!Number.isInteger(f.linkType) || f.linkType < 0 || f.linkType > 0xffff) {
    throw new PcapWriteError(WriteErrorCode.BAD_ARGUMENT, `link type must be 0..65535, got ${f.linkType}`);
  }
  if (!Number.isInteger(f.snapLen) || f.snapLen < 0 || f.snapLen > 0xffffffff) {
    throw new PcapWriteError(WriteErrorCode.BAD_ARGUMENT, `snap length must be 0..4294967295, got ${f.snapLen}`);
  }
  const opts = commentOptions(f.comments);
  if (f.name !== undefined) opts.push(stringOption(IdbOption.NAME, f.name));
  if (f.description !== undefined) opts.push(stringOption(IdbOption.DESCRIPTION, f.description));
  for (const a of f.ipv4Addresses ?? []) {
    const [addr, mask] = a.split('/');
    const v = new Uint8Array(8);
    v.set(parseIpv4(addr!), 0);
    v.set(parseIpv4(mask ?? '255.255.255.255'), 4);
    opts.push({ code: IdbOption.IPV4ADDR, value: v });
  }
  for (const a of f.ipv6Addresses ?? []) {
    const [addr, prefix] = a.split('/');
    const v = new Uint8Array(17);
    v.set(parseIpv6(addr!), 0);
    const bits = prefix === undefined ? 128 : /^[0-9]{1,3}$/.test(prefix) ? Number(prefix) : NaN;
    if (!(bits <= 128)) throw new PcapWriteError(WriteErrorCode.BAD_ARGUMENT, `not an IPv6 prefix length (0-128): ${a}`);
    v[16] = bits;
    opts.push({ code: IdbOption.IPV6ADDR, value: v });
  }
  if (f.macAddress !== undefined) opts.push({ code: IdbOption.MACADDR, value: parseHexOctets(f.macAddress, 6) });
  if (f.euiAddress !== undefined) opts.push({ code: IdbOption.EUIADDR, value: parseHexOctets(f.euiAddress, 8) });
  if (f.speed !== undefined) opts.push(u64Option(IdbOption.SPEED, f.speed, le));
  opts.push(u8Option(IdbOption.TSRESOL, resolutionToByte(f.tsResolution ?? { base: 10, exponent: 9 })));
  if (f.tzone !== undefined) opts.push(u32Option(IdbOption.TZONE, f.tzone, le));
  if (f.filter !== undefined) {
    opts.push(
      typeof f.filter === 'string'
        ? bytesOption(IdbOption.FILTER, FilterKind.PCAP_STRING, utf8.encode(f.filter))
        : bytesOption(IdbOption.FILTER, f.filter.kind, f.filter.data),
    );
  }
  if (f.os !== undefined) opts.push(stringOption(IdbOption.OS, f.os));
  if (f.fcsLen !== undefined) opts.push(u8Option(IdbOption.FCSLEN, f.fcsLen));
  if (f.tsOffset !== undefined && f.tsOffset !== 0n) opts.push(u64Option(IdbOption.TSOFFSET, BigInt.asUintN(64, f.tsOffset), le));
  if (f.hardware !== undefined) opts.push(stringOption(IdbOption.HARDWARE, f.hardware));
  if (f.txSpeed !== undefined) opts.push(u64Option(IdbOption.TXSPEED, f.txSpeed, le));
  if (f.rxSpeed !== undefined) opts.push(u64Option(IdbOption.RXSPEED, f.rxSpeed, le));
  if (f.ianaTzName !== undefined) opts.push(stringOption(IdbOption.IANA_TZNAME, f.ianaTzName));
  const out = block(BlockType.IDB, 20 + optionsLength(opts), le);
  putU16(out, 8, f.linkType, le);
  putU16(out, 10, 0, le);
  putU32(out, 12, f.snapLen, le);
  putOptions(out, 16, opts, le);
  return out;
}

/** Per-packet options of an EPB. */
export interface EpbFields {
  flags?: number;
  dropCount?: bigint;
  queue?: number;
  packetId?: bigint;
  hashes?: readonly PacketHash[];
  verdicts?: readonly PacketVerdict[];
  processId?: number;
  threadId?: number;
  comments?: readonly string[];
}

/** The option list of an EPB, in a fixed order (comments, flags, hashes, dropcount, packetid, queue, verdicts, pid/tid). */
export function epbOptions(x: EpbFields | undefined, le: boolean): OptionValue[] {
  if (x === undefined) return [];
  const opts = commentOptions(x.comments);
  if (x.flags !== undefined) opts.push(u32Option(EpbOption.FLAGS, x.flags, le));
  for (const h of x.hashes ?? []) opts.push(bytesOption(EpbOption.HASH, h.algorithm, h.value));
  if (x.dropCount !== undefined) opts.push(u64Option(EpbOption.DROPCOUNT, x.dropCount, le));
  if (x.packetId !== undefined) opts.push(u64Option(EpbOption.PACKETID, x.packetId, le));
  if (x.queue !== undefined) opts.push(u32Option(EpbOption.QUEUE, x.queue, le));
  for (const v of x.verdicts ?? []) opts.push(bytesOption(EpbOption.VERDICT, v.type, v.value));
  if (x.processId !== undefined || x.threadId !== undefined) {
    const v = new Uint8Array(8);
    putU32(v, 0, x.processId ?? 0, le);
    putU32(v, 4, x.threadId ?? 0, le);
    opts.push({ code: EpbOption.PROCESSID_THREADID, value: v });
  }
  return opts;
}

/**
 * Writes a complete EPB at out[p] (the caller has checked the room: 32 + pad4(data) + options) and
 * returns its length. Padding is zeroed.
 */
export function putEPB(
  out: Uint8Array,
  p: number,
  iface: number,
  tsHi: number,
  tsLo: number,
  data: Uint8Array,
  origLen: number,
  opts: readonly OptionValue[],
  le: boolean,
): number {
  const cap = data.length;
  const padded = pad4(cap);
  const len = 32 + padded + optionsLength(opts);
  putU32(out, p, BlockType.EPB, le);
  putU32(out, p + 4, len, le);
  putU32(out, p + 8, iface, le);
  putU32(out, p + 12, tsHi, le);
  putU32(out, p + 16, tsLo, le);
  putU32(out, p + 20, cap, le);
  putU32(out, p + 24, origLen, le);
  out.set(data, p + 28);
  out.fill(0, p + 28 + cap, p + 28 + padded);
  putOptions(out, p + 28 + padded, opts, le);
  putU32(out, p + len - 4, len, le);
  return len;
}

/** Length of the EPB putEPB would write. */
export function epbLength(capLen: number, opts: readonly OptionValue[]): number {
  return 32 + pad4(capLen) + optionsLength(opts);
}

/** One Enhanced Packet Block. `tsUnits` counts the interface's if_tsresol units since the epoch. */
export function encodeEPB(
  iface: number,
  tsUnits: bigint,
  data: Uint8Array,
  origLen: number = data.length,
  opts?: EpbFields,
  byteOrder: ByteOrder = 'le',
): Buffer {
  const le = isLe(byteOrder);
  if (tsUnits < 0n || tsUnits > 0xffffffffffffffffn) throw new PcapWriteError(WriteErrorCode.BAD_ARGUMENT, `timestamp ${tsUnits} is not a u64`);
  const o = epbOptions(opts, le);
  const out = Buffer.allocUnsafe(epbLength(data.length, o));
  putEPB(out, 0, iface, Number(tsUnits >> 32n), Number(tsUnits & 0xffffffffn), data, origLen, o, le);
  return out;
}

/** One Simple Packet Block (interface 0, no timestamp). */
export function encodeSPB(data: Uint8Array, origLen: number = data.length, byteOrder: ByteOrder = 'le'): Buffer {
  const le = isLe(byteOrder);
  const out = block(BlockType.SPB, 16 + pad4(data.length), le);
  putU32(out, 8, origLen, le);
  out.set(data, 12);
  return out;
}

/** Counters of an ISB. Absent (or null) counters are omitted: unknown, never 0. */
export interface IsbFields {
  startUnits?: bigint | null;
  endUnits?: bigint | null;
  ifRecv?: bigint | null;
  ifDrop?: bigint | null;
  filterAccept?: bigint | null;
  osDrop?: bigint | null;
  usrDeliv?: bigint | null;
  comments?: readonly string[];
}

export function encodeISB(iface: number, tsUnits: bigint, f: IsbFields = {}, byteOrder: ByteOrder = 'le'): Buffer {
  const le = isLe(byteOrder);
  const opts = commentOptions(f.comments);
  if (f.startUnits != null) opts.push(tsOption(IsbOption.STARTTIME, f.startUnits, le));
  if (f.endUnits != null) opts.push(tsOption(IsbOption.ENDTIME, f.endUnits, le));
  if (f.ifRecv != null) opts.push(u64Option(IsbOption.IFRECV, f.ifRecv, le));
  if (f.ifDrop != null) opts.push(u64Option(IsbOption.IFDROP, f.ifDrop, le));
  if (f.filterAccept != null) opts.push(u64Option(IsbOption.FILTERACCEPT, f.filterAccept, le));
  if (f.osDrop != null) opts.push(u64Option(IsbOption.OSDROP, f.osDrop, le));
  if (f.usrDeliv != null) opts.push(u64Option(IsbOption.USRDELIV, f.usrDeliv, le));
  const out = block(BlockType.ISB, 24 + optionsLength(opts), le);
  putU32(out, 8, iface, le);
  putU32(out, 12, Number(tsUnits >> 32n), le);
  putU32(out, 16, Number(tsUnits & 0xffffffffn), le);
  putOptions(out, 20, opts, le);
  return out;
}

export interface NrbFields {
  dnsName?: string;
  dnsIPv4?: string;
  dnsIPv6?: string;
  comments?: readonly string[];
}

export function encodeNRB(entries: readonly NameResolutionEntry[], f: NrbFields = {}, byteOrder: ByteOrder = 'le'): Buffer {
  const le = isLe(byteOrder);
  const records: { type: number; value: Uint8Array }[] = [];
  for (const e of entries) {
    const addr =
      e.type === 'ipv4' ? parseIpv4(e.address) : e.type === 'ipv6' ? parseIpv6(e.address) : parseHexOctets(e.address, e.type === 'eui48' ? 6 : 8);
    const names = e.names.map((n) => utf8.encode(n));
    const value = new Uint8Array(addr.length + names.reduce((a, n) => a + n.length + 1, 0));
    value.set(addr, 0);
    let p = addr.length;
    for (const n of names) {
      value.set(n, p);
      p += n.length + 1;
    }
    const type = e.type === 'ipv4' ? NrbRecordType.IPV4 : e.type === 'ipv6' ? NrbRecordType.IPV6 : e.type === 'eui48' ? NrbRecordType.EUI48 : NrbRecordType.EUI64;
    records.push({ type, value });
  }
  const opts = commentOptions(f.comments);
  if (f.dnsName !== undefined) opts.push(stringOption(NrbOption.DNSNAME, f.dnsName));
  if (f.dnsIPv4 !== undefined) opts.push({ code: NrbOption.DNSIP4ADDR, value: parseIpv4(f.dnsIPv4) });
  if (f.dnsIPv6 !== undefined) opts.push({ code: NrbOption.DNSIP6ADDR, value: parseIpv6(f.dnsIPv6) });
  let recLen = 4; // nrb_record_end
  for (const r of records) recLen += 4 + pad4(r.value.length);
  const out = block(BlockType.NRB, 12 + recLen + optionsLength(opts), le);
  let p = 8;
  for (const r of records) {
    putU16(out, p, r.type, le);
    putU16(out, p + 2, r.value.length, le);
    out.set(r.value, p + 4);
    p += 4 + pad4(r.value.length);
  }
  putU32(out, p, 0, le);
  putOptions(out, p + 4, opts, le);
  return out;
}

export function encodeDSB(secretsType: number, secrets: Uint8Array, comments?: readonly string[], byteOrder: ByteOrder = 'le'): Buffer {
  const le = isLe(byteOrder);
  const opts = commentOptions(comments);
  const out = block(BlockType.DSB, 20 + pad4(secrets.length) + optionsLength(opts), le);
  putU32(out, 8, secretsType, le);
  putU32(out, 12, secrets.length, le);
  out.set(secrets, 16);
  putOptions(out, 16 + pad4(secrets.length), opts, le);
  return out;
}

/** A Custom Block. `data` is the custom data and any options, opaque; it is padded to 32 bits. */
export function encodeCustomBlock(pen: number, data: Uint8Array, copyable = true, byteOrder: ByteOrder = 'le'): Buffer {
  const le = isLe(byteOrder);
  const out = block(copyable ? BlockType.CUSTOM : BlockType.CUSTOM_NOCOPY, 16 + pad4(data.length), le);
  putU32(out, 8, pen, le);
  out.set(data, 12);
  return out;
}

/** Any block from type and body (the body is padded to 32 bits). */
export function encodeBlock(type: number, body: Uint8Array, byteOrder: ByteOrder = 'le'): Buffer {
  const out = block(type, 12 + pad4(body.length), isLe(byteOrder));
  out.set(body, 8);
  return out;
}

export interface PcapHeaderFields {
  linkType: number;
  snapLen: number;
  /** Nanosecond magic (0xA1B23C4D) instead of microseconds. */
  nanos?: boolean;
  /** FCS length in bits, written in the link-type word (P bit set) when given; must be a multiple of 16. */
  fcsLen?: number;
}

export function encodePcapHeader(f: PcapHeaderFields, byteOrder: ByteOrder = 'le'): Buffer {
  const le = isLe(byteOrder);
  if (!Number.isInteger(f.linkType) || f.linkType < 0 || f.linkType > 0xffff) {
    throw new PcapWriteError(WriteErrorCode.BAD_ARGUMENT, `link type must be 0..65535, got ${f.linkType}`);
  }
  if (!Number.isInteger(f.snapLen) || f.snapLen < 1 || f.snapLen > 0xffffffff) {
    throw new PcapWriteError(WriteErrorCode.BAD_ARGUMENT, `classic pcap snap length must be 1..4294967295, got ${f.snapLen}`);
  }
  let lt = f.linkType;
  if (f.fcsLen !== undefined) {
    const words = f.fcsLen / 16;
    if (!Number.isInteger(words) || words < 0 || words > 15) {
      throw new PcapWriteError(WriteErrorCode.BAD_ARGUMENT, `classic pcap FCS length must be a multiple of 16 bits up to 240, got ${f.fcsLen}`);
    }
    lt = (lt | PCAP_LT_FCS_PRESENT | (words << PCAP_LT_FCS_SHIFT)) >>> 0;
  }
  const out = Buffer.alloc(24);
  putU32(out, 0, f.nanos === true ? PCAP_MAGIC_NS : PCAP_MAGIC_US, le);
  putU16(out, 4, PCAP_VERSION_MAJOR, le);
  putU16(out, 6, PCAP_VERSION_MINOR, le);
  putU32(out, 16, f.snapLen, le);
  putU32(out, 20, lt, le);
  return out;
}

/** One classic pcap record; `frac` is microseconds or nanoseconds to match the file's magic. */
export function encodePcapRecord(sec: number, frac: number, data: Uint8Array, origLen: number = data.length, byteOrder: ByteOrder = 'le'): Buffer {
  const le = isLe(byteOrder);
  const out = Buffer.allocUnsafe(16 + data.length);
  putU32(out, 0, sec, le);
  putU32(out, 4, frac, le);
  putU32(out, 8, data.length, le);
  putU32(out, 12, origLen, le);
  out.set(data, 16);
  return out;
}
