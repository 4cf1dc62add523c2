// A netmap shared-memory image in a Buffer, laid out as the kernel lays out what a process maps
// from /dev/netmap (netmap(4), sys/net/netmap.h; LP64 offsets): a netmap_if with its ring_ofs[]
// table, the rings (256-byte header, then 16-byte slots), then the buffer pool. Tests attach the
// backend's ring adapters to it and play the kernel's side of a sync by editing it.

export const IF_HEADER = 56;
export const RING_HEADER = 256;
export const SLOT = 16;

// netmap_ring field offsets
export const R = {
  bufOfs: 0,
  numSlots: 8,
  bufSize: 12,
  ringid: 16,
  dir: 18,
  head: 20,
  cur: 24,
  tail: 28,
  flags: 32,
  tsSec: 40,
  tsUsec: 48,
} as const;

export interface ImageSpec {
  ifName?: string;
  nicTx: number;
  nicRx: number;
  hostTx?: number;
  hostRx?: number;
  /** ring_ofs[] positions bound to "our descriptor", per direction (NIC rings first, then host) */
  boundTx: number[];
  boundRx: number[];
  /** slots per ring, or one value per table position: [tx..., rx...] */
  slots: number | number[];
  bufSize?: number;
  /** extra buffers in the pool beyond one per slot */
  spareBufs?: number;
  nifpOffset?: number;
}

export interface RingImage {
  dir: 'tx' | 'rx';
  position: number; // index within its direction in ring_ofs[]
  offset: number; // byte offset of the netmap_ring in the image
  slots: number;
}

export class NetmapImage {
  readonly buf: Buffer;
  readonly nifpOffset: number;
  readonly bufsOffset: number;
  readonly bufSize: number;
  readonly poolBufs: number;
  readonly rings: RingImage[] = [];

  constructor(spec: ImageSpec) {
    const hostTx = spec.hostTx ?? 0;
    const hostRx = spec.hostRx ?? 0;
    const ntx = spec.nicTx + hostTx;
    const nrx = spec.nicRx + hostRx;
    this.bufSize = spec.bufSize ?? 2048;
    this.nifpOffset = spec.nifpOffset ?? 128;
    const slotsAt = (dir: 'tx' | 'rx', pos: number): number =>
      typeof spec.slots === 'number' ? spec.slots : spec.slots[dir === 'tx' ? pos : ntx + pos]!;

    // netmap_if, then every ring of the port (bound or not, as the kernel allocates them), each
    // starting on a 128-byte boundary, then the buffers on a 64-byte boundary.
    let at = align(this.nifpOffset + IF_HEADER + 8 * (ntx + nrx), 128);
    const all: RingImage[] = [];
    for (const [dir, n] of [['tx', ntx], ['rx', nrx]] as const) {
      for (let pos = 0; pos < n; pos++) {
        const slots = slotsAt(dir, pos);
        all.push({ dir, position: pos, offset: at, slots });
        at = align(at + RING_HEADER + SLOT * slots, 128);
      }
    }
    this.bufsOffset = align(at, 64);
    // Buffers 0 and 1 are reserved by netmap; every slot of every ring gets its own buffer.
    const slotTotal = all.reduce((a, r) => a + r.slots, 0);
    this.poolBufs = 2 + slotTotal + (spec.spareBufs ?? 0);
    this.buf = Buffer.alloc(this.bufsOffset + this.poolBufs * this.bufSize);

    const b = this.buf;
    b.write(spec.ifName ?? 'eth0', this.nifpOffset, 'latin1');
    b.writeUInt32LE(14, this.nifpOffset + 16); // ni_version
    b.writeUInt32LE(spec.nicTx, this.nifpOffset + 24);
    b.writeUInt32LE(spec.nicRx, this.nifpOffset + 28);
    b.writeUInt32LE(hostTx, this.nifpOffset + 36);
    b.writeUInt32LE(hostRx, this.nifpOffset + 40);

    let nextBuf = 2;
    for (const r of all) {
      const bound = (r.dir === 'tx' ? spec.boundTx : spec.boundRx).includes(r.position);
      const entry = this.nifpOffset + IF_HEADER + 8 * (r.dir === 'tx' ? r.position : ntx + r.position);
      b.writeBigInt64LE(bound ? BigInt(r.offset - this.nifpOffset) : 0n, entry);
      b.writeBigInt64LE(BigInt(this.bufsOffset - r.offset), r.offset + R.bufOfs);
      b.writeUInt32LE(r.slots, r.offset + R.numSlots);
      b.writeUInt32LE(this.bufSize, r.offset + R.bufSize);
      b.writeUInt16LE(r.position, r.offset + R.ringid);
      // The kernel writes kring->tx here: 1 for TX rings, 0 for RX (netmap_mem2.c).
      b.writeUInt16LE(r.dir === 'tx' ? 1 : 0, r.offset + R.dir);
      // A fresh registration: TX rings are all free (tail = head - 1), RX rings are empty.
      b.writeUInt32LE(r.dir === 'tx' ? r.slots - 1 : 0, r.offset + R.tail);
      for (let i = 0; i < r.slots; i++) b.writeUInt32LE(nextBuf++, r.offset + RING_HEADER + SLOT * i);
      this.rings.push(r);
    }
  }

  ring(dir: 'tx' | 'rx', position: number): RingImage {
    const r = this.rings.find((x) => x.dir === dir && x.position === position);
    if (!r) throw new Error(`no ${dir} ring ${position}`);
    return r;
  }

  get(r: RingImage, field: 'head' | 'cur' | 'tail' | 'flags' | 'numSlots'): number {
    return this.buf.readUInt32LE(r.offset + R[field]);
  }
  set(r: RingImage, field: 'head' | 'cur' | 'tail' | 'flags' | 'numSlots', v: number): void {
    this.buf.writeUInt32LE(v, r.offset + R[field]);
  }
  setTs(r: RingImage, sec: number, usec: number): void {
    this.buf.writeBigInt64LE(BigInt(sec), r.offset + R.tsSec);
    this.buf.writeBigInt64LE(BigInt(usec), r.offset + R.tsUsec);
  }

  slotOffset(r: RingImage, i: number): number {
    return r.offset + RING_HEADER + SLOT * i;
  }
  slotBufIdx(r: RingImage, i: number): number {
    return this.buf.readUInt32LE(this.slotOffset(r, i));
  }
  setSlot(r: RingImage, i: number, s: { bufIdx?: number; len?: number; flags?: number }): void {
    const o = this.slotOffset(r, i);
    if (s.bufIdx !== undefined) this.buf.writeUInt32LE(s.bufIdx, o);
    if (s.len !== undefined) this.buf.writeUInt16LE(s.len, o + 4);
    if (s.flags !== undefined) this.buf.writeUInt16LE(s.flags, o + 6);
  }
  slotLen(r: RingImage, i: number): number {
    return this.buf.readUInt16LE(this.slotOffset(r, i) + 4);
  }

  /** Kernel side of a receive: put `data` in slot i's buffer. */
  deliver(r: RingImage, i: number, data: Uint8Array): void {
    const idx = this.slotBufIdx(r, i);
    this.buf.set(data, this.bufsOffset + idx * this.bufSize);
    this.setSlot(r, i, { len: data.length, flags: 0 });
  }
  bufferOf(r: RingImage, i: number): Buffer {
    const idx = this.slotBufIdx(r, i);
    const at = this.bufsOffset + idx * this.bufSize;
    return this.buf.subarray(at, at + this.slotLen(r, i));
  }
}

function align(v: number, a: number): number {
  return Math.ceil(v / a) * a;
}
