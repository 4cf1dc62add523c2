// pcapng output: one section (SHB written by the constructor), IDBs as interfaces are added, EPBs for
// packets (a packet without timestamp: an SPB where legal, else an EPB saying so), ISBs for statistics.
// writeBatch is the fast path: it encodes a reader's batch straight into the sink's buffer.

import { PcapWriteError, WriteErrorCode } from '../errors.js';
import { NO_TIMESTAMP, type PacketBatch } from './batch.js';
import { BlockType } from './constants.js';
import {
  encodeCustomBlock,
  encodeDSB,
  encodeIDB,
  encodeISB,
  encodeNRB,
  encodeSHB,
  encodeSPB,
  epbLength,
  epbOptions,
  putEPB,
  type EpbFields,
  type InterfaceFields,
} from './encode.js';
import { nativeEpbEncoder } from './native.js';
import { SinkWriter, type BlockFraming, type ByteSink } from './sink.js';
import {
  nsToUnits,
  RES_NANO,
  secNsecToUnits,
  tsModeOf,
  unitsOut,
  TS_BIG,
  TS_MICRO,
  TS_NANO,
  type TsMode,
} from './timestamps.js';
import type { ByteOrder, PacketExtras, TraceRecord, TsResolution } from './types.js';

export interface PcapngWriterOptions {
  byteOrder?: ByteOrder;
  hardware?: string;
  os?: string;
  userAppl?: string;
  comments?: string[];
}

/** addInterface() options: everything an IDB can say. tsResolution defaults to nanoseconds. */
export type InterfaceOptions = InterfaceFields;

export interface PacketToWrite {
  /** ns since the epoch; null writes a Simple Packet Block (see writePacket). */
  ts: bigint | null;
  data: Uint8Array;
  /** Default data.length. */
  origLen?: number;
  flags?: number;
  dropCount?: bigint;
  queue?: number;
  comments?: string[];
}

export interface StatsToWrite {
  /** When the statistics were taken, ns since the epoch. */
  ts: bigint;
  startTime?: bigint;
  endTime?: bigint;
  /** null or undefined: unknown, and the option is omitted (never written as 0). */
  ifRecv?: bigint | null;
  ifDrop?: bigint | null;
  osDrop?: bigint | null;
  filterAccept?: bigint | null;
  usrDeliv?: bigint | null;
  comments?: string[];
}

interface OutIface {
  snapLen: number;
  res: TsResolution;
  mode: TsMode;
  divisor: number;
  multiplier: number;
}

const TWO32 = 4294967296;

/** The opt_comment of an EPB that stands for a packet without timestamp (time 0 is not its time). */
export const UNTIMED_COMMENT = 'no timestamp in the original (e.g. a Simple Packet Block): time 0 is a placeholder';

function isEmptyExtras(x: PacketExtras): boolean {
  return Object.entries(x).every(([k, v]) => (k === 'comments' ? (v as string[]).length === 0 : v === undefined));
}

/** pcapng blocks: type, then total length, in the section's byte order. */
function pcapngFraming(le: boolean): BlockFraming {
  return {
    blockLength: (b, at) => (at + 8 > b.length ? 0 : le ? b.readUInt32LE(at + 4) : b.readUInt32BE(at + 4)),
    isPacket: (b, at) => {
      const t = le ? b.readUInt32LE(at) : b.readUInt32BE(at);
      return t === BlockType.EPB || t === BlockType.SPB || t === BlockType.PB;
    },
  };
}

function badArg(msg: string): never {
  throw new PcapWriteError(WriteErrorCode.BAD_ARGUMENT, msg);
}

export class PcapngWriter extends SinkWriter {
  readonly byteOrder: ByteOrder;
  private readonly le: boolean;
  private readonly ifaces: OutIface[] = [];
  /** Packets written so far. */
  packets = 0;
  /** writeBatch's native fast path (see native.ts), where the addon is built. */
  private readonly encodeEpbs = nativeEpbEncoder();
  private readonly encodeState = new Float64Array(1);
  /** Of which without timestamp (written as SPBs, or as EPBs with UNTIMED_COMMENT). */
  untimedPackets = 0;

  constructor(
    out: ByteSink,
    opts: PcapngWriterOptions = {},
  ) {
    super(out);
    this.byteOrder = opts.byteOrder ?? 'le';
    this.le = this.byteOrder === 'le';
    const shb: Parameters<typeof encodeSHB>[0] = {};
    if (opts.hardware !== undefined) shb.hardware = opts.hardware;
    if (opts.os !== undefined) shb.os = opts.os;
    if (opts.userAppl !== undefined) shb.userAppl = opts.userAppl;
    if (opts.comments !== undefined) shb.comments = opts.comments;
    out.setFraming(pcapngFraming(this.le));
    out.write(encodeSHB(shb, this.byteOrder));
  }

  /** Number of interfaces described so far. */
  get interfaceCount(): number {
    return this.ifaces.length;
  }

  private open(): void {
    if (this.closed) throw new PcapWriteError(WriteErrorCode.CLOSED, 'pcapng writer is closed');
  }

  /** Writes an IDB; returns the interface index packets refer to. */
  addInterface(o: InterfaceOptions): number {
    this.open();
    const res = o.tsResolution ?? RES_NANO;
    const block = encodeIDB({ ...o, tsResolution: res }, this.byteOrder);
    this.out.write(block);
    const mode = tsModeOf(res);
    this.ifaces.push({
      snapLen: o.snapLen,
      res,
      mode,
      divisor: res.base === 10 && res.exponent <= 9 ? 10 ** res.exponent : 0,
      multiplier: res.base === 10 && res.exponent <= 9 ? 10 ** (9 - res.exponent) : 0,
    });
    return this.ifaces.length - 1;
  }

  private iface(i: number): OutIface {
    const f = this.ifaces[i];
    if (f === undefined) badArg(`interface ${i} was not added to this pcapng writer (it has ${this.ifaces.length})`);
    return f;
  }

  /** Unit count halves for (sec, nsec) in unitsOut. */
  private units(f: OutIface, sec: number, nsec: number): void {
    if (f.mode !== TS_BIG && secNsecToUnits(sec, nsec, f.mode, f.divisor, f.multiplier)) return;
    const u = nsToUnits(BigInt(sec) * 1_000_000_000n + BigInt(nsec), f.res);
    unitsOut[0] = Number(u >> 32n);
    unitsOut[1] = Number(u & 0xffffffffn);
  }

  /**
   * One packet. With ts null: a Simple Packet Block where one is legal (interface 0, the implied
   * captured length, no options), else an EPB with time 0 and UNTIMED_COMMENT.
   */
  writePacket(iface: number, p: PacketToWrite): void {
    this.open();
    const f = this.iface(iface);
    const origLen = p.origLen ?? p.data.length;
    if (p.data.length > 0xffffffff - 64) badArg(`packet of ${p.data.length} bytes is too large`);
    if (p.ts === null) {
      const x: PacketExtras = { comments: p.comments ?? [] };
      if (p.flags !== undefined) x.flags = p.flags;
      if (p.dropCount !== undefined) x.dropCount = p.dropCount;
      if (p.queue !== undefined) x.queue = p.queue;
      this.writeUntimed(iface, p.data, origLen, x);
      this.packets++;
      return;
    }
    let u: bigint;
    try {
      u = nsToUnits(p.ts, f.res);
    } catch (e) {
      badArg((e as Error).message);
    }
    const x: EpbFields = {};
    if (p.flags !== undefined) x.flags = p.flags;
    if (p.dropCount !== undefined) x.dropCount = p.dropCount;
    if (p.queue !== undefined) x.queue = p.queue;
    if (p.comments !== undefined) x.comments = p.comments;
    const opts = epbOptions(x, this.le);
    const len = epbLength(p.data.length, opts);
    const at = this.out.reserve(len);
    putEPB(this.out.buf, at, iface, Number(u >> 32n), Number(u & 0xffffffffn), p.data, origLen, opts, this.le);
    this.packets++;
  }

  /**
   * Every packet of a reader's batch, interface i of the batch's section written as output interface
   * ifaceMap(i) (called once per distinct interface per batch). Options (flags, drop count, ...)
   * are carried over. Timestamps convert exactly to the output interface's resolution when it is
   * decimal and at most 10^-9 (floored otherwise).
   */
  writeBatch(batch: PacketBatch, ifaceMap: (sectionIface: number) => number): void {
    this.open();
    const n = batch.count;
    if (n === 0) return;
    const le = this.le;
    const table: number[] = [];
    const src = batch.buffer;
    const srcView = new DataView(src.buffer, src.byteOffset, src.byteLength);
    const { dataOffset, capLen, origLen, iface, tsSec, tsNsec } = batch;
    const hasExtras = batch.hasExtras;
    const out = this.out;
    // A local cursor into the sink's buffer: one bounds check per packet, no call.
    let buf = out.buf;
    let v = out.view;
    let at = out.cursor();
    let lim = buf.length;
    // The native encoder takes the runs of plain packets once interface 0 (the only one) is mapped.
    const encode = le && !hasExtras && batch.section.interfaces.length === 1 ? this.encodeEpbs : undefined;
    for (let i = 0; i < n; i++) {
      if (encode !== undefined && table[0] !== undefined) {
        const f0 = this.ifaces[table[0]]!;
        if (f0.mode === TS_MICRO || f0.mode === TS_NANO) {
          i = encode(src, dataOffset, capLen, origLen, tsSec, tsNsec, i, n, buf, at, lim, table[0], f0.mode === TS_NANO, this.encodeState);
          at = this.encodeState[0]!;
          if (i === n) break;
        }
      }
      const si = iface[i]!;
      let oi = table[si];
      if (oi === undefined) {
        // The map may add an interface (an IDB written through the sink): sync the cursor around it.
        out.advance(at);
        oi = ifaceMap(si);
        this.iface(oi);
        table[si] = oi;
        buf = out.buf;
        v = out.view;
        at = out.cursor();
        lim = buf.length;
      }
      const cap = capLen[i]!;
      const nsec = tsNsec[i]!;
      const x = hasExtras ? batch.extras(i) : undefined;
      if (nsec === NO_TIMESTAMP || x !== undefined) {
        out.advance(at);
        this.writeSlow(batch, i, oi, x);
        buf = out.buf;
        v = out.view;
        at = out.cursor();
        lim = buf.length;
        continue;
      }
      const f = this.ifaces[oi]!;
      const sec = tsSec[i]!;
      let hi: number, lo: number;
      if (f.mode === TS_MICRO && sec >= 0 && sec < 4294967296) {
        // Microseconds, the common case for classic pcap input: below 2^53 as a double.
        const u = sec * 1e6 + Math.floor(nsec / 1000);
        hi = Math.floor(u / TWO32);
        lo = u - hi * TWO32;
      } else {
        this.units(f, sec, nsec);
        hi = unitsOut[0]!;
        lo = unitsOut[1]!;
      }
      const padded = (cap + 3) & ~3;
      const len = 32 + padded;
      if (at + len > lim) {
        out.advance(at);
        at = out.ensure(len);
        buf = out.buf;
        v = out.view;
        lim = buf.length;
      }
      // Literal byte orders: TurboFan then emits plain (or byte-swapped) stores.
      if (le) {
        v.setUint32(at, BlockType.EPB, true);
        v.setUint32(at + 4, len, true);
        v.setUint32(at + 8, oi, true);
        v.setUint32(at + 12, hi, true);
        v.setUint32(at + 16, lo, true);
        v.setUint32(at + 20, cap, true);
        v.setUint32(at + 24, origLen[i]!, true);
        v.setUint32(at + len - 4, len, true);
      } else {
        v.setUint32(at, BlockType.EPB, false);
        v.setUint32(at + 4, len, false);
        v.setUint32(at + 8, oi, false);
        v.setUint32(at + 12, hi, false);
        v.setUint32(at + 16, lo, false);
        v.setUint32(at + 20, cap, false);
        v.setUint32(at + 24, origLen[i]!, false);
        v.setUint32(at + len - 4, len, false);
      }
      const d = at + 28;
      const off = dataOffset[i]!;
      if (cap <= 512) {
        // Short packets: word copies beat a subarray + set per packet by a wide margin.
        const whole = cap & ~3;
        let k = 0;
        for (; k < whole; k += 4) v.setUint32(d + k, srcView.getUint32(off + k, true), true);
        if (k < padded) {
          v.setUint32(d + k, 0, true);
          for (; k < cap; k++) buf[d + k] = src[off + k]!;
        }
      } else {
        buf.set(src.subarray(off, off + cap), d);
        for (let k = cap; k < padded; k++) buf[d + k] = 0;
      }
      at += len;
    }
    out.advance(at);
    this.packets += n;
  }

  private writeSlow(batch: PacketBatch, i: number, oi: number, x: PacketExtras | undefined): void {
    const data = batch.data(i);
    const origLen = batch.origLen[i]!;
    const nsec = batch.tsNsec[i]!;
    if (nsec === NO_TIMESTAMP) {
      this.writeUntimed(oi, data, origLen, x);
      return;
    }
    const f = this.ifaces[oi]!;
    this.units(f, batch.tsSec[i]!, nsec);
    const opts = epbOptions(x, this.le);
    const at = this.out.reserve(epbLength(data.length, opts));
    putEPB(this.out.buf, at, oi, unitsOut[0]!, unitsOut[1]!, data, origLen, opts, this.le);
  }

  /**
   * A packet without timestamp. An SPB where the spec allows one: it always means interface 0 of
   * the section and its captured length is implied, min(origLen, snapLen). Anywhere else (another
   * interface, bytes cut differently) an EPB with timestamp 0, its comment saying the original had
   * none: converting a valid file never fails, and the absence stays on record.
   */
  private writeUntimed(iface: number, data: Uint8Array, origLen: number, x?: PacketExtras): void {
    this.untimedPackets++;
    const snap = this.ifaces[0]!.snapLen;
    if (iface === 0 && data.length === (snap === 0 ? origLen : Math.min(origLen, snap)) && (x === undefined || isEmptyExtras(x))) {
      this.out.write(encodeSPB(data, origLen, this.byteOrder));
      return;
    }
    const fields: EpbFields = { ...x, comments: [...(x?.comments ?? []), UNTIMED_COMMENT] };
    const opts = epbOptions(fields, this.le);
    const at = this.out.reserve(epbLength(data.length, opts));
    putEPB(this.out.buf, at, iface, 0, 0, data, origLen, opts, this.le);
  }

  /** An Interface Statistics Block. Counters that are null or absent are omitted (unknown). */
  writeStats(iface: number, s: StatsToWrite): void {
    this.open();
    const f = this.iface(iface);
    const conv = (ns: bigint): bigint => {
      try {
        return nsToUnits(ns, f.res);
      } catch (e) {
        return badArg((e as Error).message);
      }
    };
    const fields: Parameters<typeof encodeISB>[2] = {
      startUnits: s.startTime === undefined ? null : conv(s.startTime),
      endUnits: s.endTime === undefined ? null : conv(s.endTime),
      ifRecv: s.ifRecv ?? null,
      ifDrop: s.ifDrop ?? null,
      filterAccept: s.filterAccept ?? null,
      osDrop: s.osDrop ?? null,
      usrDeliv: s.usrDeliv ?? null,
    };
    if (s.comments !== undefined) fields.comments = s.comments;
    this.out.write(encodeISB(iface, conv(s.ts), fields, this.byteOrder));
  }

  /**
   * Re-encodes a non-packet record from a reader in this writer's byte order: NRB, DSB, copyable
   * Custom blocks and ISBs (through ifaceMap). Section headers, IDBs, unknown and do-not-copy custom
   * blocks are not copied; returns whether something was written.
   */
  copyRecord(rec: TraceRecord, ifaceMap?: (sectionIface: number) => number): boolean {
    this.open();
    switch (rec.kind) {
      case 'nrb': {
        const f: Parameters<typeof encodeNRB>[1] = { comments: rec.comments };
        if (rec.dnsName !== undefined) f.dnsName = rec.dnsName;
        if (rec.dnsIPv4 !== undefined) f.dnsIPv4 = rec.dnsIPv4;
        if (rec.dnsIPv6 !== undefined) f.dnsIPv6 = rec.dnsIPv6;
        this.out.write(encodeNRB(rec.entries, f, this.byteOrder));
        return true;
      }
      case 'dsb':
        this.out.write(encodeDSB(rec.secretsType, rec.data, rec.comments, this.byteOrder));
        return true;
      case 'custom':
        // Custom data is opaque: only safe to copy unchanged when the byte order is the same,
        // and the spec asks rewriters to drop the do-not-copy kind.
        if (!rec.copyable) return false;
        this.out.write(encodeCustomBlock(rec.pen, rec.data, true, this.byteOrder));
        return true;
      case 'isb': {
        if (ifaceMap === undefined) return false;
        const s: StatsToWrite = { ts: rec.ts, comments: rec.comments };
        if (rec.startTime !== undefined) s.startTime = rec.startTime;
        if (rec.endTime !== undefined) s.endTime = rec.endTime;
        if (rec.ifRecv !== undefined) s.ifRecv = rec.ifRecv;
        if (rec.ifDrop !== undefined) s.ifDrop = rec.ifDrop;
        if (rec.filterAccept !== undefined) s.filterAccept = rec.filterAccept;
        if (rec.osDrop !== undefined) s.osDrop = rec.osDrop;
        if (rec.usrDeliv !== undefined) s.usrDeliv = rec.usrDeliv;
        this.writeStats(ifaceMap(rec.interface), s);
        return true;
      }
      default:
        return false;
    }
  }

  /** Pre-encoded blocks (e.g. EPBs from the native capture thread), written as they are. */
  writeRaw(block: Uint8Array): void {
    this.open();
    if (block.length % 4 !== 0) badArg(`raw pcapng data must be whole blocks (a multiple of 4 bytes), got ${block.length}`);
    this.out.write(block);
  }

}
