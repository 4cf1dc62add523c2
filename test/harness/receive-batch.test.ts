// Port.receiveBatch(), the harness's receive path, against receive() over real pipes: the same
// packets, bytes, lengths, wire lengths, rings and timestamps, with NS_MOREFRAG chains (frames
// larger than a slot), a held-back incomplete chain, a max, and the untrusted-peer fault rule.
import { spawn, type ChildProcess } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { native, WAIT_RX, type NativePort, type ReceivedBatch, type ReceivedPacket } from '../../src/ports/binding.js';
import { HarnessSession } from '../../src/harness/index.js';
import { scaled } from '../helpers/slowness.mjs';
import { cleanupAfterEach } from '../helpers/cleanup.js';

const corruptScript = new URL('../ports/scripts/pipe-corrupt.mjs', import.meta.url).pathname;
let seq = 0;
const uniq = () => `rb${process.pid}x${seq++}`;
const { opened, children } = cleanupAfterEach();


function open(name: string, opts = {}): NativePort {
  const p = new native.Port(name, opts);
  opened.push(p);
  return p;
}

// Sizes around the 256-byte slot (one slot, exactly full, one byte over) up to frames of many slots.
const SIZES = [60, 1, 255, 256, 257, 1514, 4000, 9018, 64, 16_000, 128];
const trace = SIZES.map((n, k) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + k * 31) & 0xff)));

function pipePair(): { tx: NativePort; rx: NativePort } {
  const n = uniq();
  const tx = open(`pipe:${n}{0`, { bufSize: 256, txSlots: 512, rxSlots: 512 });
  const rx = open(`pipe:${n}}0`);
  return { tx, rx };
}

function sendAll(tx: NativePort, rx: NativePort): bigint {
  for (const p of trace) expect(tx.inject(p)).toBe(true);
  tx.txsync();
  rx.rxsync();
  return rx.ring('rx', 0).tsNs;
}

const packetsOf = (b: ReceivedBatch): ReceivedPacket[] =>
  Array.from({ length: b.count }, (_, i) => ({
    ring: b.ring[i]!,
    data: b.data.subarray(b.offset[i]!, b.offset[i]! + b.length[i]!),
    tsNs: b.tsNs[i]!,
    wireLen: b.wireLen[i]!,
  }));

describe('Port.receiveBatch over a pipe', () => {
  it('gives what receive() gives for the same trace: bytes, lengths, rings, timestamps, fragments joined', () => {
    const { tx, rx } = pipePair();
    const ts1 = sendAll(tx, rx);
    const one = rx.receive();
    const ts2 = sendAll(tx, rx);
    const batch = rx.receiveBatch();

    expect(one).toHaveLength(trace.length);
    expect(batch.count).toBe(trace.length);
    for (const a of [batch.offset, batch.length, batch.wireLen, batch.ring, batch.tsNs]) expect(a.length).toBe(trace.length);
    // The bytes are back to back in one Buffer, in arrival order.
    expect(batch.data.equals(Buffer.concat(trace))).toBe(true);
    const many = packetsOf(batch);
    for (let i = 0; i < trace.length; i++) {
      expect(many[i]!.data.equals(trace[i]!)).toBe(true);
      expect(one[i]!.data.equals(trace[i]!)).toBe(true);
      expect({ ...many[i]!, data: null, tsNs: null }).toEqual({ ...one[i]!, data: null, tsNs: null });
      // A pipe stamps each rxsync: every packet carries the time of the sync that brought it.
      expect(one[i]!.tsNs).toBe(ts1);
      expect(many[i]!.tsNs).toBe(ts2);
      expect(many[i]!.wireLen).toBe(SIZES[i]);
    }
    expect(ts1).toBeGreaterThan(0n);
    // Everything was taken and released.
    rx.rxsync();
    expect(rx.receiveBatch().count).toBe(0);
    expect(rx.receive()).toEqual([]);
  });

  it('takes at most max packets and leaves the rest in the ring', () => {
    const { tx, rx } = pipePair();
    sendAll(tx, rx);
    const first = rx.receiveBatch(3);
    expect(first.count).toBe(3);
    const rest = rx.receiveBatch();
    expect(rest.count).toBe(trace.length - 3);
    expect(Buffer.concat([first.data, rest.data]).equals(Buffer.concat(trace))).toBe(true);
    expect(rest.offset[0]).toBe(0);
  });

  it('holds an incomplete NS_MOREFRAG chain back until its last slot arrives', () => {
    const { tx, rx } = pipePair();
    const a = Buffer.alloc(256, 1);
    const b = Buffer.alloc(10, 2);
    const publish = (slot: number, data: Buffer, flags: number): void => {
      tx.writeBuf('tx', 0, slot, data);
      tx.setSlot('tx', 0, slot, { flags });
      tx.setHead('tx', 0, slot + 1);
      tx.txsync();
      rx.rxsync();
    };
    publish(0, a, 0x20); // NS_MOREFRAG: more of this packet follows
    const none = rx.receiveBatch();
    expect(none.count).toBe(0);
    expect(none.data.length).toBe(0);
    publish(1, b, 0);
    const got = rx.receiveBatch();
    expect(got.count).toBe(1);
    expect(got.length[0]).toBe(266);
    expect(got.data.equals(Buffer.concat([a, b]))).toBe(true);
  });

  it('delivers what came before a bad slot of an untrusted peer, then ends the port', async () => {
    const name = uniq();
    const rx = open(`pipe:${name}}0`);
    const child = spawn(process.execPath, [corruptScript, `pipe:${name}{0`, 'rx-len'], { stdio: ['pipe', 'pipe', 'pipe'] });
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('done\n')) resolve();
      });
      child.on('exit', (code) => reject(new Error(`pipe-corrupt.mjs exited (${code})`)));
    });
    expect(rx.wait(WAIT_RX, scaled(5000))).toBe('ready');
    const good = rx.receiveBatch();
    expect(good.count).toBe(1);
    expect(good.data.toString()).toBe('good');
    const protocol = expect.objectContaining({ code: 'ERR_PORT_PROTOCOL', message: expect.stringMatching(/says len 60000/) });
    expect(() => rx.receiveBatch()).toThrow(protocol);
    expect(rx.end()).toMatchObject({ end: 'error', code: 'ERR_PORT_PROTOCOL' });
  });
});

describe('the harness receives in batches', () => {
  it('captures every packet of a mixed trace with its bytes and the sync time', async () => {
    const n = uniq();
    const h = HarnessSession.open({ a: `pipe:${n}{0`, b: `pipe:${n}}0` }, { portOptions: { bufSize: 256 } });
    opened.push(h);
    await h.send('a', trace, { via: 'js' });
    await h.settle();
    const got = h.captures().b!;
    expect(got.map((p) => Buffer.from(p.data))).toEqual(trace);
    for (const p of got) expect(typeof p.ts).toBe('bigint');
  });

  it('keeps arrival order and the capture limit when captures() is asked between sends', async () => {
    const n = uniq();
    const h = HarnessSession.open({ a: `pipe:${n}{0`, b: `pipe:${n}}0` }, { portOptions: { bufSize: 256 }, captureLimit: trace.length + 3 });
    opened.push(h);
    await h.send('a', trace, { via: 'js' });
    await h.settle();
    expect(h.captures().b).toHaveLength(trace.length);
    await h.send('a', trace, { via: 'js' });
    await h.settle();
    const got = h.captures().b!;
    expect(got.map((p) => Buffer.from(p.data))).toEqual([...trace, ...trace.slice(0, 3)]);
    expect(h.losses()).toEqual([expect.objectContaining({ port: 'b', overflow: trace.length - 3 })]);
  });
});
