// Buffered binary output for the writers: encoders write in place into a big buffer (MiB), full
// buffers go out in order (one write in flight at a time, so the file offset never races) on the
// libuv thread pool while JavaScript fills the next one. Back-pressure: `needsDrain` turns true when
// too many buffers wait, and `ready()` resolves once they are down again. A failed write (disk full,
// broken pipe) is remembered and thrown from the next call as an OutputError naming the output.
//
// After a failed write the file is made valid again: every buffer starts on a block boundary (the
// writers never split a block between buffers), so the writer's framing finds the last block that
// reached the file whole; close() (or recover()) cuts the file there, and `failure` says how many
// bytes and packets are in it. recover() then lets the writer add a last few blocks (the ISBs) if
// the file system still has room for them; if not, they are cut off again.

import { closeSync, fstatSync, ftruncateSync, openSync, write as fsWrite } from 'node:fs';
import { constants as osConstants } from 'node:os';
import type { Writable } from 'node:stream';

import { OutputError } from '../errors.js';

export interface ByteSink {
  /** The current buffer; writers put bytes at offsets returned by reserve(). */
  readonly buf: Buffer;
  /** A DataView over `buf` (replaced together with it). */
  readonly view: DataView;
  /** Room for n bytes: returns their offset in `buf` (which may be a new buffer after this call). */
  reserve(n: number): number;
  /** Appends a copy of `bytes`. */
  write(bytes: Uint8Array): void;
  /**
   * Appends `bytes` without copying them: they go out after everything written before, and
   * the promise resolves once they are written (then the caller may reuse the memory). For big
   * blocks produced elsewhere, like the native capture thread's EPB buffers.
   */
  writeOwned(bytes: Buffer): Promise<void>;
  /**
   * Bulk writers: room for n bytes at the current position without taking it (the buffer may be
   * replaced); returns the position. Write there, then advance().
   */
  ensure(n: number): number;
  /** The current write position in `buf`. */
  cursor(): number;
  /** Moves the write position forward to `pos` (within `buf`) after writing in place. */
  advance(pos: number): void;
  /** True when the caller should await ready() before producing more. */
  readonly needsDrain: boolean;
  ready(): Promise<void>;
  /** Writes out everything buffered so far and waits for it. */
  flush(): Promise<void>;
  /** flush(), then closes what the sink opened (a path's fd; ends a Writable it was given). */
  close(): Promise<void>;
  /** Bytes accepted so far (written or buffered). */
  readonly bytesWritten: number;
  /** How to find block boundaries and packets in the bytes (set by the writer on top). */
  setFraming(f: BlockFraming): void;
  /** Set once a write failed: what reached the output, complete. */
  readonly failure: SinkFailure | undefined;
  /**
   * After a failure: waits for everything in flight, cuts a file back to its last complete block,
   * and accepts a few more blocks (a trailer) that close() writes if there is room, cutting them
   * off again if not. close() still rejects with the failure's error.
   */
  recover(): Promise<SinkFailure>;
}

/** Where blocks start and end: pcapng blocks, or classic pcap's header and records. */
export interface BlockFraming {
  /**
   * Length of the block at `at` of `b` (which sits at `fileOffset` of the output), or 0 when its
   * header is not all there.
   */
  blockLength(b: Buffer, at: number, fileOffset: number): number;
  /** Whether the block at `at` is a packet. */
  isPacket(b: Buffer, at: number, fileOffset: number): boolean;
}

/** What a failed output holds: whole blocks only, once the sink cut the rest. */
export interface SinkFailure {
  error: OutputError;
  /** Bytes on the output, up to the end of its last complete block. */
  bytes: number;
  /** Packets accepted by the sink that are not on the output. */
  packetsLost: number;
  /** Whether a file could be cut back to `bytes` (false for pipes and streams: they hold what they got). */
  trimmed: boolean;
  /** Whether the blocks given after recover() (the trailer) made it. */
  trailerWritten: boolean;
}

/** Packets in whole blocks of b[from, to). */
function countPackets(f: BlockFraming | undefined, b: Buffer, from: number, to: number, fileOffset: number): number {
  if (f === undefined) return 0;
  let n = 0;
  for (let at = from; at < to; ) {
    const len = f.blockLength(b, at, fileOffset + at);
    if (len <= 0 || at + len > to) break;
    if (f.isPacket(b, at, fileOffset + at)) n++;
    at += len;
  }
  return n;
}

/** End of the last whole block of b[0, written). */
function lastBlockEnd(f: BlockFraming | undefined, b: Buffer, written: number, fileOffset: number): number {
  if (f === undefined) return written;
  let at = 0;
  for (;;) {
    const len = at + 8 <= written ? f.blockLength(b, at, fileOffset + at) : 0;
    if (len <= 0 || at + len > written) return at;
    at += len;
  }
}

export interface SinkOptions {
  /** Size of each output buffer. Default 4 MiB. */
  bufferSize?: number;
  /** Buffers allowed to wait for the disk before needsDrain. Default 4. */
  maxQueued?: number;
  /** Names the output in error messages (default: the path, or "fd N"). */
  name?: string;
}

/** Writes b at `position` (null: the fd's own offset); a failure carries how much got out. */
type Output = (b: Buffer, position: number | null) => Promise<void>;

/** A failed output call: the system error, and the bytes that were written before it. */
class PartialWrite {
  constructor(
    readonly cause: unknown,
    readonly written: number,
  ) {}
}

function writeFully(fd: number, b: Buffer, position: number | null): Promise<void> {
  return new Promise((resolve, reject) => {
    let off = 0;
    const step = (): void => {
      fsWrite(fd, b, off, b.length - off, position === null ? null : position + off, (err, n) => {
        if (err !== null) return reject(new PartialWrite(err, off));
        off += n;
        if (off < b.length) step();
        else resolve();
      });
    };
    if (b.length === 0) resolve();
    else step();
  });
}

function writeStream(s: Writable, b: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(new PartialWrite(err, 0));
    s.once('error', onError);
    s.write(b, (err) => {
      s.off('error', onError);
      if (err) reject(new PartialWrite(err, 0));
      else resolve();
    });
  });
}

/** How a sink reaches its output. */
interface OutputTarget {
  /** Names the output in messages (a path, "stdout", "the output stream"). */
  name: string;
  write: Output;
  finish: () => Promise<void>;
  /** Cuts a file to `size` bytes; absent for pipes and streams. */
  truncate?: (size: number) => void;
  /** Appends (position null) may be issued before earlier ones completed: the target keeps their order. */
  ordered?: boolean;
}

class BufferedSink implements ByteSink {
  buf: Buffer;
  view: DataView;
  private pos = 0;
  private flushedBytes = 0;
  private queued = 0;
  private chain: Promise<void> = Promise.resolve();
  private error: Error | undefined;
  private readonly size: number;
  private readonly maxQueued: number;
  private readonly spare: Buffer[] = [];
  private waiters: (() => void)[] = [];
  private closed = false;
  private framing: BlockFraming | undefined;
  /** Bytes known to be on the output, whole blocks (set at the first failure). */
  private durable = 0;
  private lost = 0;
  private failed: SinkFailure | undefined;
  /** recover() was called: what is written from now on is the trailer, at `durable`. */
  private recovering = false;
  private settled = false;

  constructor(
    private readonly target: OutputTarget,
    opts: SinkOptions | undefined,
  ) {
    this.size = opts?.bufferSize ?? 4 * 1024 * 1024;
    this.maxQueued = opts?.maxQueued ?? 4;
    this.buf = Buffer.allocUnsafeSlow(this.size);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  get bytesWritten(): number {
    return this.flushedBytes + this.pos;
  }

  get needsDrain(): boolean {
    return this.queued >= this.maxQueued;
  }

  get failure(): SinkFailure | undefined {
    return this.failed;
  }

  setFraming(f: BlockFraming): void {
    this.framing = f;
  }

  /** Records an error the output reported outside a write (a stream's 'error' event). */
  fail(err: Error): void {
    this.failWith(new PartialWrite(err, 0), undefined, 0);
    this.wake();
  }

  /**
   * The first failure: remembers the error and where the last whole block of `b` (the buffer
   * being written, at file offset `at`) ends on the output; what follows it counts as lost.
   */
  private failWith(p: PartialWrite, b: Buffer | undefined, at: number): void {
    if (this.failed !== undefined) {
      this.error = this.failed.error;
      if (b !== undefined && !this.recovering) this.lost += countPackets(this.framing, b, 0, b.length, at);
      return;
    }
    const error = p.cause instanceof OutputError ? p.cause : new OutputError(this.target.name, p.cause);
    this.error = error;
    let end = 0;
    if (b !== undefined) {
      end = lastBlockEnd(this.framing, b, p.written, at);
      this.lost += countPackets(this.framing, b, end, b.length, at);
    }
    this.durable = at + end;
    this.failed = { error, bytes: this.durable, packetsLost: 0, trimmed: false, trailerWritten: false };
  }

  /** Writes b (all blocks) after everything queued; on failure, counts what did not make it. */
  private send(b: Buffer): Promise<void> {
    const at = this.flushedBytes;
    this.flushedBytes += b.length;
    this.queued++;
    // A target that keeps appends in order itself gets them at once (the disk stays busy while
    // this side waits); results are still taken in order, so the first failure is the earliest.
    let early: Promise<{ e: unknown } | undefined> | undefined;
    if (this.target.ordered === true && this.error === undefined && !this.recovering) {
      early = this.target.write(b, null).then(
        () => undefined,
        (e: unknown) => ({ e }),
      );
    }
    const done = this.chain.then(async () => {
      if (this.error !== undefined) {
        if (early !== undefined) await early;
        this.failWith(new PartialWrite(this.error, 0), b, at);
        throw this.error;
      }
      try {
        if (early === undefined) await this.target.write(b, this.recovering ? at : null);
        else {
          const r = await early;
          if (r !== undefined) throw r.e;
        }
      } catch (e) {
        this.failWith(e instanceof PartialWrite ? e : new PartialWrite(e, 0), b, at);
        throw this.error;
      }
    });
    this.chain = done
      .catch(() => undefined)
      .finally(() => {
        this.queued--;
        if (this.queued < this.maxQueued) this.wake();
      });
    return done;
  }

  private check(): void {
    if (this.error !== undefined && !this.recovering) throw this.error;
    if (this.closed) throw new Error('write to a closed sink');
  }

  /** Sends the current buffer out and starts a fresh one of at least `min` bytes. */
  private rotate(min: number): void {
    if (this.pos > 0) {
      const full = this.buf;
      const used = full.subarray(0, this.pos);
      this.pos = 0;
      void this.send(used)
        .catch(() => undefined)
        .finally(() => {
          if (full.length === this.size && this.spare.length < this.maxQueued) this.spare.push(full);
        });
    }
    const next = min <= this.size ? (this.spare.pop() ?? Buffer.allocUnsafeSlow(this.size)) : Buffer.allocUnsafeSlow(min);
    this.buf = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  reserve(n: number): number {
    this.check();
    if (this.pos + n > this.buf.length) this.rotate(n);
    const at = this.pos;
    this.pos += n;
    return at;
  }

  write(bytes: Uint8Array): void {
    const at = this.reserve(bytes.length);
    this.buf.set(bytes, at);
  }

  writeOwned(bytes: Buffer): Promise<void> {
    if (this.failed !== undefined && !this.recovering) {
      // Counted now, while the caller still holds the memory.
      this.failWith(new PartialWrite(this.error, 0), bytes, this.flushedBytes);
      this.flushedBytes += bytes.length;
      return Promise.reject(this.error);
    }
    this.check();
    if (this.pos > 0) this.rotate(0);
    return this.send(bytes);
  }

  ensure(n: number): number {
    this.check();
    if (this.pos + n > this.buf.length) this.rotate(n);
    return this.pos;
  }

  cursor(): number {
    return this.pos;
  }

  advance(pos: number): void {
    if (pos < this.pos || pos > this.buf.length) throw new RangeError(`sink position ${pos} outside ${this.pos}..${this.buf.length}`);
    this.pos = pos;
  }

  async ready(): Promise<void> {
    while (this.queued >= this.maxQueued && this.error === undefined) {
      await new Promise<void>((r) => this.waiters.push(r));
    }
    if (this.error !== undefined && !this.recovering) throw this.error;
  }

  async flush(): Promise<void> {
    if (this.error !== undefined && !this.recovering) throw this.error;
    if (this.pos > 0) this.rotate(0);
    await this.chain;
    if (this.error !== undefined && !this.recovering) throw this.error;
  }

  /** After a failure: waits for writes in flight, drops what is buffered, cuts the file. */
  private async settleFailure(): Promise<SinkFailure> {
    this.settled = true;
    await this.chain;
    const f = this.failed!;
    if (this.pos > 0) {
      this.lost += countPackets(this.framing, this.buf, 0, this.pos, this.flushedBytes);
      this.flushedBytes += this.pos;
      this.pos = 0;
    }
    f.packetsLost = this.lost;
    this.cut(f);
    return f;
  }

  private cut(f: SinkFailure): void {
    if (this.target.truncate === undefined) return;
    try {
      this.target.truncate(this.durable);
      f.trimmed = true;
    } catch {
      f.trimmed = false;
    }
    f.bytes = this.durable;
  }

  async recover(): Promise<SinkFailure> {
    if (this.failed === undefined) throw new Error('recover() without a failure');
    if (this.settled) return this.failed;
    const f = await this.settleFailure();
    if (f.trimmed) {
      // The trailer goes where the whole blocks end; a pipe cannot take it after a cut block.
      this.recovering = true;
      this.error = undefined;
      this.flushedBytes = this.durable;
    }
    return f;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    try {
      if (this.failed === undefined) await this.flush().catch(() => undefined);
      const f = this.failed;
      if (f === undefined) return;
      if (this.recovering) {
        const end = this.flushedBytes + this.pos;
        if (this.pos > 0) this.rotate(0);
        await this.chain;
        this.recovering = false;
        if (this.error === undefined) {
          this.durable = end;
          f.bytes = end;
          f.trailerWritten = true;
        } else {
          this.cut(f); // no room for the trailer: back to the end of the last whole block
        }
        this.error = f.error;
      } else if (!this.settled) {
        await this.settleFailure();
      }
      throw f.error;
    } finally {
      this.closed = true;
      await this.target.finish();
    }
  }
}

/**
 * Opens buffered output: a path ('-' = stdout), an fd (1 = stdout, 2 = stderr) or a Writable.
 * A path is created or truncated now, so an unwritable path fails here, synchronously.
 */
export function openSink(target: string | number | Writable, opts?: SinkOptions): ByteSink {
  if (target === '-' || target === 1) return streamSink(process.stdout, false, opts, 'stdout');
  if (target === 2) return streamSink(process.stderr, false, opts, 'stderr');
  if (typeof target === 'string') {
    const fd = openSync(target, 'w', 0o600);
    return new BufferedSink(fdTarget(fd, opts?.name ?? target, async () => closeSync(fd)), opts);
  }
  if (typeof target === 'number') return new BufferedSink(fdTarget(target, opts?.name ?? `fd ${target}`, async () => undefined), opts);
  return streamSink(target, true, opts, opts?.name ?? 'the output stream');
}

/**
 * A file written by appends that complete asynchronously elsewhere (the native O_DIRECT writer):
 * write() calls back with an errno (0: ok) and how many bytes of the file are on disk;
 * `plainFd` is an ordinary descriptor of the same file for the trailer and for cutting it.
 */
export interface AppendFile {
  readonly plainFd: number;
  write(b: Buffer, cb: (errno: number, durable: number) => void): void;
  /** Waits for the appends and cuts the file to its exact length; errno or 0. */
  finish(): number;
  close(): void;
}

const ERRNO_NAME = new Map<number, string>(Object.entries(osConstants.errno).map(([k, v]) => [v, k]));

function errnoError(errno: number): NodeJS.ErrnoException {
  const e: NodeJS.ErrnoException = new Error(`${ERRNO_NAME.get(errno) ?? 'EIO'}: write failed`);
  e.code = ERRNO_NAME.get(errno) ?? 'EIO';
  e.errno = -errno;
  e.syscall = 'write';
  return e;
}

/** A sink over an AppendFile; named `name` in messages. */
export function openAppendSink(file: AppendFile, name: string, opts?: SinkOptions): ByteSink {
  let appended = 0;
  const target: OutputTarget = {
    name,
    ordered: true,
    write: (b, position) => {
      if (position !== null) return writeFully(file.plainFd, b, position);
      const at = appended;
      appended += b.length;
      return new Promise((resolve, reject) =>
        file.write(b, (errno, durable) => (errno === 0 ? resolve() : reject(new PartialWrite(errnoError(errno), Math.max(0, durable - at))))),
      );
    },
    truncate: (size) => ftruncateSync(file.plainFd, size),
    finish: async () => {
      // A failed append was reported by its write; what finish() returns then says the same.
      file.finish();
      file.close();
    },
  };
  return new BufferedSink(target, opts);
}

/** An fd's output: written at its own offset; a regular file can be cut back after a failure. */
function fdTarget(fd: number, name: string, finish: () => Promise<void>): OutputTarget {
  const t: OutputTarget = { name, write: (b, position) => writeFully(fd, b, position), finish };
  if (fstatSync(fd).isFile()) t.truncate = (size) => ftruncateSync(fd, size);
  return t;
}

function streamSink(s: Writable, end: boolean, opts: SinkOptions | undefined, name: string): ByteSink {
  // A stream may report an error (EPIPE on stdout...) after the write that caused it completed:
  // keep a listener for the sink's whole life so it is recorded, never thrown as unhandled.
  const sink = new BufferedSink(
    {
      name,
      write: (b) => writeStream(s, b),
      finish: () =>
        end
          ? new Promise<void>((resolve) => {
              s.end(() => resolve());
            })
          : Promise.resolve(),
    },
    opts,
  );
  s.on('error', (err: Error) => sink.fail(err));
  return sink;
}

/** What both writers do with their sink: back-pressure, flush and close. */
export abstract class SinkWriter {
  protected closed = false;

  constructor(protected readonly out: ByteSink) {}

  /** True when the caller should await ready() before writing more (back-pressure). */
  get needsDrain(): boolean {
    return this.out.needsDrain;
  }

  ready(): Promise<void> {
    return this.out.ready();
  }

  flush(): Promise<void> {
    return this.out.flush();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.out.close();
  }
}
