// The shared-memory pipe backend through netmap's user API: ring rules, ordering, fragments,
// two processes, either side first, refusals, peer death, nothing left behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { native, WAIT_RX, WAIT_TX_PROGRESS, type NativePort } from '../../src/ports/binding.js';
import { scaled } from '../helpers/slowness.mjs';
import { cleanupAfterEach } from '../helpers/cleanup.js';

const script = new URL('./scripts/pipe-peer.mjs', import.meta.url).pathname;
let seq = 0;
const uniq = () => `t${process.pid}x${seq++}`;
const { opened, children } = cleanupAfterEach<NativePort>();

function open(name: string, opts = {}): NativePort {
  const p = new native.Port(name, opts);
  opened.push(p);
  return p;
}

function peer(args: string[]): { child: ChildProcess; ready: Promise<void>; out: Promise<string> } {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let text = '';
  let resolveReady: () => void;
  const ready = new Promise<void>((r) => (resolveReady = r));
  child.stdout!.on('data', (d: Buffer) => {
    text += d.toString();
    if (text.startsWith('open\n')) resolveReady();
  });
  const out = once(child, 'exit').then(() => text.slice('open\n'.length));
  return { child, ready, out };
}


describe('pipe port, one process holding both ends', () => {
  it('keeps one slot empty, moves tail on sync, and delivers in order', () => {
    const n = uniq();
    const m = open(`pipe:${n}{0`, { txSlots: 8 });
    const s = open(`pipe:${n}}0`);
    expect(m.info()).toMatchObject({ backend: 'pipe', txRings: 1, rxRings: 1, tsSource: 'sync-ns' });
    const tx = m.ring('tx', 0);
    expect(tx).toMatchObject({ numSlots: 8, head: 0, tail: 7, space: 7 });
    for (let i = 0; i < 7; i++) expect(m.inject(Buffer.from(`p${i}`))).toBe(true);
    expect(m.inject(Buffer.from('one too many'))).toBe(false); // one slot always stays empty
    expect(m.txPending()).toBe(7);
    s.rxsync();
    expect(s.ring('rx', 0).space).toBe(0); // nothing published before txsync
    m.txsync();
    s.rxsync();
    expect(s.ring('rx', 0)).toMatchObject({ head: 0, tail: 7, space: 7 });
    expect(s.receive(3).map((p) => p.data.toString())).toEqual(['p0', 'p1', 'p2']);
    s.rxsync(); // gives 3 slots back
    m.txsync();
    expect(m.txPending()).toBe(4);
    expect(m.ring('tx', 0).space).toBe(3);
    expect(s.receive().map((p) => p.data.toString())).toEqual(['p3', 'p4', 'p5', 'p6']);
    s.rxsync();
    m.txsync();
    expect(m.txPending()).toBe(0);
    expect(s.counters()).toEqual({ rxReceived: 7n, rxDrops: 0n, rxRingFull: null });
  });

  it('stamps each rxsync with the realtime clock', () => {
    const n = uniq();
    const m = open(`pipe:${n}{0`);
    const s = open(`pipe:${n}}0`);
    m.inject(Buffer.from('x'));
    m.txsync();
    const before = BigInt(Date.now()) * 1_000_000n;
    s.rxsync();
    const after = BigInt(Date.now() + 1) * 1_000_000n;
    const [p] = s.receive();
    expect(p.tsNs).toBeGreaterThanOrEqual(before);
    expect(p.tsNs).toBeLessThanOrEqual(after);
  });

  it('carries both directions independently', () => {
    const n = uniq();
    const m = open(`pipe:${n}{1`);
    const s = open(`pipe:${n}}1`);
    m.inject(Buffer.from('to slave'));
    s.inject(Buffer.from('to master'));
    m.txsync();
    s.txsync();
    m.rxsync();
    s.rxsync();
    expect(s.receive()[0].data.toString()).toBe('to slave');
    expect(m.receive()[0].data.toString()).toBe('to master');
  });

  it('joins NS_MOREFRAG chains into one packet, and holds an incomplete chain back', () => {
    const n = uniq();
    const m = open(`pipe:${n}{0`, { bufSize: 64 });
    const s = open(`pipe:${n}}0`);
    const a = Buffer.alloc(64, 1);
    const b = Buffer.alloc(10, 2);
    m.writeBuf('tx', 0, 0, a);
    m.setSlot('tx', 0, 0, { flags: 0x20 });
    m.setHead('tx', 0, 1);
    m.txsync();
    s.rxsync();
    expect(s.receive()).toEqual([]); // first fragment only: not a packet yet
    m.writeBuf('tx', 0, 1, b);
    m.setSlot('tx', 0, 1, { flags: 0 });
    m.setHead('tx', 0, 2);
    m.txsync();
    s.rxsync();
    const got = s.receive();
    expect(got).toHaveLength(1);
    expect(got[0].data.equals(Buffer.concat([a, b]))).toBe(true);
  });

  it('refuses a second opener of the same end, and a third party once paired', () => {
    const n = uniq();
    open(`pipe:${n}{0`);
    expect(() => open(`pipe:${n}{0`)).toThrow(expect.objectContaining({ code: 'ERR_PORT_BUSY' }));
    open(`pipe:${n}}0`);
    expect(() => open(`pipe:${n}}0`)).toThrow(expect.objectContaining({ code: 'ERR_PORT_BUSY' }));
  });

  it('reports an orderly close of the peer after what it sent was read', () => {
    const n = uniq();
    const m = open(`pipe:${n}{0`);
    const s = open(`pipe:${n}}0`);
    m.inject(Buffer.from('last words'));
    m.txsync();
    m.close();
    expect(s.wait(WAIT_RX, scaled(1000))).toBe('ready');
    expect(s.receive()[0].data.toString()).toBe('last words');
    expect(s.wait(WAIT_RX, scaled(1000))).toBe('closed');
    expect(s.end()).toMatchObject({ end: 'peer-closed', code: 'ERR_PEER_CLOSED' });
  });

  it('rejects bad names with a hint', () => {
    for (const bad of ['pipe:', 'pipe:x', 'pipe:{0', 'pipe:x{', 'pipe:a b{0', `pipe:${'n'.repeat(65)}{0`]) {
      expect(() => open(bad)).toThrow(expect.objectContaining({ code: 'ERR_PORT_BAD_NAME', message: expect.stringMatching(/pipe:NAME\{N/) }));
    }
  });
});

describe('pipe port across processes', () => {
  it('delivers everything in order whichever side starts first', async () => {
    for (const receiverFirst of [true, false]) {
      const n = uniq();
      const count = 20000; // several ring wraps: the sender must wait for the receiver
      if (receiverFirst) {
        const r = peer([`pipe:${n}}0`, 'recv', String(count)]);
        await r.ready;
        const s = peer([`pipe:${n}{0`, 'send', String(count)]);
        const got = JSON.parse(await r.out) as string[];
        await s.out;
        expect(s.child.exitCode).toBe(0);
        expect(got.length).toBe(count);
        expect(got.every((v, i) => v === `pkt-${i}`)).toBe(true);
      } else {
        const s = peer([`pipe:${n}{0`, 'send', String(count)]);
        await s.ready;
        const r = peer([`pipe:${n}}0`, 'recv', String(count)]);
        const got = JSON.parse(await r.out) as string[];
        await s.out;
        expect(s.child.exitCode).toBe(0);
        expect(got.length).toBe(count);
        expect(got.every((v, i) => v === `pkt-${i}`)).toBe(true);
      }
    }
  });

  it('notices a peer that was killed, and says so', async () => {
    const n = uniq();
    const h = peer([`pipe:${n}{0`, 'hold']);
    await h.ready;
    const s = open(`pipe:${n}}0`);
    h.child.kill('SIGKILL');
    await h.out;
    expect(() => s.wait(WAIT_RX, scaled(3000))).toThrow(expect.objectContaining({ code: 'ERR_PEER_DIED', message: expect.stringMatching(/went away/) }));
    // and from the sending side: pending packets can never be consumed
    const n2 = uniq();
    const h2 = peer([`pipe:${n2}}0`, 'hold']);
    await h2.ready;
    const m = open(`pipe:${n2}{0`);
    m.inject(Buffer.from('x'));
    m.txsync();
    h2.child.kill('SIGKILL');
    await h2.out;
    expect(() => m.wait(WAIT_TX_PROGRESS, scaled(3000))).toThrow(expect.objectContaining({ code: 'ERR_PEER_DIED' }));
  });

  it('leaves no shared memory and no rendezvous socket behind', async () => {
    const n = uniq();
    const shmBefore = readdirSync('/dev/shm').sort();
    const r = peer([`pipe:${n}}0`, 'recv', '10']);
    await r.ready;
    const s = peer([`pipe:${n}{0`, 'send', '10']);
    await Promise.all([r.out, s.out]);
    expect(readdirSync('/dev/shm').sort()).toEqual(shmBefore);
    expect(readFileSync('/proc/net/unix', 'utf8')).not.toContain(`nmcap/pipe/${n}/`);
  });
});
