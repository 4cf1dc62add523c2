// Where the reader's bytes come from: a file (fixed-size reads, the next one already in flight while
// the current chunk is parsed), a Readable stream, or a buffer in memory. Each hands the driver a
// chunk that starts with the bytes the parser has not consumed yet (the "tail") followed by new data.
// Memory stays bounded: chunks are chunkSize (a few MiB) except a one-off buffer for a single block
// larger than that, which the parser has already checked against maxBlockLength.

import { open, type FileHandle } from 'node:fs/promises';
import { pageOffset } from './native.js';

export interface Chunk {
  chunk: Buffer;
  /** Stream offset of chunk[0]. */
  base: number;
  /** No byte will ever follow this chunk. */
  eof: boolean;
}

export interface ChunkSource {
  /** A chunk beginning with `tail` (at stream offset tailBase), holding `need` bytes if the input has them. */
  refill(tail: Buffer, tailBase: number, need: number): Promise<Chunk>;
  close(): Promise<void>;
}

/** A whole capture already in memory: one chunk, views into the caller's memory. */
export class BufferSource implements ChunkSource {
  private given = false;
  constructor(private readonly buf: Buffer) {}

  async refill(tail: Buffer, tailBase: number): Promise<Chunk> {
    if (!this.given) {
      this.given = true;
      return { chunk: this.buf, base: 0, eof: true };
    }
    return { chunk: tail, base: tailBase, eof: true };
  }

  async close(): Promise<void> {}
}

/** Room kept in front of each read so a short tail can be placed before the new data without a copy of the data. */
const TAIL_ROOM = 256 * 1024;
const PAGE = 4096;

/**
 * Where in buf a read from file offset `at` goes: TAIL_ROOM on, up to a page further, at the same
 * place in its page as `at` is in the file's. The kernel copies page by page, and a destination a
 * few bytes past the source's place in the page (4K aliasing) made read() 3-4x slower here; a large
 * Buffer starts 16 bytes into a page (malloc's header), exactly there. (native/loops/trace_feed.h
 * places the native reader's chunks the same way.) Without the addon: TAIL_ROOM.
 */
function readOffset(buf: Buffer, at: number): number {
  const p = pageOffset(buf);
  return p === undefined ? TAIL_ROOM : TAIL_ROOM + ((((at - p) % PAGE) + PAGE) % PAGE);
}

interface PendingRead {
  buf: Buffer;
  /** where in buf the read went (readOffset) */
  off: number;
  bytes: number;
}

/** Reads kept in flight ahead of the parser (each on a libuv thread-pool thread). */
const READ_AHEAD = 2;

export class FileSource implements ChunkSource {
  private fh: FileHandle | undefined;
  private readonly opening: Promise<FileHandle>;
  /** File offset just after the last byte handed out. */
  private filePos = 0;
  /** File offset the next read-ahead starts at. */
  private issuePos = 0;
  private eof = false;
  private readonly ahead: Promise<PendingRead>[] = [];
  private closed = false;
  /** Read buffer holding the current chunk, and buffers free for the next reads (reuse mode). */
  private current: Buffer | null = null;
  private readonly free: Buffer[] = [];

  /**
   * With `reuse`, a chunk's buffer is read into again once the next chunk has been handed out, so
   * views into a chunk are only valid until the following refill (the reader's reuse mode).
   */
  constructor(
    path: string,
    private readonly chunkSize: number,
    private readonly reuse = false,
  ) {
    this.opening = open(path, 'r');
    // The caller sees an open failure on its first refill; keep it from being reported as unhandled.
    this.opening.catch(() => undefined);
  }

  /** Keeps READ_AHEAD reads of consecutive chunks in flight. */
  private readAhead(fh: FileHandle): void {
    while (!this.eof && this.ahead.length < READ_AHEAD) {
      const buf = this.free.pop() ?? Buffer.allocUnsafeSlow(TAIL_ROOM + PAGE + this.chunkSize);
      const at = this.issuePos;
      this.issuePos += this.chunkSize;
      const off = readOffset(buf, at);
      const read = fh.read(buf, off, this.chunkSize, at).then((r) => ({ buf, off, bytes: r.bytesRead }));
      // A read ahead that fails (EISDIR, EIO) is reported by the refill that awaits it; one still in
      // flight when an earlier read's error ended the reader is never awaited, and must not bring
      // the process down as an unhandled rejection.
      read.catch(() => undefined);
      this.ahead.push(read);
    }
  }

  /** Drops reads issued past a short read (their offsets are wrong now); they restart at filePos. */
  private async discardAhead(): Promise<void> {
    const stale = this.ahead.splice(0);
    for (const p of stale) {
      const r = await p.catch(() => undefined);
      if (r !== undefined && this.reuse) this.free.push(r.buf);
    }
    this.issuePos = this.filePos;
  }

  async refill(tail: Buffer, tailBase: number, need: number): Promise<Chunk> {
    if (this.closed || this.eof) return { chunk: tail, base: tailBase, eof: true };
    const fh = (this.fh ??= await this.opening);
    this.readAhead(fh);
    const { buf, off, bytes } = await this.ahead.shift()!;
    if (this.closed) return { chunk: tail, base: tailBase, eof: true };
    this.filePos += bytes;
    if (bytes < this.chunkSize) {
      // End of file, or a file still growing: whatever was read beyond is out of place.
      await this.discardAhead();
      if (bytes === 0) this.eof = true;
    }
    const t = tail.length;
    let chunk: Buffer;
    if (t <= off) {
      tail.copy(buf, off - t);
      chunk = buf.subarray(off - t, off + bytes);
    } else {
      chunk = Buffer.allocUnsafeSlow(t + bytes);
      tail.copy(chunk, 0);
      buf.copy(chunk, t, off, off + bytes);
    }
    if (chunk.length < need && !this.eof) {
      await this.discardAhead();
      chunk = await this.readUpTo(fh, chunk, need);
      this.issuePos = this.filePos;
    }
    if (this.reuse) {
      // The previous chunk's tail has been copied out: its buffer can take the next read.
      if (this.current !== null) this.free.push(this.current);
      this.current = null;
      if (chunk.buffer === buf.buffer) this.current = buf;
      else this.free.push(buf);
    }
    this.readAhead(fh);
    return { chunk, base: tailBase, eof: this.eof };
  }

  /** The one-off path for a block bigger than a chunk: read straight into a buffer of `need` bytes. */
  private async readUpTo(fh: FileHandle, have: Buffer, need: number): Promise<Buffer> {
    const big = Buffer.allocUnsafeSlow(need);
    have.copy(big, 0);
    let fill = have.length;
    while (fill < need) {
      const { bytesRead } = await fh.read(big, fill, need - fill, this.filePos);
      if (bytesRead === 0) {
        this.eof = true;
        break;
      }
      fill += bytesRead;
      this.filePos += bytesRead;
    }
    return big.subarray(0, fill);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.ahead.splice(0)) await p.catch(() => undefined);
    let fh = this.fh;
    if (fh === undefined) fh = await this.opening.catch(() => undefined);
    await fh?.close();
  }
}

/** A Readable (or any async iterable of bytes): zero-copy when no tail is pending. */
export class StreamSource implements ChunkSource {
  private readonly it: AsyncIterator<unknown>;
  private done = false;
  private closed = false;

  constructor(private readonly stream: NodeJS.ReadableStream | AsyncIterable<unknown>) {
    this.it = (stream as AsyncIterable<unknown>)[Symbol.asyncIterator]();
  }

  async refill(tail: Buffer, tailBase: number, need: number): Promise<Chunk> {
    if (this.done) return { chunk: tail, base: tailBase, eof: true };
    const parts: Buffer[] = tail.length > 0 ? [tail] : [];
    let total = tail.length;
    // At least one new piece, then until the parser's need is met.
    do {
      let r: IteratorResult<unknown>;
      try {
        r = await this.it.next();
      } catch (err) {
        // close() destroyed the stream under a pending read: that is the end, not an error.
        if (this.closed) r = { done: true, value: undefined };
        else throw err;
      }
      if (r.done === true || this.closed) {
        this.done = true;
        break;
      }
      const v = r.value;
      const piece =
        typeof v === 'string' ? Buffer.from(v, 'latin1') : Buffer.isBuffer(v) ? v : Buffer.from((v as Uint8Array).buffer, (v as Uint8Array).byteOffset, (v as Uint8Array).byteLength);
      if (piece.length === 0) continue;
      parts.push(piece);
      total += piece.length;
    } while (total < need);
    const chunk = parts.length === 1 ? parts[0]! : parts.length === 0 ? tail : Buffer.concat(parts, total);
    return { chunk, base: tailBase, eof: this.done };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.done) return;
    this.done = true;
    // An async iterator's return() waits behind a pending next(); destroying the stream ends that
    // read now (a quiet pipe would otherwise keep us waiting for data that may never come).
    const destroy = (this.stream as { destroy?: () => void }).destroy;
    if (typeof destroy === 'function') destroy.call(this.stream);
    try {
      await this.it.return?.();
    } catch {
      // The premature-close error belongs to the read close() ended on purpose.
    }
  }
}
