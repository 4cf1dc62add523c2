// An in-memory Writable for writer tests: collects what the sink writes.
import { Writable } from 'node:stream';

export class MemoryWritable extends Writable {
  readonly chunks: Buffer[] = [];

  constructor(private readonly delayMs = 0) {
    super();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.chunks.push(Buffer.from(chunk));
    if (this.delayMs > 0) setTimeout(cb, this.delayMs);
    else cb();
  }

  get bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}
