// Classic pcap output: the 24-byte header, then 16-byte record headers and packet bytes. One link
// type per file; microsecond or nanosecond timestamps (nanoseconds are floored to microseconds when
// the file is microsecond).

import { PcapWriteError, WriteErrorCode } from '../errors.js';
import { NO_TIMESTAMP, type PacketBatch } from './batch.js';
import { encodePcapHeader } from './encode.js';
import { SinkWriter, type BlockFraming, type ByteSink } from './sink.js';
import type { ByteOrder } from './types.js';

export interface PcapWriterOptions {
  linkType: number;
  snapLen: number;
  /** Nanosecond timestamps (magic 0xA1B23C4D). Default microseconds. */
  nanos?: boolean;
  byteOrder?: ByteOrder;
  /** FCS length in bits (multiple of 16), recorded in the link-type word. */
  fcsLen?: number;
}

export interface PcapPacketToWrite {
  /** ns since the epoch; must be >= 0 and the seconds must fit 32 bits. */
  ts: bigint;
  data: Uint8Array;
  /** Default data.length. */
  origLen?: number;
}

/** Classic pcap: the 24-byte file header, then records of a 16-byte header and incl_len bytes. */
function pcapFraming(le: boolean): BlockFraming {
  return {
    blockLength: (b, at, fileOffset) =>
      fileOffset === 0 ? 24 : at + 16 > b.length ? 0 : 16 + (le ? b.readUInt32LE(at + 8) : b.readUInt32BE(at + 8)),
    isPacket: (_b, _at, fileOffset) => fileOffset !== 0,
  };
}

function badArg(msg: string): never {
  throw new PcapWriteError(WriteErrorCode.BAD_ARGUMENT, msg);
}

export class PcapWriter extends SinkWriter {
  readonly linkType: number;
  readonly nanos: boolean;
  readonly byteOrder: ByteOrder;
  private readonly le: boolean;
  packets = 0;
  /** Packets that had no timestamp (pcapng SPBs), written with time 0. */
  untimedPackets = 0;

  constructor(
    out: ByteSink,
    o: PcapWriterOptions,
  ) {
    super(out);
    this.linkType = o.linkType;
    this.nanos = o.nanos === true;
    this.byteOrder = o.byteOrder ?? 'le';
    this.le = this.byteOrder === 'le';
    const h: Parameters<typeof encodePcapHeader>[0] = { linkType: o.linkType, snapLen: o.snapLen, nanos: this.nanos };
    if (o.fcsLen !== undefined) h.fcsLen = o.fcsLen;
    out.setFraming(pcapFraming(this.le));
    out.write(encodePcapHeader(h, this.byteOrder));
  }

  private open(): void {
    if (this.closed) throw new PcapWriteError(WriteErrorCode.CLOSED, 'pcap writer is closed');
  }

  private record(sec: number, nsec: number, data: Uint8Array, origLen: number): void {
    if (sec < 0 || sec > 0xffffffff) badArg(`timestamp second ${sec} does not fit a classic pcap record (0..2^32-1)`);
    const frac = this.nanos ? nsec : Math.floor(nsec / 1000);
    const cap = data.length;
    const at = this.out.reserve(16 + cap);
    const v = this.out.view;
    const le = this.le;
    v.setUint32(at, sec, le);
    v.setUint32(at + 4, frac, le);
    v.setUint32(at + 8, cap, le);
    v.setUint32(at + 12, origLen, le);
    this.out.buf.set(data, at + 16);
  }

  writePacket(p: PcapPacketToWrite): void {
    this.open();
    if (p.ts < 0n) badArg(`negative timestamp ${p.ts}`);
    const sec = p.ts / 1_000_000_000n;
    if (sec > 0xffffffffn) badArg(`timestamp ${p.ts} ns is beyond what classic pcap can hold (2106)`);
    this.record(Number(sec), Number(p.ts - sec * 1_000_000_000n), p.data, p.origLen ?? p.data.length);
    this.packets++;
  }

  /**
   * Every packet of a reader's batch. All must have this file's link type: at the first that does
   * not, ERR_PCAP_LINKTYPE_MISMATCH, after the packets before it were written (as editcap does).
   * Packets without timestamp are written with time 0 and counted in untimedPackets.
   */
  writeBatch(batch: PacketBatch): void {
    this.open();
    const n = batch.count;
    if (n === 0) return;
    const ifs = batch.section.interfaces;
    const checked: boolean[] = [];
    const { dataOffset, capLen, origLen, tsSec, tsNsec, iface } = batch;
    const src = batch.buffer;
    for (let i = 0; i < n; i++) {
      const si = iface[i]!;
      if (checked[si] !== true) {
        const lt = ifs[si]!.linkType;
        if (lt !== this.linkType) {
          throw new PcapWriteError(
            WriteErrorCode.LINKTYPE_MISMATCH,
            `classic pcap holds one link type (${this.linkType}) but a packet has link type ${lt}; write pcapng instead`,
          );
        }
        checked[si] = true;
      }
      const nsec = tsNsec[i]!;
      const off = dataOffset[i]!;
      const data = src.subarray(off, off + capLen[i]!);
      if (nsec === NO_TIMESTAMP) {
        // Classic pcap has no way to say "no timestamp": time 0, as editcap and libpcap write it.
        this.untimedPackets++;
        this.record(0, 0, data, origLen[i]!);
      } else {
        this.record(tsSec[i]!, nsec, data, origLen[i]!);
      }
      this.packets++;
    }
  }
}
