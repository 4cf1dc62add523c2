// Buffered binary output for the writers: encoders write in place into a big buffer (MiB), full
// buffers go out in order (one write in flight at a time, so the file offset never races) on the
// libuv thread pool while JavaScript fills the next one. Back-pressure: `needsDrain` turns true when
// too many buffers wait, and `ready()` resolves once they are down again. A failed write (disk full,
// broken pipe) is remembered and thrown from the next call.

import { closeSync, openSync, write as fsWrite } from 'node:fs';
import type { Writable } from 'node:stream';

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
}

export interface SinkOptions {
  /** Size of each output buffer. Default 4 MiB. */
  bufferSize?: number;
  /** Buffers allowed to wait for the disk before needsDrain. Default 4. */
  maxQueued?: number;
}

type Output = (b: Buffer) => Promise<void>;

function writeFully(fd: number, b: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    let off = 0;
    const step = (): void => {
      fsWrite(fd, b, off, b.length - off, null, (err, n) => {
        if (err !== null) return reject(err);
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
    const onError = (err: Error): void => reject(err);
    s.once('error', onError);
    s.write(b, (err) => {
      s.off('error', onError);
      if (err) reject(err);
      else resolve();
    });
  });
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

  constructor(
    private readonly output: Output,
    private readonly finish: () => Promise<void>,
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

  /** Records an error the output reported outside a write (a stream's 'error' event). */
  fail(err: Error): void {
    this.error ??= err;
    this.wake();
  }

  private check(): void {
    if (this.error !== undefined) throw this.error;
    if (this.closed) throw new Error('write to a closed sink');
  }

  /** Sends the current buffer out and starts a fresh one of at least `min` bytes. */
  private rotate(min: number): void {
    if (this.pos > 0) {
      const full = this.buf;
      const used = full.subarray(0, this.pos);
      this.flushedBytes += this.pos;
      this.pos = 0;
      this.queued++;
      this.chain = this.chain
        .then(() => (this.error === undefined ? this.output(used) : undefined))
        .catch((err: Error) => {
          this.error ??= err;
        })
        .finally(() => {
          this.queued--;
          if (full.length === this.size && this.spare.length < this.maxQueued) this.spare.push(full);
          if (this.queued < this.maxQueued) this.wake();
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
    this.check();
    if (this.pos > 0) this.rotate(0);
    this.flushedBytes += bytes.length;
    this.queued++;
    const done = this.chain.then(() => {
      if (this.error !== undefined) throw this.error;
      return this.output(bytes);
    });
    this.chain = done
      .catch((err: Error) => {
        this.error ??= err;
      })
      .finally(() => {
        this.queued--;
        if (this.queued < this.maxQueued) this.wake();
      });
    return done;
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
    if (this.error !== undefined) throw this.error;
  }

  async flush(): Promise<void> {
    if (this.error !== undefined) throw this.error;
    if (this.pos > 0) this.rotate(0);
    await this.chain;
    if (this.error !== undefined) throw this.error;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.flush();
    } finally {
      this.closed = true;
      await this.finish();
    }
  }
}

/**
 * Opens buffered output: a path ('-' = stdout), an fd (1 = stdout, 2 = stderr) or a Writable.
 * A path is created or truncated now, so an unwritable path fails here, synchronously.
 */
export function openSink(target: string | number | Writable, opts?: SinkOptions): ByteSink {
  if (target === '-' || target === 1) return streamSink(process.stdout, false, opts);
  if (target === 2) return streamSink(process.stderr, false, opts);
  if (typeof target === 'string') {
    const fd = openSync(target, 'w');
    return new BufferedSink(
      (b) => writeFully(fd, b),
      async () => closeSync(fd),
      opts,
    );
  }
  if (typeof target === 'number') {
    return new BufferedSink(
      (b) => writeFully(target, b),
      async () => undefined,
      opts,
    );
  }
  return streamSink(target, true, opts);
}

function streamSink(s: Writable, end: boolean, opts: SinkOptions | undefined): ByteSink {
  // A stream may report an error (EPIPE on stdout...) after the write that caused it completed:
  // keep a listener for the sink's whole life so it is recorded, never thrown as unhandled.
  const sink = new BufferedSink(
    (b) => writeStream(s, b),
    () =>
      end
        ? new Promise<void>((resolve) => {
            s.end(() => resolve());
          })
        : Promise.resolve(),
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
