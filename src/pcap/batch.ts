// A batch of packets in struct-of-arrays form: one chunk Buffer the packet bytes live in, plus typed
// arrays of offsets, lengths, interfaces and timestamps. This is the fast path between the reader,
// the writers and the native replay loop: nothing per packet is allocated until a caller asks.

import { OutOfRangeError } from '../errors.js';
import type { Packet, PacketBlockType, PacketExtras, SectionInfo, TraceRecord } from './types.js';

/** Values of PacketBatch.kinds. */
export const KIND_PCAP = 0;
export const KIND_EPB = 1;
export const KIND_SPB = 2;
export const KIND_PB = 3;
const KIND_NAMES: readonly PacketBlockType[] = ['pcap', 'epb', 'spb', 'pb'];

/** tsNsec value meaning "this packet carries no timestamp" (Simple Packet Block). */
export const NO_TIMESTAMP = 0xffffffff;

export class PacketBatch {
  /** The section every packet (and record) of this batch belongs to. A batch never spans two. */
  readonly section: SectionInfo;
  readonly count: number;
  /** The chunk the packet data lives in; dataOffset is relative to it. */
  readonly buffer: Buffer;
  readonly dataOffset: Uint32Array;
  readonly capLen: Uint32Array;
  readonly origLen: Uint32Array;
  /** Interface index within the section (0 for classic pcap). */
  readonly iface: Uint32Array;
  /** Whole seconds since the epoch (exact integers), if_tsoffset applied. */
  readonly tsSec: Float64Array;
  /** 0..999_999_999, or NO_TIMESTAMP (0xFFFFFFFF). */
  readonly tsNsec: Uint32Array;
  /** Block kind per packet: KIND_PCAP, KIND_EPB, KIND_SPB, KIND_PB. */
  readonly kinds: Uint8Array;
  /** Non-packet blocks met before this batch's first packet, in file order. */
  readonly records: TraceRecord[];
  /** Byte offset in the stream of the first block or record this batch covers. */
  readonly streamOffset: number;
  private readonly extraList: (PacketExtras | undefined)[] | null;

  constructor(init: {
    section: SectionInfo;
    count: number;
    buffer: Buffer;
    dataOffset: Uint32Array;
    capLen: Uint32Array;
    origLen: Uint32Array;
    iface: Uint32Array;
    tsSec: Float64Array;
    tsNsec: Uint32Array;
    kinds: Uint8Array;
    records: TraceRecord[];
    extras: (PacketExtras | undefined)[] | null;
    streamOffset: number;
  }) {
    this.section = init.section;
    this.count = init.count;
    this.buffer = init.buffer;
    this.dataOffset = init.dataOffset;
    this.capLen = init.capLen;
    this.origLen = init.origLen;
    this.iface = init.iface;
    this.tsSec = init.tsSec;
    this.tsNsec = init.tsNsec;
    this.kinds = init.kinds;
    this.records = init.records;
    this.extraList = init.extras;
    this.streamOffset = init.streamOffset;
  }

  /** Exact nanoseconds since the epoch, or null when the block carries no timestamp. */
  ts(i: number): bigint | null {
    this.check(i);
    const ns = this.tsNsec[i]!;
    if (ns === NO_TIMESTAMP) return null;
    return BigInt(this.tsSec[i]!) * 1_000_000_000n + BigInt(ns);
  }

  /** The packet bytes: a view into `buffer`, never a copy. */
  data(i: number): Buffer {
    this.check(i);
    const off = this.dataOffset[i]!;
    return this.buffer.subarray(off, off + this.capLen[i]!);
  }

  /** Packet indexes run from 0 to count - 1; anything else is an OutOfRangeError (ERR_OUT_OF_RANGE). */
  private check(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.count) {
      throw new OutOfRangeError(`packet index ${String(i)} is outside this batch of ${this.count} (0 to ${this.count - 1})`);
    }
  }

  linkType(i: number): number {
    return this.section.interfaces[this.iface[i]!]!.linkType;
  }

  /** EPB/PB options (flags, drop count, queue, hashes, packet id, verdicts, comments), if any. */
  extras(i: number): PacketExtras | undefined {
    return this.extraList === null ? undefined : this.extraList[i];
  }

  /** True when at least one packet of the batch has extras. */
  get hasExtras(): boolean {
    return this.extraList !== null;
  }

  blockType(i: number): PacketBlockType {
    return KIND_NAMES[this.kinds[i]!]!;
  }

  /**
   * Packets [start, end) as a batch sharing this one's memory (no copy). The records stay with the
   * slice that starts at 0.
   */
  slice(start: number, end: number = this.count): PacketBatch {
    const s = Math.max(0, Math.min(start, this.count));
    const e = Math.max(s, Math.min(end, this.count));
    const extras = this.extraList === null ? null : this.extraList.slice(s, e);
    return new PacketBatch({
      section: this.section,
      count: e - s,
      buffer: this.buffer,
      dataOffset: this.dataOffset.subarray(s, e),
      capLen: this.capLen.subarray(s, e),
      origLen: this.origLen.subarray(s, e),
      iface: this.iface.subarray(s, e),
      tsSec: this.tsSec.subarray(s, e),
      tsNsec: this.tsNsec.subarray(s, e),
      kinds: this.kinds.subarray(s, e),
      records: s === 0 ? this.records : [],
      extras: extras !== null && extras.some((x) => x !== undefined) ? extras : null,
      streamOffset: this.streamOffset,
    });
  }

  /**
   * The packets at `indexes` (ascending, each below count) as a batch over the same chunk: the
   * packet bytes are not copied, only their entries in the arrays. The records stay with it.
   */
  pick(indexes: Uint32Array): PacketBatch {
    const n = indexes.length;
    if (n === this.count) return this;
    const take = <T extends Uint32Array | Float64Array | Uint8Array>(from: T, to: T): T => {
      for (let j = 0; j < n; j++) to[j] = from[indexes[j]!]!;
      return to;
    };
    const extras = this.extraList === null ? null : Array.from(indexes, (i) => this.extraList![i]);
    return new PacketBatch({
      section: this.section,
      count: n,
      buffer: this.buffer,
      dataOffset: take(this.dataOffset, new Uint32Array(n)),
      capLen: take(this.capLen, new Uint32Array(n)),
      origLen: take(this.origLen, new Uint32Array(n)),
      iface: take(this.iface, new Uint32Array(n)),
      tsSec: take(this.tsSec, new Float64Array(n)),
      tsNsec: take(this.tsNsec, new Uint32Array(n)),
      kinds: take(this.kinds, new Uint8Array(n)),
      records: this.records,
      extras: extras !== null && extras.some((x) => x !== undefined) ? extras : null,
      streamOffset: this.streamOffset,
    });
  }

  /** Packet i as an object (allocates; use the arrays in hot loops). */
  packet(i: number): Packet {
    const p: Packet = {
      ts: this.ts(i),
      data: this.data(i),
      capLen: this.capLen[i]!,
      origLen: this.origLen[i]!,
      interface: this.iface[i]!,
      linkType: this.linkType(i),
      section: this.section,
      blockType: this.blockType(i),
    };
    const x = this.extras(i);
    if (x !== undefined) p.extras = x;
    return p;
  }

  *[Symbol.iterator](): IterableIterator<Packet> {
    for (let i = 0; i < this.count; i++) yield this.packet(i);
  }
}

/** Fills the arrays of one batch; the parser writes into the public arrays directly. */
export class BatchBuilder {
  readonly capacity: number;
  count = 0;
  readonly dataOffset: Uint32Array;
  readonly capLen: Uint32Array;
  readonly origLen: Uint32Array;
  readonly iface: Uint32Array;
  readonly tsSec: Float64Array;
  readonly tsNsec: Uint32Array;
  readonly kinds: Uint8Array;
  extras: (PacketExtras | undefined)[] | null = null;
  records: TraceRecord[] = [];
  /** Chunk the packets point into; set with the first packet. */
  buffer: Buffer | null = null;
  section: SectionInfo | null = null;
  streamOffset = -1;

  constructor(capacity: number) {
    this.capacity = capacity;
    // One ArrayBuffer for all the 4-byte columns keeps allocation to two calls per batch.
    const words = new ArrayBuffer(capacity * 4 * 6);
    this.dataOffset = new Uint32Array(words, 0, capacity);
    this.capLen = new Uint32Array(words, capacity * 4, capacity);
    this.origLen = new Uint32Array(words, capacity * 8, capacity);
    this.iface = new Uint32Array(words, capacity * 12, capacity);
    this.tsNsec = new Uint32Array(words, capacity * 16, capacity);
    this.tsSec = new Float64Array(capacity);
    this.kinds = new Uint8Array(words, capacity * 20, capacity);
  }

  get empty(): boolean {
    return this.count === 0 && this.records.length === 0;
  }

  /** Empties the builder for reuse; batches finished from it before then see their arrays change. */
  reset(): void {
    const used = this.count;
    this.count = 0;
    this.extras = null;
    this.records = [];
    this.buffer = null;
    this.section = null;
    this.streamOffset = -1;
    // The parser does not store kinds/iface for classic pcap records: they must read as 0 again.
    this.kinds.fill(0, 0, used);
    this.iface.fill(0, 0, used);
  }

  setExtras(i: number, x: PacketExtras): void {
    if (this.extras === null) this.extras = [];
    this.extras[i] = x;
  }

  /**
   * The batch in arrays of its own, exactly `count` long, in one allocation: the builder can be
   * filled again at once (the reader's default mode parses into one builder and copies out, so a
   * batch costs 29 bytes per packet it holds, not the capacity's zeroed arrays).
   */
  finishCopy(emptyBuffer: Buffer): PacketBatch {
    const n = this.count;
    const mem = new ArrayBuffer(n * 29);
    const tsSec = new Float64Array(mem, 0, n);
    const dataOffset = new Uint32Array(mem, n * 8, n);
    const capLen = new Uint32Array(mem, n * 12, n);
    const origLen = new Uint32Array(mem, n * 16, n);
    const iface = new Uint32Array(mem, n * 20, n);
    const tsNsec = new Uint32Array(mem, n * 24, n);
    const kinds = new Uint8Array(mem, n * 28, n);
    tsSec.set(this.tsSec.subarray(0, n));
    dataOffset.set(this.dataOffset.subarray(0, n));
    capLen.set(this.capLen.subarray(0, n));
    origLen.set(this.origLen.subarray(0, n));
    iface.set(this.iface.subarray(0, n));
    tsNsec.set(this.tsNsec.subarray(0, n));
    kinds.set(this.kinds.subarray(0, n));
    return new PacketBatch({
      section: this.section!,
      count: n,
      buffer: this.buffer ?? emptyBuffer,
      dataOffset,
      capLen,
      origLen,
      iface,
      tsSec,
      tsNsec,
      kinds,
      records: this.records,
      extras: this.extras,
      streamOffset: this.streamOffset,
    });
  }

  finish(emptyBuffer: Buffer): PacketBatch {
    const n = this.count;
    return new PacketBatch({
      section: this.section!,
      count: n,
      buffer: this.buffer ?? emptyBuffer,
      dataOffset: this.dataOffset.subarray(0, n),
      capLen: this.capLen.subarray(0, n),
      origLen: this.origLen.subarray(0, n),
      iface: this.iface.subarray(0, n),
      tsSec: this.tsSec.subarray(0, n),
      tsNsec: this.tsNsec.subarray(0, n),
      kinds: this.kinds.subarray(0, n),
      records: this.records,
      extras: this.extras,
      streamOffset: this.streamOffset,
    });
  }
}
