// The incremental parser: given a window buf[pos, end) of the stream, it fills a BatchBuilder with
// packets (classic pcap records, EPB, SPB, PB) and records (every other block) until it needs more
// bytes, the batch must be handed out, or the input is malformed (PcapFormatError). It never reads
// past `end` and never allocates from a length field: block lengths are checked against
// maxBlockLength before the driver is asked for that many bytes.

import { PcapErrorCode, PcapFormatError, PcapWarningCode, type PcapWarning } from '../errors.js';
import {
  BlockType,
  PCAP_FILE_HEADER_LEN,
  PCAP_LT_FCS_PRESENT,
  PCAP_LT_FCS_SHIFT,
  PCAP_LT_LINKTYPE_MASK,
  PCAP_LT_R_BIT,
  PCAP_LT_RESERVED_MASK,
  PCAP_MAGIC_NS,
  PCAP_MAGIC_NS_SWAPPED,
  PCAP_MAGIC_US,
  PCAP_MAGIC_US_SWAPPED,
  PCAP_REASONABLE_CAPLEN,
  PCAP_VERSION_MAJOR,
  PCAP_VERSION_MINOR,
  PCAPNG_BYTE_ORDER_MAGIC,
  PCAPNG_BYTE_ORDER_MAGIC_SWAPPED,
} from './constants.js';
import { u16be, u16le, u32be, u32le } from './bytes.js';
import { KIND_EPB, KIND_PB, KIND_SPB, NO_TIMESTAMP, type BatchBuilder } from './batch.js';
import {
  parseCustom,
  parseDsb,
  parseIdb,
  parseIsb,
  parseNrb,
  parsePacketOptions,
  parseShb,
} from './pcapng-blocks.js';
import { RES_MICRO, RES_NANO, splitOut, splitUnits, TS_MICRO, TS_NANO, TsConverter } from './timestamps.js';
import type { InterfaceInfo, SectionInfo, TraceFormat } from './types.js';
import {
  nativePcapWalker,
  WALK_BAD_CAPLEN,
  WALK_COUNT,
  WALK_FLUSH,
  WALK_NEED_BYTES,
  WALK_POS,
  WALK_WARN_AT,
  type NativePcapRecordWalker,
} from './native.js';

/** Why parse() returned. */
export const STOP_NEED = 1;
export const STOP_FLUSH = 2;

export interface ParserOptions {
  maxBlockLength: number;
  onWarning: (w: PcapWarning) => void;
}

const TWO32 = 4294967296;

function hex32(v: number): string {
  return `0x${v.toString(16).padStart(8, '0')}`;
}

export class TraceParser {
  format: TraceFormat | undefined = undefined;
  readonly sections: SectionInfo[] = [];
  /** After STOP_NEED: bytes needed from the returned position before progress is possible. */
  need = 0;
  stop = 0;

  private section: SectionInfo | undefined;
  private le = true;
  private convs: TsConverter[] = [];
  private pcapNano = false;
  private pcapCapLimit = 0;
  private warnedTimestamp = false;
  /** The native walker of classic pcap records, where the addon is built (see native-walk.ts). */
  private native: NativePcapRecordWalker | undefined;
  private readonly nativeState = new Float64Array(4);
  private readonly maxBlock: number;
  private readonly warn: (w: PcapWarning) => void;

  constructor(opts: ParserOptions) {
    this.maxBlock = opts.maxBlockLength;
    this.warn = opts.onWarning;
  }

  /** True once the file header (pcap) or first SHB (pcapng) has been read. */
  get started(): boolean {
    return this.section !== undefined;
  }

  /**
   * Parses from pos; returns the position of the first byte not consumed. `base` is the stream
   * offset of buf[0]. Sets `stop` (and `need` for STOP_NEED).
   */
  parse(buf: Buffer, pos: number, end: number, base: number, b: BatchBuilder): number {
    this.stop = 0;
    this.need = 0;
    if (b.count === 0) b.buffer = buf;
    if (b.section === null && this.section !== undefined) b.section = this.section;
    if (this.section === undefined) {
      pos = this.parseFileStart(buf, pos, end, base, b);
      if (this.stop !== 0) return pos;
    }
    return this.format === 'pcap' ? this.parsePcap(buf, pos, end, base, b) : this.parsePcapng(buf, pos, end, base, b);
  }

  private needMore(n: number): void {
    this.stop = STOP_NEED;
    this.need = n;
  }

  // ---------------------------------------------------------------------------------------------
  // File start: magic, then the classic header or (left to the block loop) the first SHB.

  private parseFileStart(buf: Buffer, pos: number, end: number, base: number, b: BatchBuilder): number {
    if (end - pos < 4) {
      this.needMore(4);
      return pos;
    }
    const magic = u32le(buf, pos);
    if (magic === BlockType.SHB) {
      this.format = 'pcapng';
      return pos;
    }
    let le: boolean;
    let nano: boolean;
    if (magic === PCAP_MAGIC_US || magic === PCAP_MAGIC_NS) {
      le = true;
      nano = magic === PCAP_MAGIC_NS;
    } else if (magic === PCAP_MAGIC_US_SWAPPED || magic === PCAP_MAGIC_NS_SWAPPED) {
      le = false;
      nano = magic === PCAP_MAGIC_NS_SWAPPED;
    } else {
      throw new PcapFormatError(
        PcapErrorCode.BAD_MAGIC,
        base + pos,
        `not a pcap or pcapng file: it starts with ${hex32(u32be(buf, pos))}`,
      );
    }
    this.format = 'pcap';
    if (end - pos < PCAP_FILE_HEADER_LEN) {
      this.needMore(PCAP_FILE_HEADER_LEN);
      return pos;
    }
    const r32 = le ? u32le : u32be;
    const r16 = le ? u16le : u16be;
    const major = r16(buf, pos + 4);
    const minor = r16(buf, pos + 6);
    if (major !== PCAP_VERSION_MAJOR || minor > PCAP_VERSION_MINOR) {
      throw new PcapFormatError(
        PcapErrorCode.UNSUPPORTED_VERSION,
        base + pos + 4,
        `unsupported pcap version ${major}.${minor} (this reader knows 2.4)`,
      );
    }
    const snapLen = r32(buf, pos + 16);
    const ltWord = r32(buf, pos + 20);
    if ((ltWord & (PCAP_LT_RESERVED_MASK | PCAP_LT_R_BIT)) !== 0) {
      throw new PcapFormatError(
        PcapErrorCode.BAD_LINKTYPE,
        base + pos + 20,
        `reserved bits set in the pcap link-type word ${hex32(ltWord)}`,
      );
    }
    const iface: InterfaceInfo = {
      index: 0,
      linkType: ltWord & PCAP_LT_LINKTYPE_MASK,
      snapLen,
      tsResolution: nano ? RES_NANO : RES_MICRO,
      tsOffset: 0n,
      comments: [],
    };
    if ((ltWord & PCAP_LT_FCS_PRESENT) !== 0) iface.fcsLen = ((ltWord >>> PCAP_LT_FCS_SHIFT) & 0xf) * 16;
    const section: SectionInfo = {
      index: 0,
      format: 'pcap',
      byteOrder: le ? 'le' : 'be',
      version: { major, minor },
      sectionLength: -1n,
      comments: [],
      interfaces: [iface],
      offset: base + pos,
    };
    this.le = le;
    this.pcapNano = nano;
    this.native = nativePcapWalker(buf.subarray(pos, pos + PCAP_FILE_HEADER_LEN), this.maxBlock, this.nativeState);
    this.pcapCapLimit = Math.min(this.maxBlock, Math.max(snapLen, PCAP_REASONABLE_CAPLEN));
    this.section = section;
    this.sections.push(section);
    b.section = section;
    if (b.streamOffset < 0) b.streamOffset = base + pos;
    b.records.push({ kind: 'pcap-header', offset: base + pos, section });
    return pos + PCAP_FILE_HEADER_LEN;
  }

  // ---------------------------------------------------------------------------------------------
  // Classic pcap records: the hot loop of the common case.

  /** The native walk of a chunk's records (the default); the JS loop below is the reference. */
  private parsePcapNative(w: NativePcapRecordWalker, buf: Buffer, pos: number, end: number, base: number, b: BatchBuilder): number {
    if (b.streamOffset < 0) b.streamOffset = base + pos;
    const st = this.nativeState;
    const stop = w.walk(buf, pos, end, base, b.dataOffset, b.capLen, b.origLen, b.tsSec, b.tsNsec, b.count, b.capacity);
    b.count = st[WALK_COUNT]!;
    if (st[WALK_WARN_AT]! >= 0) this.timestampWarning(st[WALK_WARN_AT]!);
    const at = st[WALK_POS]!;
    if (stop === WALK_FLUSH) this.stop = STOP_FLUSH;
    else if (stop === WALK_BAD_CAPLEN) this.badCaplen(buf, at, base);
    else this.needMore(st[WALK_NEED_BYTES]!);
    return at;
  }

  private badCaplen(buf: Buffer, pos: number, base: number): never {
    const incl = this.le ? u32le(buf, pos + 8) : u32be(buf, pos + 8);
    throw new PcapFormatError(
      PcapErrorCode.BAD_CAPLEN,
      base + pos + 8,
      `pcap record claims a captured length of ${incl} bytes, more than the ${this.pcapCapLimit} this file allows`,
    );
  }

  private parsePcap(buf: Buffer, pos: number, end: number, base: number, b: BatchBuilder): number {
    if (this.native !== undefined) return this.parsePcapNative(this.native, buf, pos, end, base, b);
    const le = this.le;
    const limit = this.pcapCapLimit;
    const fracPerSec = this.pcapNano ? 1_000_000_000 : 1_000_000;
    const fracToNs = this.pcapNano ? 1 : 1000;
    const capacity = b.capacity;
    const dataOffset = b.dataOffset;
    const capLen = b.capLen;
    const origLen = b.origLen;
    const tsSec = b.tsSec;
    const tsNsec = b.tsNsec;
    const dv = this.viewOf(buf);
    // iface and kinds stay 0 (KIND_PCAP) from the zero-filled allocation.
    let n = b.count;
    if (b.streamOffset < 0) b.streamOffset = base + pos;
    for (;;) {
      if (n === capacity) {
        this.stop = STOP_FLUSH;
        break;
      }
      if (end - pos < 16) {
        this.needMore(16);
        break;
      }
      // Literal byte orders let TurboFan emit plain (or byte-swapped) loads.
      let sec: number, frac: number, incl: number, orig: number;
      if (le) {
        sec = dv.getUint32(pos, true);
        frac = dv.getUint32(pos + 4, true);
        incl = dv.getUint32(pos + 8, true);
        orig = dv.getUint32(pos + 12, true);
      } else {
        sec = dv.getUint32(pos, false);
        frac = dv.getUint32(pos + 4, false);
        incl = dv.getUint32(pos + 8, false);
        orig = dv.getUint32(pos + 12, false);
      }
      if (incl > limit) {
        b.count = n;
        this.badCaplen(buf, pos, base);
      }
      if (end - pos - 16 < incl) {
        this.needMore(16 + incl);
        break;
      }
      if (frac >= fracPerSec) {
        const carry = Math.floor(frac / fracPerSec);
        sec += carry;
        frac -= carry * fracPerSec;
        this.timestampWarning(base + pos);
      }
      dataOffset[n] = pos + 16;
      capLen[n] = incl;
      origLen[n] = orig;
      tsSec[n] = sec;
      tsNsec[n] = frac * fracToNs;
      n++;
      pos += 16 + incl;
    }
    b.count = n;
    return pos;
  }

  private lastBuf: Buffer | undefined;
  private lastView: DataView | undefined;

  /** A DataView over the chunk (TurboFan turns its getters into single loads). */
  private viewOf(buf: Buffer): DataView {
    if (buf !== this.lastBuf) {
      this.lastBuf = buf;
      this.lastView = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    }
    return this.lastView!;
  }

  private timestampWarning(offset: number): void {
    if (this.warnedTimestamp) return;
    this.warnedTimestamp = true;
    this.warn({
      code: PcapWarningCode.BAD_TIMESTAMP,
      offset,
      message: 'pcap record timestamp fraction is 1 s or more; carried into the seconds (first of possibly several)',
    });
  }

  // ---------------------------------------------------------------------------------------------
  // pcapng blocks.

  private parsePcapng(buf: Buffer, pos: number, end: number, base: number, b: BatchBuilder): number {
    const max = this.maxBlock;
    const dv = this.viewOf(buf);
    let n = b.count;
    try {
      for (;;) {
        const avail = end - pos;
        if (avail < 12) {
          this.needMore(12);
          break;
        }
        let le = this.le;
        const type = dv.getUint32(pos, le);
        if (type === BlockType.SHB) {
          const bom = u32le(buf, pos + 8);
          if (bom === PCAPNG_BYTE_ORDER_MAGIC) le = true;
          else if (bom === PCAPNG_BYTE_ORDER_MAGIC_SWAPPED) le = false;
          else {
            throw new PcapFormatError(
              PcapErrorCode.BAD_MAGIC,
              base + pos + 8,
              `Section Header Block byte-order magic ${hex32(u32be(buf, pos + 8))} is neither 0x1a2b3c4d nor 0x4d3c2b1a`,
            );
          }
        }
        const len = dv.getUint32(pos + 4, le);
        if (len < 12 || (len & 3) !== 0 || len > max) {
          const why =
            len < 12 ? 'is below the 12-byte minimum' : (len & 3) !== 0 ? 'is not a multiple of 4' : `exceeds the ${max}-byte limit`;
          throw new PcapFormatError(PcapErrorCode.BAD_BLOCK_LENGTH, base + pos + 4, `block length ${len} ${why} (block type ${hex32(type)})`);
        }
        if (avail < len) {
          this.needMore(len);
          break;
        }
        const trail = dv.getUint32(pos + len - 4, le);
        if (trail !== len) {
          throw new PcapFormatError(
            PcapErrorCode.BAD_BLOCK_LENGTH,
            base + pos + len - 4,
            `trailing block length ${trail} disagrees with the leading length ${len} (block type ${hex32(type)})`,
          );
        }

        if (type === BlockType.EPB) {
          if (n === b.capacity) {
            this.stop = STOP_FLUSH;
            break;
          }
          if (len < 32) this.blockTooShort(base + pos, 'EPB', len, 32);
          const ifId = dv.getUint32(pos + 8, le);
          const convs = this.convs;
          if (ifId >= convs.length) this.unknownInterface(base + pos + 8, 'EPB', ifId);
          const cap = dv.getUint32(pos + 20, le);
          if (cap > len - 32) this.capBeyondBlock(base + pos + 20, 'EPB', cap, len - 32);
          const hi = dv.getUint32(pos + 12, le);
          const lo = dv.getUint32(pos + 16, le);
          const conv = convs[ifId]!;
          const mode = conv.mode;
          if (mode === TS_NANO) {
            splitUnits(hi, lo, 1_000_000_000);
            b.tsSec[n] = splitOut[0]! + conv.offsetSec;
            b.tsNsec[n] = splitOut[1]!;
          } else if (mode === TS_MICRO && hi < 0x200000) {
            const u = hi * TWO32 + lo;
            let sec = Math.floor(u / 1e6);
            let rem = u - sec * 1e6;
            if (rem < 0) {
              sec -= 1;
              rem += 1e6;
            }
            b.tsSec[n] = sec + conv.offsetSec;
            b.tsNsec[n] = rem * 1000;
          } else {
            conv.convert(hi, lo);
            b.tsSec[n] = splitOut[0]!;
            b.tsNsec[n] = splitOut[1]!;
          }
          b.dataOffset[n] = pos + 28;
          b.capLen[n] = cap;
          b.origLen[n] = dv.getUint32(pos + 24, le);
          b.iface[n] = ifId;
          b.kinds[n] = KIND_EPB;
          const optStart = pos + 28 + ((cap + 3) & ~3);
          if (optStart < pos + len - 4) {
            const x = parsePacketOptions(buf, optStart, pos + len - 4, le, base, false, this.warn);
            if (x !== undefined) b.setExtras(n, x);
          }
          if (b.streamOffset < 0) b.streamOffset = base + pos;
          n++;
          pos += len;
          continue;
        }

        if (type === BlockType.SHB) {
          // A new section ends the batch: a batch never spans two sections.
          if (n > 0 || b.records.length > 0) {
            this.stop = STOP_FLUSH;
            break;
          }
          const section = parseShb(buf, pos, len, le, base, this.sections.length);
          this.le = le;
          this.section = section;
          this.sections.push(section);
          this.convs = [];
          b.section = section;
          b.streamOffset = base + pos;
          b.records.push({ kind: 'shb', offset: base + pos, section });
          pos += len;
          continue;
        }

        const section = this.section;
        if (section === undefined) {
          // Only reachable if the first block is not an SHB, which parseFileStart rules out.
          throw new PcapFormatError(PcapErrorCode.BAD_MAGIC, base + pos, 'pcapng data before any Section Header Block');
        }

        if (type === BlockType.SPB || type === BlockType.PB) {
          if (n === b.capacity) {
            this.stop = STOP_FLUSH;
            break;
          }
          if (type === BlockType.SPB) this.simplePacket(buf, pos, len, le, base, b, n, section);
          else this.obsoletePacket(buf, pos, len, le, base, b, n);
          if (b.streamOffset < 0) b.streamOffset = base + pos;
          n++;
          pos += len;
          continue;
        }

        // Every other block becomes a record of the next batch that has no packets yet.
        if (n > 0) {
          this.stop = STOP_FLUSH;
          break;
        }
        if (b.section === null) b.section = section;
        if (b.streamOffset < 0) b.streamOffset = base + pos;
        switch (type) {
          case BlockType.IDB: {
            const { info, conv } = parseIdb(buf, pos, len, le, base, section.interfaces.length, this.warn);
            section.interfaces.push(info);
            this.convs.push(conv);
            b.records.push({ kind: 'idb', offset: base + pos, section, interface: info });
            break;
          }
          case BlockType.ISB: {
            if (len < 24) this.blockTooShort(base + pos, 'ISB', len, 24);
            const ifId = dv.getUint32(pos + 8, le);
            if (ifId >= this.convs.length) this.unknownInterface(base + pos + 8, 'ISB', ifId);
            b.records.push(parseIsb(buf, pos, len, le, base, ifId, this.convs[ifId]!, this.warn));
            break;
          }
          case BlockType.NRB:
            b.records.push(parseNrb(buf, pos, len, le, base, this.warn));
            break;
          case BlockType.DSB:
            b.records.push(parseDsb(buf, pos, len, le, base));
            break;
          case BlockType.CUSTOM:
          case BlockType.CUSTOM_NOCOPY:
            b.records.push(parseCustom(buf, pos, len, le, base, type));
            break;
          default:
            b.records.push({ kind: 'unknown', offset: base + pos, blockType: type, bodyLength: len - 12 });
        }
        pos += len;
      }
    } finally {
      b.count = n;
    }
    return pos;
  }

  private simplePacket(buf: Buffer, pos: number, len: number, le: boolean, base: number, b: BatchBuilder, n: number, section: SectionInfo): void {
    if (len < 16) this.blockTooShort(base + pos, 'SPB', len, 16);
    if (this.convs.length === 0) this.unknownInterface(base + pos, 'SPB', 0);
    const orig = le ? u32le(buf, pos + 8) : u32be(buf, pos + 8);
    const snap = section.interfaces[0]!.snapLen;
    // SPB rule: captured length = min(SnapLen of interface 0, Original Length); SnapLen 0 = no limit.
    const cap = snap === 0 ? orig : Math.min(orig, snap);
    if (cap > len - 16) this.capBeyondBlock(base + pos + 8, 'SPB', cap, len - 16);
    b.dataOffset[n] = pos + 12;
    b.capLen[n] = cap;
    b.origLen[n] = orig;
    b.iface[n] = 0;
    b.tsSec[n] = 0;
    b.tsNsec[n] = NO_TIMESTAMP;
    b.kinds[n] = KIND_SPB;
  }

  private obsoletePacket(buf: Buffer, pos: number, len: number, le: boolean, base: number, b: BatchBuilder, n: number): void {
    if (len < 32) this.blockTooShort(base + pos, 'PB', len, 32);
    const ifId = le ? u16le(buf, pos + 8) : u16be(buf, pos + 8);
    if (ifId >= this.convs.length) this.unknownInterface(base + pos + 8, 'PB', ifId);
    const drops = le ? u16le(buf, pos + 10) : u16be(buf, pos + 10);
    const cap = le ? u32le(buf, pos + 20) : u32be(buf, pos + 20);
    if (cap > len - 32) this.capBeyondBlock(base + pos + 20, 'PB', cap, len - 32);
    const conv = this.convs[ifId]!;
    conv.convert(le ? u32le(buf, pos + 12) : u32be(buf, pos + 12), le ? u32le(buf, pos + 16) : u32be(buf, pos + 16));
    b.tsSec[n] = splitOut[0]!;
    b.tsNsec[n] = splitOut[1]!;
    b.dataOffset[n] = pos + 28;
    b.capLen[n] = cap;
    b.origLen[n] = le ? u32le(buf, pos + 24) : u32be(buf, pos + 24);
    b.iface[n] = ifId;
    b.kinds[n] = KIND_PB;
    const optStart = pos + 28 + ((cap + 3) & ~3);
    const x = (optStart < pos + len - 4 ? parsePacketOptions(buf, optStart, pos + len - 4, le, base, true, this.warn) : undefined) ?? {
      comments: [],
    };
    // 0xFFFF means the drop count is not available.
    if (drops !== 0xffff) x.dropCount = BigInt(drops);
    b.setExtras(n, x);
  }

  private blockTooShort(offset: number, name: string, len: number, min: number): never {
    throw new PcapFormatError(
      PcapErrorCode.BAD_BLOCK_LENGTH,
      offset,
      `${name} block length ${len} is shorter than its fixed fields (${min} bytes)`,
    );
  }

  private unknownInterface(offset: number, name: string, ifId: number): never {
    const known = this.convs.length;
    throw new PcapFormatError(
      PcapErrorCode.UNKNOWN_INTERFACE,
      offset,
      `${name} names interface ${ifId} but its section describes ${known === 0 ? 'no interface' : `only ${known} (0..${known - 1})`} so far`,
    );
  }

  private capBeyondBlock(offset: number, name: string, cap: number, room: number): never {
    throw new PcapFormatError(
      PcapErrorCode.BAD_CAPLEN,
      offset,
      `${name} captured length ${cap} exceeds the ${room} bytes of packet data its block holds`,
    );
  }
}
