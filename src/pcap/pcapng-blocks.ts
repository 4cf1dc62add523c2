// Parsers for the pcapng blocks that are not on the per-packet hot path: SHB, IDB, NRB, ISB, DSB,
// Custom, and the option lists of EPB and PB. Each takes the whole block at buf[pos, pos+len)
// (already length-checked by the driver) and returns plain objects.

import { PcapErrorCode, PcapFormatError, type PcapWarning } from '../errors.js';
import {
  BlockType,
  EpbOption,
  IdbOption,
  IsbOption,
  NrbOption,
  NrbRecordType,
  OPT_COMMENT,
  PbOption,
  PCAPNG_VERSION_MAJOR,
  ShbOption,
} from './constants.js';
import { copyBytes, hexOctets, ipv4String, ipv6String, readString, readStrings, s64, u16, u32, u64 } from './bytes.js';
import { badLengthError, badLengthWarning, walkOptions } from './pcapng-options.js';
import { resolutionFromByte, RES_MICRO, TsConverter } from './timestamps.js';
import type {
  CustomRecord,
  DsbRecord,
  InterfaceInfo,
  IsbRecord,
  NameResolutionEntry,
  NrbRecord,
  PacketExtras,
  SectionInfo,
} from './types.js';

type Warn = (w: PcapWarning) => void;

function tooShort(base: number, pos: number, name: string, len: number, min: number): never {
  throw new PcapFormatError(
    PcapErrorCode.BAD_BLOCK_LENGTH,
    base + pos,
    `${name} block length ${len} is shorter than its fixed fields (${min} bytes)`,
  );
}

/** SHB at pos: byte order already decided by the caller from the byte-order magic. */
export function parseShb(
  buf: Uint8Array,
  pos: number,
  len: number,
  le: boolean,
  base: number,
  index: number,
): SectionInfo {
  if (len < 28) tooShort(base, pos, 'SHB', len, 28);
  const major = u16(buf, pos + 12, le);
  const minor = u16(buf, pos + 14, le);
  // Readers MUST treat minor 2 as 0; libpcap accepts exactly 1.0 and 1.2, and so do we.
  if (major !== PCAPNG_VERSION_MAJOR || (minor !== 0 && minor !== 2)) {
    throw new PcapFormatError(
      PcapErrorCode.UNSUPPORTED_VERSION,
      base + pos + 12,
      `unsupported pcapng version ${major}.${minor} (this reader knows 1.0)`,
    );
  }
  const section: SectionInfo = {
    index,
    format: 'pcapng',
    byteOrder: le ? 'le' : 'be',
    version: { major, minor },
    sectionLength: s64(buf, pos + 16, le),
    comments: [],
    interfaces: [],
    offset: base + pos,
  };
  walkOptions(buf, pos + 24, pos + len - 4, le, base, 'SHB', (code, s, n) => {
    switch (code) {
      case OPT_COMMENT:
        section.comments.push(readString(buf, s, s + n));
        break;
      case ShbOption.HARDWARE:
        section.hardware = readString(buf, s, s + n);
        break;
      case ShbOption.OS:
        section.os = readString(buf, s, s + n);
        break;
      case ShbOption.USERAPPL:
        section.userAppl = readString(buf, s, s + n);
        break;
      default:
      // Custom and unknown options are skipped, as the spec allows.
    }
  });
  return section;
}

/** IDB at pos, returning the interface and its timestamp converter. */
export function parseIdb(
  buf: Uint8Array,
  pos: number,
  len: number,
  le: boolean,
  base: number,
  index: number,
  warn: Warn,
): { info: InterfaceInfo; conv: TsConverter } {
  if (len < 20) tooShort(base, pos, 'IDB', len, 20);
  const info: InterfaceInfo = {
    index,
    linkType: u16(buf, pos + 8, le),
    snapLen: u32(buf, pos + 12, le),
    tsResolution: RES_MICRO,
    tsOffset: 0n,
    comments: [],
  };
  walkOptions(buf, pos + 16, pos + len - 4, le, base, 'IDB', (code, s, n) => {
    const at = base + s - 4;
    switch (code) {
      case OPT_COMMENT:
        info.comments.push(readString(buf, s, s + n));
        break;
      case IdbOption.NAME:
        info.name = readString(buf, s, s + n);
        break;
      case IdbOption.DESCRIPTION:
        info.description = readString(buf, s, s + n);
        break;
      case IdbOption.IPV4ADDR:
        if (n !== 8) badLengthWarning(warn, at, 'IDB', 'if_IPv4addr', n, '8');
        else (info.ipv4Addresses ??= []).push(`${ipv4String(buf, s)}/${ipv4String(buf, s + 4)}`);
        break;
      case IdbOption.IPV6ADDR:
        if (n !== 17) badLengthWarning(warn, at, 'IDB', 'if_IPv6addr', n, '17');
        else (info.ipv6Addresses ??= []).push(`${ipv6String(buf, s)}/${buf[s + 16]}`);
        break;
      case IdbOption.MACADDR:
        if (n !== 6) badLengthWarning(warn, at, 'IDB', 'if_MACaddr', n, '6');
        else info.macAddress = hexOctets(buf, s, 6);
        break;
      case IdbOption.EUIADDR:
        if (n !== 8) badLengthWarning(warn, at, 'IDB', 'if_EUIaddr', n, '8');
        else info.euiAddress = hexOctets(buf, s, 8);
        break;
      case IdbOption.SPEED:
        if (n !== 8) badLengthWarning(warn, at, 'IDB', 'if_speed', n, '8');
        else info.speed = u64(buf, s, le);
        break;
      case IdbOption.TXSPEED:
        if (n !== 8) badLengthWarning(warn, at, 'IDB', 'if_txspeed', n, '8');
        else info.txSpeed = u64(buf, s, le);
        break;
      case IdbOption.RXSPEED:
        if (n !== 8) badLengthWarning(warn, at, 'IDB', 'if_rxspeed', n, '8');
        else info.rxSpeed = u64(buf, s, le);
        break;
      case IdbOption.TSRESOL:
        if (n !== 1) badLengthError(at, 'IDB', 'if_tsresol', n, '1');
        info.tsResolution = resolutionFromByte(buf[s]!);
        break;
      case IdbOption.TZONE:
        if (n !== 4) badLengthWarning(warn, at, 'IDB', 'if_tzone', n, '4');
        else info.tzone = u32(buf, s, le) | 0;
        break;
      case IdbOption.FILTER:
        if (n < 1) badLengthWarning(warn, at, 'IDB', 'if_filter', n, 'at least 1');
        else {
          const kind = buf[s]!;
          const data = copyBytes(buf, s + 1, s + n);
          info.filter = kind === 0 ? { kind, text: readString(buf, s + 1, s + n), data } : { kind, data };
        }
        break;
      case IdbOption.OS:
        info.os = readString(buf, s, s + n);
        break;
      case IdbOption.FCSLEN:
        if (n !== 1) badLengthWarning(warn, at, 'IDB', 'if_fcslen', n, '1');
        else info.fcsLen = buf[s]!;
        break;
      case IdbOption.TSOFFSET:
        if (n !== 8) badLengthError(at, 'IDB', 'if_tsoffset', n, '8');
        info.tsOffset = s64(buf, s, le);
        break;
      case IdbOption.HARDWARE:
        info.hardware = readString(buf, s, s + n);
        break;
      case IdbOption.IANA_TZNAME:
        info.ianaTzName = readString(buf, s, s + n);
        break;
      default:
    }
  });
  return { info, conv: new TsConverter(info.tsResolution, info.tsOffset) };
}

/**
 * EPB (or PB, with `pb` set) options in buf[start, end). Returns undefined when the list holds
 * nothing but padding or opt_endofopt.
 */
export function parsePacketOptions(
  buf: Uint8Array,
  start: number,
  end: number,
  le: boolean,
  base: number,
  pb: boolean,
  warn: Warn,
): PacketExtras | undefined {
  let x: PacketExtras | undefined;
  const name = pb ? 'PB' : 'EPB';
  walkOptions(buf, start, end, le, base, name, (code, s, n) => {
    const at = base + s - 4;
    x ??= { comments: [] };
    if (code === OPT_COMMENT) {
      x.comments.push(readString(buf, s, s + n));
      return;
    }
    if (pb && code !== PbOption.FLAGS && code !== PbOption.HASH) return;
    switch (code) {
      case EpbOption.FLAGS:
        if (n !== 4) badLengthWarning(warn, at, name, 'flags', n, '4');
        else x.flags = u32(buf, s, le);
        break;
      case EpbOption.HASH:
        if (n < 1) badLengthWarning(warn, at, name, 'hash', n, 'at least 1');
        else (x.hashes ??= []).push({ algorithm: buf[s]!, value: copyBytes(buf, s + 1, s + n) });
        break;
      case EpbOption.DROPCOUNT:
        if (n !== 8) badLengthWarning(warn, at, name, 'epb_dropcount', n, '8');
        else x.dropCount = u64(buf, s, le);
        break;
      case EpbOption.PACKETID:
        if (n !== 8) badLengthWarning(warn, at, name, 'epb_packetid', n, '8');
        else x.packetId = u64(buf, s, le);
        break;
      case EpbOption.QUEUE:
        if (n !== 4) badLengthWarning(warn, at, name, 'epb_queue', n, '4');
        else x.queue = u32(buf, s, le);
        break;
      case EpbOption.VERDICT:
        if (n < 1) badLengthWarning(warn, at, name, 'epb_verdict', n, 'at least 1');
        else (x.verdicts ??= []).push({ type: buf[s]!, value: copyBytes(buf, s + 1, s + n) });
        break;
      case EpbOption.PROCESSID_THREADID:
        if (n !== 8) badLengthWarning(warn, at, name, 'epb_processid_threadid', n, '8');
        else {
          x.processId = u32(buf, s, le);
          x.threadId = u32(buf, s + 4, le);
        }
        break;
      default:
    }
  });
  return x;
}

/** NRB: name records up to nrb_record_end, then options. */
export function parseNrb(buf: Uint8Array, pos: number, len: number, le: boolean, base: number, warn: Warn): NrbRecord {
  const end = pos + len - 4;
  const rec: NrbRecord = { kind: 'nrb', offset: base + pos, entries: [], comments: [] };
  let p = pos + 8;
  let optStart = end;
  while (end - p >= 4) {
    const type = u16(buf, p, le);
    const n = u16(buf, p + 2, le);
    if (type === NrbRecordType.END) {
      optStart = p + 4;
      break;
    }
    const s = p + 4;
    if (n > end - s) {
      throw new PcapFormatError(
        PcapErrorCode.BAD_BLOCK,
        base + p,
        `NRB record of type ${type} claims ${n} bytes but only ${end - s} remain in the block`,
      );
    }
    const addrLen =
      type === NrbRecordType.IPV4 ? 4 : type === NrbRecordType.IPV6 ? 16 : type === NrbRecordType.EUI48 ? 6 : type === NrbRecordType.EUI64 ? 8 : -1;
    if (addrLen > 0) {
      if (n < addrLen) {
        badLengthWarning(warn, base + p, 'NRB', `record type ${type}`, n, `at least ${addrLen}`);
      } else {
        const entry: NameResolutionEntry = {
          type: type === NrbRecordType.IPV4 ? 'ipv4' : type === NrbRecordType.IPV6 ? 'ipv6' : type === NrbRecordType.EUI48 ? 'eui48' : 'eui64',
          address: addrLen === 4 ? ipv4String(buf, s) : addrLen === 16 ? ipv6String(buf, s) : hexOctets(buf, s, addrLen),
          names: readStrings(buf, s + addrLen, s + n),
        };
        rec.entries.push(entry);
      }
    }
    // Unknown record types MUST be skipped.
    p = s + ((n + 3) & ~3);
  }
  walkOptions(buf, optStart, end, le, base, 'NRB', (code, s, n) => {
    switch (code) {
      case OPT_COMMENT:
        rec.comments.push(readString(buf, s, s + n));
        break;
      case NrbOption.DNSNAME:
        rec.dnsName = readString(buf, s, s + n);
        break;
      case NrbOption.DNSIP4ADDR:
        if (n !== 4) badLengthWarning(warn, base + s - 4, 'NRB', 'ns_dnsIP4addr', n, '4');
        else rec.dnsIPv4 = ipv4String(buf, s);
        break;
      case NrbOption.DNSIP6ADDR:
        if (n !== 16) badLengthWarning(warn, base + s - 4, 'NRB', 'ns_dnsIP6addr', n, '16');
        else rec.dnsIPv6 = ipv6String(buf, s);
        break;
      default:
    }
  });
  return rec;
}

/** ISB; `conv` is the converter of the interface it names (checked by the caller). */
export function parseIsb(
  buf: Uint8Array,
  pos: number,
  len: number,
  le: boolean,
  base: number,
  iface: number,
  conv: TsConverter,
  warn: Warn,
): IsbRecord {
  const tsAt = (p: number): bigint => conv.unitsToNs((BigInt(u32(buf, p, le)) << 32n) | BigInt(u32(buf, p + 4, le)));
  const rec: IsbRecord = { kind: 'isb', offset: base + pos, interface: iface, ts: tsAt(pos + 12), comments: [] };
  walkOptions(buf, pos + 20, pos + len - 4, le, base, 'ISB', (code, s, n) => {
    if (code === OPT_COMMENT) {
      rec.comments.push(readString(buf, s, s + n));
      return;
    }
    if (code < IsbOption.STARTTIME || code > IsbOption.USRDELIV) return;
    if (n !== 8) {
      badLengthWarning(warn, base + s - 4, 'ISB', `option ${code}`, n, '8');
      return;
    }
    switch (code) {
      case IsbOption.STARTTIME:
        rec.startTime = tsAt(s);
        break;
      case IsbOption.ENDTIME:
        rec.endTime = tsAt(s);
        break;
      case IsbOption.IFRECV:
        rec.ifRecv = u64(buf, s, le);
        break;
      case IsbOption.IFDROP:
        rec.ifDrop = u64(buf, s, le);
        break;
      case IsbOption.FILTERACCEPT:
        rec.filterAccept = u64(buf, s, le);
        break;
      case IsbOption.OSDROP:
        rec.osDrop = u64(buf, s, le);
        break;
      case IsbOption.USRDELIV:
        rec.usrDeliv = u64(buf, s, le);
        break;
    }
  });
  return rec;
}

export function parseDsb(buf: Uint8Array, pos: number, len: number, le: boolean, base: number): DsbRecord {
  if (len < 20) tooShort(base, pos, 'DSB', len, 20);
  const secretsType = u32(buf, pos + 8, le);
  const n = u32(buf, pos + 12, le);
  const avail = len - 20;
  if (n > avail) {
    throw new PcapFormatError(
      PcapErrorCode.BAD_BLOCK,
      base + pos + 12,
      `DSB secrets length ${n} exceeds the ${avail} bytes left in the block`,
    );
  }
  const rec: DsbRecord = {
    kind: 'dsb',
    offset: base + pos,
    secretsType,
    data: copyBytes(buf, pos + 16, pos + 16 + n),
    comments: [],
  };
  walkOptions(buf, pos + 16 + ((n + 3) & ~3), pos + len - 4, le, base, 'DSB', (code, s, m) => {
    if (code === OPT_COMMENT) rec.comments.push(readString(buf, s, s + m));
  });
  return rec;
}

export function parseCustom(buf: Uint8Array, pos: number, len: number, le: boolean, base: number, type: number): CustomRecord {
  if (len < 16) tooShort(base, pos, 'Custom', len, 16);
  return {
    kind: 'custom',
    offset: base + pos,
    blockType: type,
    copyable: type === BlockType.CUSTOM,
    pen: u32(buf, pos + 8, le),
    data: copyBytes(buf, pos + 12, pos + len - 4),
  };
}
