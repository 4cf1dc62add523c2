// Recycled memory for a streamed replay. The reader runs in its reuse mode (its buffers are valid
// only until the next batch), and each batch is copied into a slot of this pool, which the native
// thread reads until it gives the batch back. Nothing is allocated per batch once the pool is warm,
// so a streamed replay's memory stays flat whatever the size of the trace, and the garbage
// collector has next to nothing to do.
import type { PacketBatch } from '../pcap/index.js';

export interface PoolSlot {
  data: Uint8Array;
  off: Uint32Array;
  capLen: Uint32Array;
  origLen: Uint32Array;
  sec: Float64Array;
  nsec: Uint32Array;
  count: number;
  /** bytes this slot holds for the in-flight budget */
  bytes: number;
}

export class BatchPool {
  private readonly free: PoolSlot[] = [];

  /** A slot holding a copy of batch b (packet bytes rebased to the slot's own buffer). */
  take(b: PacketBatch): PoolSlot {
    const n = b.count;
    let lo = Infinity;
    let hi = 0;
    for (let i = 0; i < n; i++) {
      const o = b.dataOffset[i]!;
      if (o < lo) lo = o;
      const e = o + b.capLen[i]!;
      if (e > hi) hi = e;
    }
    if (n === 0) lo = hi = 0;
    const span = hi - lo;
    const s = this.fit(n, span);
    s.data.set(b.buffer.subarray(lo, hi));
    for (let i = 0; i < n; i++) s.off[i] = b.dataOffset[i]! - lo;
    s.capLen.set(b.capLen.subarray(0, n));
    s.origLen.set(b.origLen.subarray(0, n));
    s.sec.set(b.tsSec.subarray(0, n));
    s.nsec.set(b.tsNsec.subarray(0, n));
    s.count = n;
    s.bytes = span + 28 * n;
    return s;
  }

  /** The native side is done with the slot. */
  give(s: PoolSlot): void {
    this.free.push(s);
  }

  private fit(packets: number, bytes: number): PoolSlot {
    const at = this.free.findIndex((s) => s.off.length >= packets && s.data.byteLength >= bytes);
    if (at >= 0) return this.free.splice(at, 1)[0]!;
    const old = this.free.pop(); // too small: replaced by one large enough for both
    const p = Math.max(packets, old?.off.length ?? 0);
    const d = Math.max(bytes, old?.data.byteLength ?? 0);
    return {
      data: new Uint8Array(d),
      off: new Uint32Array(p),
      capLen: new Uint32Array(p),
      origLen: new Uint32Array(p),
      sec: new Float64Array(p),
      nsec: new Uint32Array(p),
      count: 0,
      bytes: 0,
    };
  }
}
