// A pipe peer is untrusted: the slot arrays and ring indices of a pipe live in memory the other
// process can write. A peer that writes what no correct peer writes (scripts/pipe-corrupt.mjs
// scribbles into the shared memory directly) ends the port with ERR_PORT_PROTOCOL and a message
// naming the bad value, through the Port API and through the capture and replay loops; nothing
// is read or written outside the mapping, and the process carries on.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Capture } from '../../src/capture/capture.js';
import { readPacketsSync } from '../../src/pcap/index.js';
import { native, WAIT_RX, type NativePort } from '../../src/ports/binding.js';
import { replay } from '../../src/replay/replay.js';
import { scaled } from '../helpers/slowness.mjs';
import { cleanupAfterEach } from '../helpers/cleanup.js';

const script = new URL('./scripts/pipe-corrupt.mjs', import.meta.url).pathname;
const demo = new URL('../fixtures/demo.pcapng', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'nmcap-untrusted-'));
let seq = 0;
const uniq = () => `u${process.pid}x${seq++}`;
const { opened, children } = cleanupAfterEach<NativePort>();

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function open(name: string, opts = {}): NativePort {
  const p = new native.Port(name, opts);
  opened.push(p);
  return p;
}

/** Starts the hostile peer on `name`; resolves once it has done its damage. */
function corrupt(name: string, mode: string): Promise<void> {
  const child = spawn(process.execPath, [script, name, mode], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('done\n')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`pipe-corrupt.mjs ${mode} exited (${code}): ${err}`)));
  });
}

const protocolError = (message: RegExp) => expect.objectContaining({ code: 'ERR_PORT_PROTOCOL', message: expect.stringMatching(message) });

describe('a corrupting pipe peer, through the Port API', () => {
  it.each([
    ['rx-bufidx', /rx ring 0 slot \d+ names buffer 4294967280, beyond the ring's 8192 buffers/],
    ['rx-len', /rx ring 0 slot \d+ says len 60000, over the 2048-byte buffer/],
    ['rx-indirect', /rx ring 0 slot \d+ is marked NS_INDIRECT, which a ring shared with another process cannot carry/],
  ])('%s: the good packet arrives, the bad slot ends the port', async (mode, message) => {
    const name = uniq();
    const s = open(`pipe:${name}}0`);
    await corrupt(`pipe:${name}{0`, mode);
    expect(s.wait(WAIT_RX, scaled(5000))).toBe('ready');
    // What came before the bad slot is delivered; the bad slot is never read.
    expect(s.receive().map((p) => p.data.toString())).toEqual(['good']);
    expect(() => s.receive()).toThrow(protocolError(message));
    expect(s.end()).toMatchObject({ end: 'error', code: 'ERR_PORT_PROTOCOL', message: expect.stringMatching(message) });
    expect(() => s.rxsync()).toThrow(protocolError(message)); // ended for good
    expect(() => s.readBuf('rx', 0, s.ring('rx', 0).head)).toThrow(protocolError(message));
  });

  it('a producer index beyond the ring ends the port at the next rxsync', async () => {
    const name = uniq();
    const s = open(`pipe:${name}}0`);
    await corrupt(`pipe:${name}{0`, 'rx-prod');
    expect(() => s.wait(WAIT_RX, scaled(5000))).toThrow(protocolError(/moved its producer index to 99999: tail 99999 beyond its 4096 slots/));
    expect(s.ring('rx', 0)).toMatchObject({ head: 0, tail: 0 }); // the bad tail was never taken
  });

  it('TX slots naming no buffer: inject refuses them, nothing is written', async () => {
    const name = uniq();
    const m = open(`pipe:${name}{0`);
    await corrupt(`pipe:${name}}0`, 'tx-bufidx');
    const tooFar = /tx ring 0 slot 0 names buffer 4294967280, beyond the ring's 8192 buffers/;
    expect(() => m.inject(Buffer.from('x'))).toThrow(protocolError(tooFar));
    expect(m.ring('tx', 0).head).toBe(0); // nothing handed over
    expect(() => m.writeBuf('tx', 0, 1, Buffer.from('y'))).toThrow(protocolError(tooFar));
    expect(() => m.txsync()).toThrow(protocolError(tooFar));
  });

  it('a consumer index beyond the ring ends the sender at the next txsync', async () => {
    const name = uniq();
    const m = open(`pipe:${name}{0`);
    await corrupt(`pipe:${name}}0`, 'tx-cons');
    expect(m.inject(Buffer.from('x'))).toBe(true);
    expect(() => m.txsync()).toThrow(protocolError(/moved its consumer index to 99999: tail 99999 beyond its 4096 slots/));
    expect(m.end().code).toBe('ERR_PORT_PROTOCOL');
  });
});

describe('a corrupting pipe peer, through the capture and replay loops', () => {
  // 60-byte frames at topspeed: the first packet goes through the loop's general path (tx_put),
  // the ones after it as runs (put_run); each path meets the bad slot once.
  it.each([
    ['the first bad TX slot', 'tx-bufidx', 0],
    ['a bad TX slot inside a run of packets', 'tx-bufidx-5', 5],
  ])('replay: %s ends the run with ERR_PORT_PROTOCOL naming it, after the good slots', async (_what, mode, slot) => {
    const name = uniq();
    await corrupt(`pipe:${name}}0`, mode);
    const r = await replay({ port: `pipe:${name}{0`, files: [demo], topspeed: true });
    expect(r.reason).toBe('error');
    expect(r.error).toMatchObject({ code: 'ERR_PORT_PROTOCOL', message: expect.stringMatching(new RegExp(`tx ring 0 slot ${slot} names buffer 4294967280`)) });
    expect(r.queued).toBe(slot);
    expect(r.packets).toBe(0);
  });

  it('capture: packets before the bad slot are kept in a valid file, then ERR_PORT_PROTOCOL', async () => {
    const name = uniq();
    const out = join(dir, `${name}.pcapng`);
    let attacked: Promise<void> | undefined;
    const res = await new Capture({
      port: `pipe:${name}}0`,
      output: out,
      onListening: () => {
        attacked = corrupt(`pipe:${name}{0`, 'rx-len');
      },
    }).run();
    await attacked;
    expect(res.reason).toBe('error');
    expect(res.error).toMatchObject({ code: 'ERR_PORT_PROTOCOL', message: expect.stringMatching(/says len 60000, over the 2048-byte buffer/) });
    expect(res.captured).toBe(1);
    const pkts = readPacketsSync(readFileSync(out));
    expect(pkts.map((p) => Buffer.from(p.data).toString())).toEqual(['good']);
  });
});

describe("the ring model's sync prologue, on a pipe", () => {
  it('refuses a head moved past tail, or a cur outside [head, tail], with ERR_PORT_PROTOCOL', () => {
    const name = uniq();
    const m = open(`pipe:${name}{0`, { txSlots: 8 });
    const s = open(`pipe:${name}}0`);
    m.inject(Buffer.from('a'));
    m.txsync();
    s.rxsync();
    expect(s.ring('rx', 0)).toMatchObject({ head: 0, tail: 1 });
    s.setHead('rx', 0, 3); // past tail 1: slots the backend still owns
    expect(() => s.rxsync()).toThrow(protocolError(/rxsync: rx ring 0: head 3 moved past tail 1 \(it was 0\)/));
    expect(m.ring('tx', 0)).toMatchObject({ head: 1, tail: 7 });
    m.setHead('tx', 0, 1, 0); // cur behind head
    expect(() => m.txsync()).toThrow(protocolError(/txsync: tx ring 0: cur 0 is outside \[head 1, tail 7\]/));
  });
});

describe('a hostile first end, at the handshake', () => {
  // A first end that answers the handshake as ours does, but hands over two pipe fds where the
  // wake-up eventfds belong: we would write into and sleep on them. The joining end refuses.
  const fakeFirstEnd = String.raw`
import os, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.bind(b"\0nmcap/pipe/" + sys.argv[1].encode() + b"/0")
s.listen(1)
print("ready", flush=True)
c, _ = s.accept()
magic, version, role = struct.unpack("<IIB", c.recv(64)[:9])
mem = os.memfd_create("fake")
os.ftruncate(mem, 1 << 20)
r, w = os.pipe()
socket.send_fds(c, [struct.pack("<IIB3xi", magic, version, 0, os.getpid())], [mem, r, w])
c.recv(64)
`;

  it('wake-up fds that are not eventfds: a clear error, nothing mapped', async () => {
    const name = uniq();
    const child = spawn('python3', ['-c', fakeFirstEnd, name], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
      child.on('exit', (code) => reject(new Error(`the fake first end exited (${code})`)));
    });
    expect(() => open(`pipe:${name}}0`)).toThrow(/the other end sent a wake-up fd that is not an eventfd/);
  });
});
