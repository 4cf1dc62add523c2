// The netmap backend's ring adapters (native/ports/netmap/netmap_rings.cc) on a memory image in netmap's
// documented format (test/helpers/netmap-image.ts). The test plays the kernel inside sync(): it
// reads the head/cur the backend pushed and writes tail and the ring timestamp, as NIOC*SYNC does.
import { describe, expect, it } from 'vitest';
import { nativeTest as native, type NetmapTestRegion } from '../helpers/native-test.js';
import { NetmapImage, R } from '../helpers/netmap-image.js';

const { Region } = native.netmapTest;
const NR_TIMESTAMP = 0x2;
const EINVAL = 22;
const EIO = 5;

function packet(seq: number, len = 60): Buffer {
  const b = Buffer.alloc(len, seq & 0xff);
  b.writeUInt32BE(seq, 0);
  return b;
}

function region(img: NetmapImage, poolBufs?: number): NetmapTestRegion {
  return poolBufs === undefined ? new Region(img.buf, img.nifpOffset) : new Region(img.buf, img.nifpOffset, poolBufs);
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function expectIoError(f: () => unknown, piece: string): void {
  expect(f).toThrow(
    expect.objectContaining({
      code: 'ERR_PORT_IO',
      message: expect.stringMatching(new RegExp(`^netmap: the shared memory is malformed: .*${escape(piece)}`)),
    }),
  );
}

describe('netmap ring adapters: attaching', () => {
  it('attaches one adapter per bound ring, using the kernel slots and buffers in place', () => {
    const img = new NetmapImage({ nicTx: 2, nicRx: 2, hostTx: 1, hostRx: 1, boundTx: [0, 1], boundRx: [0, 1], slots: 8 });
    const rs = region(img).rings();
    expect(rs).toMatchObject({ ifName: 'eth0', nicTx: 2, nicRx: 2, hostTx: 1, hostRx: 1 });
    expect(rs.tx).toHaveLength(2);
    expect(rs.rx).toHaveLength(2);
    for (const [i, r] of rs.tx.entries()) {
      expect(r).toMatchObject({ index: i, isTx: true, numSlots: 8, bufSize: 2048, head: 0, cur: 0, tail: 7, tsNs: 0n });
      expect(r.tsSource).toBe('none');
      expect(r.slotOffset).toBe(img.ring('tx', i).offset + 256); // slot[] right after the 256-byte header
      expect(r.bufOffset).toBe(img.bufsOffset); // ring + buf_ofs
      expect(r.numBufs).toBe(img.poolBufs);
      expect(r.space).toBe(7); // one slot always stays empty
    }
    for (const [i, r] of rs.rx.entries()) {
      expect(r).toMatchObject({ index: i, isTx: false, numSlots: 8, head: 0, cur: 0, tail: 0, space: 0 });
      expect(r.tsSource).toBe('sync-us');
      expect(r.slotOffset).toBe(img.ring('rx', i).offset + 256);
      // RX rings get NR_TIMESTAMP so the kernel stamps ring->ts on every rxsync
      expect(r.flags & NR_TIMESTAMP).toBe(NR_TIMESTAMP);
      expect(img.get(img.ring('rx', i), 'flags') & NR_TIMESTAMP).toBe(NR_TIMESTAMP);
    }
    expect(img.get(img.ring('tx', 0), 'flags')).toBe(0);
  });

  it('orders rings as ring_ofs does: NIC tx, host tx, NIC rx, host rx', () => {
    // Distinct slot counts per table position make each ring recognizable.
    const spec = { nicTx: 2, nicRx: 2, hostTx: 1, hostRx: 1, slots: [5, 6, 7, 9, 10, 11] };
    const all = new NetmapImage({ ...spec, boundTx: [0, 1, 2], boundRx: [0, 1, 2] }); // netmap:IF*
    const a = region(all).rings();
    expect(a.tx.map((r) => [r.index, r.numSlots])).toEqual([[0, 5], [1, 6], [2, 7]]);
    expect(a.rx.map((r) => [r.index, r.numSlots])).toEqual([[0, 9], [1, 10], [2, 11]]);
    expect(a.tx.map((r) => r.slotOffset)).toEqual([0, 1, 2].map((p) => all.ring('tx', p).offset + 256));
    expect(a.rx.map((r) => r.slotOffset)).toEqual([0, 1, 2].map((p) => all.ring('rx', p).offset + 256));

    const host = new NetmapImage({ ...spec, boundTx: [2], boundRx: [2] }); // netmap:IF^
    const h = region(host).rings();
    expect(h.tx.map((r) => [r.index, r.numSlots])).toEqual([[2, 7]]);
    expect(h.rx.map((r) => [r.index, r.numSlots])).toEqual([[2, 11]]);

    const one = new NetmapImage({ ...spec, boundTx: [1], boundRx: [1] }); // netmap:IF-1
    const o = region(one).rings();
    expect(o.tx.map((r) => [r.index, r.numSlots])).toEqual([[1, 6]]);
    expect(o.rx.map((r) => [r.index, r.numSlots])).toEqual([[1, 10]]);

    const rxOnly = new NetmapImage({ ...spec, boundTx: [], boundRx: [0, 1] }); // netmap:IF/R
    const x = region(rxOnly).rings();
    expect(x.tx).toEqual([]);
    expect(x.rx.map((r) => r.index)).toEqual([0, 1]);
  });

  it('bounds buffer indices by the pool size and by the region', () => {
    const img = new NetmapImage({ nicTx: 0, nicRx: 1, boundTx: [], boundRx: [0], slots: 4, spareBufs: 3 });
    expect(region(img).rings().rx[0]!.numBufs).toBe(img.poolBufs); // all that fits the region
    expect(region(img, 1_000_000).rings().rx[0]!.numBufs).toBe(img.poolBufs); // the pool cannot exceed it
    const small = region(img, 4);
    expect(small.rings().rx[0]!.numBufs).toBe(4);

    // The kernel hands out slots 0 and 1; slot 1 names a buffer beyond the pool.
    const ring = img.ring('rx', 0);
    img.deliver(ring, 0, packet(1));
    img.setSlot(ring, 1, { bufIdx: 4, len: 60 });
    small.sync('rx', () => img.set(ring, 'tail', 2));
    expect(img.slotBufIdx(ring, 0)).toBeLessThan(4);
    expect(small.readSlot('rx', 0, 0)).toEqual(packet(1));
    expect(small.readSlot('rx', 0, 1)).toBeNull(); // refused, never read outside
    img.setSlot(ring, 1, { bufIdx: 0xffffffff });
    expect(region(img).readSlot('rx', 0, 1)).toBeNull();
  });

  it('refuses a malformed image with ERR_PORT_IO saying what is wrong', () => {
    const fresh = () => new NetmapImage({ nicTx: 1, nicRx: 1, boundTx: [0], boundRx: [0], slots: 8 });
    let img = fresh();
    expectIoError(() => new Region(img.buf, img.buf.length + 8), 'lies outside');
    expectIoError(() => new Region(img.buf, img.nifpOffset + 4), 'is not 8-byte aligned');

    img = fresh();
    img.buf.writeBigInt64LE(BigInt(img.buf.length), img.nifpOffset + 56); // ring_ofs[0]
    expectIoError(() => region(img), 'tx ring 0 lies outside the region');

    img = fresh();
    img.buf.writeUInt16LE(0, img.ring('tx', 0).offset + R.dir);
    expectIoError(() => region(img), 'tx ring 0 has direction 0');

    img = fresh();
    img.buf.writeUInt16LE(1, img.ring('rx', 0).offset + R.dir);
    expectIoError(() => region(img), 'rx ring 0 has direction 1');

    img = fresh();
    img.set(img.ring('rx', 0), 'numSlots', 1 << 19);
    expectIoError(() => region(img), 'rx ring 0: its slots do not fit the region');

    img = fresh();
    img.set(img.ring('rx', 0), 'numSlots', 1);
    expectIoError(() => region(img), 'rx ring 0 has 1 slots');

    img = fresh();
    img.buf.writeUInt32LE(0, img.ring('tx', 0).offset + R.bufSize);
    expectIoError(() => region(img), 'tx ring 0 has 0-byte buffers');

    img = fresh();
    img.buf.writeBigInt64LE(BigInt(img.buf.length), img.ring('rx', 0).offset + R.bufOfs);
    expectIoError(() => region(img), 'rx ring 0: its buffers lie outside the region');

    img = fresh();
    img.set(img.ring('rx', 0), 'tail', 8);
    expectIoError(() => region(img), 'rx ring 0 has head/cur/tail beyond its 8 slots');

    img = fresh();
    img.buf.writeUInt32LE(200_000, img.nifpOffset + 24); // ni_tx_rings
    expectIoError(() => region(img), 'netmap_if claims 200000 tx');

    img = fresh();
    img.buf.writeUInt32LE(60_000, img.nifpOffset + 28); // ni_rx_rings
    expectIoError(() => region(img), 'the ring offset table does not fit the region');
  });
});

describe('netmap ring adapters: syncs', () => {
  it('rxsync: head/cur go to the kernel, tail and the ring µs timestamp come back', () => {
    const img = new NetmapImage({ nicTx: 0, nicRx: 1, boundTx: [], boundRx: [0], slots: 8 });
    const ring = img.ring('rx', 0);
    const reg = region(img);
    let seen: number[] = [];
    const r1 = reg.sync('rx', () => {
      seen = [img.get(ring, 'head'), img.get(ring, 'cur')];
      for (let i = 0; i < 3; i++) img.deliver(ring, i, packet(i, 60 + i));
      img.set(ring, 'tail', 3);
      img.setTs(ring, 1_700_000_000, 123_456);
    });
    expect(r1).toEqual({ rc: 0, why: '' });
    expect(seen).toEqual([0, 0]);
    expect(reg.rings().rx[0]).toMatchObject({ head: 0, cur: 0, tail: 3, space: 3, tsNs: 1_700_000_000_123_456_000n });
    for (let i = 0; i < 3; i++) expect(reg.readSlot('rx', 0, i)).toEqual(packet(i, 60 + i));

    // Consume two: the kernel sees it only at the next sync.
    reg.setHead('rx', 0, 2);
    expect(img.get(ring, 'head')).toBe(0);
    const r2 = reg.sync('rx', () => {
      seen = [img.get(ring, 'head'), img.get(ring, 'cur')];
      img.deliver(ring, 3, packet(3));
      img.set(ring, 'tail', 4);
      img.setTs(ring, 1_700_000_001, 7);
    });
    expect(r2.rc).toBe(0);
    expect(seen).toEqual([2, 2]);
    expect(reg.rings().rx[0]).toMatchObject({ head: 2, tail: 4, space: 2, tsNs: 1_700_000_001_000_007_000n });

    // cur ahead of head: "wake me when tail passes cur", without releasing slots.
    reg.setHead('rx', 0, 2, 4);
    reg.sync('rx', () => {
      seen = [img.get(ring, 'head'), img.get(ring, 'cur')];
    });
    expect(seen).toEqual([2, 4]);

    // A stamp the kernel never wrote, or a malformed one, is "no time", never invented.
    img.setTs(ring, 5, 2_000_000);
    reg.sync('rx', () => undefined);
    expect(reg.rings().rx[0]!.tsNs).toBe(0n);
  });

  it('txsync: head hands slots to the kernel, tail comes back as packets complete; TX has no timestamp', () => {
    const img = new NetmapImage({ nicTx: 1, nicRx: 0, boundTx: [0], boundRx: [], slots: 8 });
    const ring = img.ring('tx', 0);
    const reg = region(img);
    // The user fills slots 0..2 in the shared buffers (the adapter reads the very same bytes).
    for (let i = 0; i < 3; i++) img.deliver(ring, i, packet(100 + i));
    for (let i = 0; i < 3; i++) expect(reg.readSlot('tx', 0, i)).toEqual(packet(100 + i));
    reg.setHead('tx', 0, 3);
    img.setTs(ring, 1_700_000_000, 1); // the kernel never stamps TX; even if something is there, we ignore it
    let pushed: number[] = [];
    const r = reg.sync('tx', () => {
      pushed = [img.get(ring, 'head'), img.get(ring, 'cur')];
      img.set(ring, 'tail', 2); // all three sent: tail = head - 1
    });
    expect(r.rc).toBe(0);
    expect(pushed).toEqual([3, 3]);
    expect(reg.rings().tx[0]).toMatchObject({ head: 3, tail: 2, space: 7, tsNs: 0n });

    // Three more, only the first completes.
    reg.setHead('tx', 0, 6);
    reg.sync('tx', () => img.set(ring, 'tail', 3));
    expect(reg.rings().tx[0]).toMatchObject({ head: 6, tail: 3, space: 5 }); // 2 still pending
  });

  it('syncs every ring of a direction together, each with its own tail and stamp', () => {
    const img = new NetmapImage({ nicTx: 0, nicRx: 3, boundTx: [], boundRx: [0, 1, 2], slots: 16 });
    const reg = region(img);
    const heads: number[] = [];
    reg.sync('rx', () => {
      for (const [p, n] of [[0, 2], [1, 0], [2, 5]] as const) {
        const ring = img.ring('rx', p);
        for (let i = 0; i < n; i++) img.deliver(ring, i, packet(p * 100 + i));
        img.set(ring, 'tail', n);
        img.setTs(ring, 1_700_000_000 + p, 0);
      }
    });
    expect(reg.rings().rx.map((r) => [r.tail, r.tsNs])).toEqual([
      [2, 1_700_000_000_000_000_000n],
      [0, 1_700_000_001_000_000_000n],
      [5, 1_700_000_002_000_000_000n],
    ]);
    expect(reg.readSlot('rx', 2, 4)).toEqual(packet(204));
    reg.setHead('rx', 0, 2);
    reg.setHead('rx', 2, 3);
    reg.sync('rx', () => {
      for (const p of [0, 1, 2]) heads.push(img.get(img.ring('rx', p), 'head'));
    });
    expect(heads).toEqual([2, 0, 3]);
  });

  it('wraps around rings whose size is not a power of two (RX and TX loops)', () => {
    const img = new NetmapImage({ nicTx: 1, nicRx: 1, boundTx: [0], boundRx: [0], slots: 7 });
    const rx = img.ring('rx', 0);
    const tx = img.ring('tx', 0);
    const reg = region(img);
    const next = (i: number) => (i + 1 === 7 ? 0 : i + 1);

    // RX: a kernel that fills what it owns ([tail, head - 1)), the user drains everything.
    let sent = 0;
    let got = 0;
    for (const burst of [3, 6, 1, 5, 6, 2, 4, 6, 6, 1]) {
      reg.sync('rx', () => {
        const head = img.get(rx, 'head');
        let tail = img.get(rx, 'tail');
        for (let k = 0; k < burst && next(tail) !== head; k++) {
          img.deliver(rx, tail, packet(sent++));
          tail = next(tail);
        }
        img.set(rx, 'tail', tail);
      });
      const r = reg.rings().rx[0]!;
      for (let i = r.head; i !== r.tail; i = next(i)) expect(reg.readSlot('rx', 0, i)).toEqual(packet(got++));
      reg.setHead('rx', 0, r.tail);
    }
    expect(got).toBe(sent);
    expect(sent).toBeGreaterThan(30);

    // TX: the user fills what is free, the kernel sends everything handed over.
    let queued = 0;
    const onWire: Buffer[] = [];
    let kernelHead = 0;
    for (const want of [6, 2, 5, 6, 3, 6]) {
      const r = reg.rings().tx[0]!;
      let h = r.head;
      for (let k = 0; k < Math.min(want, r.space); k++) {
        img.deliver(tx, h, packet(1000 + queued++));
        h = next(h);
      }
      reg.setHead('tx', 0, h);
      const res = reg.sync('tx', () => {
        const head = img.get(tx, 'head');
        for (let i = kernelHead; i !== head; i = next(i)) onWire.push(Buffer.from(img.bufferOf(tx, i)));
        kernelHead = head;
        img.set(tx, 'tail', (head + 6) % 7); // all sent: tail = head - 1
      });
      expect(res.rc).toBe(0);
    }
    expect(onWire).toEqual(Array.from({ length: queued }, (_, i) => packet(1000 + i)));
  });

  it('refuses head/cur the kernel would reject, without calling the kernel', () => {
    const img = new NetmapImage({ nicTx: 0, nicRx: 1, boundTx: [], boundRx: [0], slots: 8 });
    const ring = img.ring('rx', 0);
    const reg = region(img);
    reg.sync('rx', () => img.set(ring, 'tail', 3));
    let called = 0;
    const kernel = () => {
      called++;
    };
    const cases: Array<[number, number, string]> = [
      [5, 5, 'rx ring 0: head 5 moved past tail 3 (it was 0)'],
      [9, 9, 'rx ring 0: head 9 / cur 9 beyond its 8 slots'],
      [1, 5, 'rx ring 0: cur 5 is outside [head 1, tail 3]'],
      [1, 0, 'rx ring 0: cur 0 is outside [head 1, tail 3]'],
    ];
    for (const [head, cur, why] of cases) {
      reg.setHead('rx', 0, head, cur);
      expect(reg.sync('rx', kernel)).toEqual({ rc: -EINVAL, why });
      expect(img.get(ring, 'head')).toBe(0); // nothing reached the kernel
    }
    expect(called).toBe(0);

    // Indices only move forward: after releasing 2, going back to 1 is refused.
    reg.setHead('rx', 0, 2);
    expect(reg.sync('rx', kernel).rc).toBe(0);
    reg.setHead('rx', 0, 1);
    expect(reg.sync('rx', kernel)).toEqual({ rc: -EINVAL, why: 'rx ring 0: head 1 moved past tail 3 (it was 2)' });
    // head == tail (release everything) is fine
    reg.setHead('rx', 0, 3);
    expect(reg.sync('rx', kernel).rc).toBe(0);
    expect(called).toBe(2);
  });

  it('notices a kernel error, a ring the kernel reset, and an impossible tail', () => {
    const img = new NetmapImage({ nicTx: 1, nicRx: 0, boundTx: [0], boundRx: [], slots: 8 });
    const ring = img.ring('tx', 0);
    const reg = region(img);
    reg.setHead('tx', 0, 2);
    // The ioctl fails: its errno comes back, and whatever tail the kernel left is still read.
    expect(reg.sync('tx', () => {
      img.set(ring, 'tail', 1);
      return -EIO;
    })).toEqual({ rc: -EIO, why: '' });
    expect(reg.rings().tx[0]!.tail).toBe(1);

    reg.setHead('tx', 0, 4);
    expect(reg.sync('tx', () => {
      img.set(ring, 'head', 2); // netmap_ring_reinit(): head/cur back to what the kernel had
      img.set(ring, 'cur', 2);
    })).toEqual({ rc: -EINVAL, why: 'tx ring 0: the kernel reset the ring (head 4 became 2)' });

    img.set(ring, 'head', 4);
    expect(reg.sync('tx', () => img.set(ring, 'tail', 8))).toEqual({
      rc: -EINVAL,
      why: 'tx ring 0: the kernel reported tail 8 beyond its 8 slots',
    });
  });
});
