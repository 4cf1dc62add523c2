// A stop (Ctrl-C, SIGTERM, stop()) keeps what had already arrived: the capture loop does
// rxsync and a pass over its rings before it ends, repeated while passes find packets
// (native/loops/capture_loop.cc stopped()), so packets that reached the rings before the stop are written, not left unread
// (through VALE they would otherwise count as lost in the switch). No assertion here races:
// - the capture thread is told to stop before it starts, with N packets already in its ring, so
//   the only pass it ever makes over the ring is the final one (without it: 0 captured);
// - nmcap, frozen (SIGSTOP) while N packets are put into its pipe, is stopped before it runs again:
//   whichever it meets first once it runs (the packets or the stop), the file holds the N,
//   received N, unread 0. (This one cannot force the stop to come first: the first test does.)
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';

import { native, type CaptureBatchEvent, type CaptureEndEvent } from '../../src/ports/binding.js';
import { readPacketsSync } from '../../src/pcap/index.js';
import { pcapngBlocks } from '../helpers/capture-files.js';
import { pipeName, start, tempDir } from '../helpers/cli.js';
import { cleanupAfterEach } from '../helpers/cleanup.js';

const N = 100; // below the pipe ring's size, so all N fit without a reader taking any
const EPB = 6;
const tmp = tempDir();
afterAll(() => tmp.cleanup());
const { opened, children } = cleanupAfterEach();

/** A 60-byte frame numbered k in bytes 14..17. */
function frame(k: number): Buffer {
  const b = Buffer.alloc(60, 0x5a);
  b.writeUInt32BE(k, 14);
  return b;
}

describe('a stop keeps what had already arrived', () => {
  it('the capture thread, stopped before its first wait, still takes the N packets in its ring', async () => {
    const name = pipeName('sk');
    const tx = new native.Port(`pipe:${name}{0`, {});
    opened.push(tx);
    const rx = new native.Port(`pipe:${name}}0`, {});
    opened.push(rx);
    for (let k = 0; k < N; k++) expect(tx.inject(frame(k))).toBe(true);
    tx.txsync(); // published in the shared ring; the capture has not rxsync'd them

    const buffers: Buffer[] = [];
    const numbers: number[] = [];
    const end = await new Promise<CaptureEndEvent>((resolve) => {
      const session = new native.CaptureSession(rx, { snaplen: 65535, ifaces: [0], tsDivisors: [1] }, ((kind: 'batch' | 'end', ev: CaptureBatchEvent | CaptureEndEvent) => {
        if (kind === 'end') return resolve(ev as CaptureEndEvent);
        const b = ev as CaptureBatchEvent;
        const bytes = buffers[b.id]!.subarray(0, b.bytes);
        for (let at = 0; at < bytes.length; at += bytes.readUInt32LE(at + 4)) {
          expect(bytes.readUInt32LE(at)).toBe(EPB);
          numbers.push(bytes.readUInt32BE(at + 28 + 14)); // EPB header is 28 bytes, then the frame
        }
        session.recycle(b.id);
      }) as never);
      for (let i = 0; i < 2; i++) {
        const b = Buffer.alloc(1 << 20);
        buffers.push(b);
        session.supply(b);
      }
      session.stop(); // before start(): the loop's first look is at the stop, not at the ring
      session.start();
    });
    expect(end.reason).toBe('stopped');
    expect(end.packets).toBe(N);
    expect(end.taken).toBe(N);
    expect(end.rxReceived).toBe(BigInt(N));
    expect(end.rxUnread).toBe(0n);
    expect(numbers).toEqual(Array.from({ length: N }, (_, k) => k));
  });

  it('nmcap frozen while N packets reach its pipe, then SIGINT: the file holds exactly N, received N, unread 0', async () => {
    const name = pipeName('sf');
    const out = tmp.path(`${name}.pcapng`);
    const cap = start('nmcap', ['-i', `pipe:${name}}0`, '-w', out, '--json']);
    children.push(cap.child);
    await cap.waitFor(/^listening on/);
    const tx = new native.Port(`pipe:${name}{0`, {}); // the handshake needs nmcap running
    opened.push(tx);
    cap.child.kill('SIGSTOP');
    try {
      for (let k = 0; k < N; k++) expect(tx.inject(frame(k))).toBe(true);
      tx.txsync(); // all N are in nmcap's ring now, and it is frozen
      cap.child.kill('SIGINT'); // delivered once it runs again
    } finally {
      cap.child.kill('SIGCONT');
    }
    const c = await cap.done;
    expect(c.code, c.stderr).toBe(0);
    expect(JSON.parse(c.stdout)).toMatchObject({ captured: N, received: N, unread: 0, dropped: 0 });
    expect(pcapngBlocks(out).filter((b) => b.type === EPB)).toHaveLength(N);
    expect(readPacketsSync(readFileSync(out)).map((p) => Buffer.from(p.data).readUInt32BE(14))).toEqual(Array.from({ length: N }, (_, k) => k));
    // and the sender sees every slot come back: nothing pending
    tx.txsync();
    expect(tx.txPending()).toBe(0);
  });
});
