// The streaming driver: pulls chunks from a source, runs the parser over them and hands out batches.
// Packets before a fault are delivered (the batch being built is yielded) and then the iterator
// throws the PcapFormatError. A file whose last record is cut short ends with a warning instead.

import { PcapErrorCode, PcapFormatError, PcapWarningCode, type PcapWarning } from '../errors.js';
import { BatchBuilder, type PacketBatch } from './batch.js';
import { DEFAULT_BATCH_PACKETS, DEFAULT_CHUNK_SIZE, DEFAULT_MAX_BLOCK_LENGTH } from './constants.js';
import { STOP_FLUSH, TraceParser } from './parser.js';
import { BufferSource, FileSource, StreamSource, type ChunkSource } from './sources.js';
import type { Packet, SectionInfo, TraceFormat } from './types.js';

export type TraceSource = string | Uint8Array | NodeJS.ReadableStream;

export interface TraceOptions {
  /** Largest block (or classic pcap record) accepted, in bytes. Default 64 MiB. */
  maxBlockLength?: number;
  /** Packets per batch at most. Default 16384. */
  batchPackets?: number;
  /** Bytes per read from a file or per chunk. Default 512 KiB. */
  chunkSize?: number;
  /** Called for every warning as it happens (they are also collected in `warnings`). */
  onWarning?: (w: PcapWarning) => void;
  /**
   * Recycle memory: each batch, its arrays and the packet bytes it points to are valid only until
   * the next batch is requested. For consumers that copy packets out at once (file conversion);
   * saves the page faults of fresh buffers. Default false: every batch stays valid as long as it
   * is kept (its arrays are copied out of one recycled builder, exactly as long as the batch; the
   * chunks its packets point into are never read into again).
   */
  reuse?: boolean;
}

export interface TraceReader {
  /** The fast path: batches of packets in struct-of-arrays form. May be called once. */
  batches(): AsyncIterableIterator<PacketBatch>;
  /** Convenience: one object per packet (built from the batches). May be called once. */
  packets(): AsyncIterableIterator<Packet>;
  /** Known once the first batch has been produced. */
  readonly format: TraceFormat | undefined;
  readonly warnings: PcapWarning[];
  /** Sections seen so far (their interface lists grow as IDBs are read). */
  readonly sections: SectionInfo[];
  /** Stops early and releases the file or stream. */
  close(): Promise<void>;
}

interface ResolvedOptions {
  maxBlockLength: number;
  batchPackets: number;
  chunkSize: number;
  reuse: boolean;
}

function resolve(opts: TraceOptions | undefined): ResolvedOptions {
  const positive = (v: number | undefined, dflt: number, name: string, min: number): number => {
    if (v === undefined) return dflt;
    if (!Number.isInteger(v) || v < min) throw new RangeError(`${name} must be an integer >= ${min}, got ${v}`);
    return v;
  };
  return {
    maxBlockLength: positive(opts?.maxBlockLength, DEFAULT_MAX_BLOCK_LENGTH, 'maxBlockLength', 64),
    batchPackets: positive(opts?.batchPackets, DEFAULT_BATCH_PACKETS, 'batchPackets', 1),
    chunkSize: positive(opts?.chunkSize, DEFAULT_CHUNK_SIZE, 'chunkSize', 64),
    reuse: opts?.reuse === true,
  };
}

function asBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

const EMPTY = Buffer.alloc(0);

/** What to do when the input ends at `pos` with the parser still wanting bytes. */
function endOfInput(parser: TraceParser, chunk: Buffer, pos: number, base: number, warn: (w: PcapWarning) => void): void {
  const left = chunk.length - pos;
  if (!parser.started) {
    throw new PcapFormatError(
      PcapErrorCode.TRUNCATED,
      base + pos,
      base + chunk.length === 0 ? 'the file is empty' : `the file ends inside its header (${base + chunk.length} bytes in all)`,
    );
  }
  if (left === 0) return;
  warn({
    code: PcapWarningCode.TRUNCATED,
    offset: base + pos,
    message: `the last record is cut short (${left} of ${parser.need} bytes present at byte offset ${base + pos}); every complete packet before it was read`,
  });
}

class Reader implements TraceReader {
  readonly warnings: PcapWarning[] = [];
  private readonly parser: TraceParser;
  private readonly opts: ResolvedOptions;
  private readonly source: ChunkSource;
  private started = false;
  private closing = false;
  private gen: AsyncGenerator<PacketBatch> | undefined;
  private readonly emitWarning: (w: PcapWarning) => void;

  constructor(src: TraceSource, options: TraceOptions | undefined) {
    this.opts = resolve(options);
    const onWarning = options?.onWarning;
    this.emitWarning = (w) => {
      this.warnings.push(w);
      onWarning?.(w);
    };
    this.parser = new TraceParser({ maxBlockLength: this.opts.maxBlockLength, onWarning: this.emitWarning });
    if (typeof src === 'string') this.source = new FileSource(src, this.opts.chunkSize, this.opts.reuse);
    else if (src instanceof Uint8Array) this.source = new BufferSource(asBuffer(src));
    else this.source = new StreamSource(src);
  }

  get format(): TraceFormat | undefined {
    return this.parser.format;
  }

  get sections(): SectionInfo[] {
    return this.parser.sections;
  }

  batches(): AsyncIterableIterator<PacketBatch> {
    if (this.started) throw new Error('TraceReader.batches()/packets() may be called only once per reader');
    this.started = true;
    this.gen = this.run();
    return this.gen;
  }

  async *packets(): AsyncIterableIterator<Packet> {
    for await (const batch of this.batches()) {
      for (let i = 0; i < batch.count; i++) yield batch.packet(i);
    }
  }

  private async *run(): AsyncGenerator<PacketBatch> {
    const parser = this.parser;
    const src = this.source;
    const capacity = this.opts.batchPackets;
    const reuse = this.opts.reuse;
    // One builder for the whole read: in reuse mode its arrays are the batches', otherwise each
    // batch is copied out of it into arrays of its own, exactly as long as the batch.
    const builder = new BatchBuilder(capacity);
    const fresh = (): BatchBuilder => {
      builder.reset();
      return builder;
    };
    const out = (bb: BatchBuilder): PacketBatch => (reuse ? bb.finish(EMPTY) : bb.finishCopy(EMPTY));
    try {
      let { chunk, base, eof } = await src.refill(EMPTY, 0, 0);
      let pos = 0;
      let b = fresh();
      for (;;) {
        try {
          pos = parser.parse(chunk, pos, chunk.length, base, b);
        } catch (err) {
          if (!b.empty) yield out(b);
          throw err;
        }
        if (parser.stop === STOP_FLUSH) {
          yield out(b);
          b = fresh();
          continue;
        }
        if (eof) {
          try {
            if (!this.closing) endOfInput(parser, chunk, pos, base, this.emitWarning);
          } finally {
            if (!b.empty) yield out(b);
          }
          return;
        }
        // Packets point into the current chunk: hand them out before moving to the next one.
        if (b.count > 0) {
          yield out(b);
          b = fresh();
        }
        const tail = chunk.subarray(pos);
        ({ chunk, base, eof } = await src.refill(tail, base + pos, parser.need));
        pos = 0;
      }
    } finally {
      await src.close();
    }
  }

  /**
   * Stops early. Safe while a batch is being awaited: the source is closed first (a pending stream
   * read ends), so iteration finishes with what was already read, without a truncation warning.
   */
  async close(): Promise<void> {
    this.closing = true;
    await this.source.close();
    if (this.gen !== undefined) await this.gen.return(undefined);
  }
}

/** Opens a capture (path, bytes or Readable) for streaming, bounded-memory reading. */
export function openTrace(source: TraceSource, opts?: TraceOptions): TraceReader {
  return new Reader(source, opts);
}

/**
 * Synchronous reading of a capture already in memory. Same batches and errors as openTrace; warnings
 * go to opts.onWarning (and the returned generator's `warnings` are not collected elsewhere).
 */
export function* readBatchesSync(buf: Uint8Array, opts?: TraceOptions): Generator<PacketBatch> {
  const o = resolve(opts);
  const onWarning = opts?.onWarning ?? ((): void => undefined);
  const parser = new TraceParser({ maxBlockLength: o.maxBlockLength, onWarning });
  const chunk = asBuffer(buf);
  let pos = 0;
  let b = new BatchBuilder(o.batchPackets);
  for (;;) {
    try {
      pos = parser.parse(chunk, pos, chunk.length, 0, b);
    } catch (err) {
      if (!b.empty) yield b.finish(EMPTY);
      throw err;
    }
    if (parser.stop === STOP_FLUSH) {
      yield b.finish(EMPTY);
      b = new BatchBuilder(o.batchPackets);
      continue;
    }
    try {
      endOfInput(parser, chunk, pos, 0, onWarning);
    } finally {
      if (!b.empty) yield b.finish(EMPTY);
    }
    return;
  }
}

/** Reads every packet of an in-memory capture into objects (tests, small files). */
export function readPacketsSync(buf: Uint8Array, opts?: TraceOptions): Packet[] {
  const out: Packet[] = [];
  for (const batch of readBatchesSync(buf, opts)) for (let i = 0; i < batch.count; i++) out.push(batch.packet(i));
  return out;
}
