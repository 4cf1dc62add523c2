// Shared by the af_packet tests: test frames, the child-process protocol of
// scripts/af_packet-peer.mjs, and pcap files (through src/pcap) to talk to tcpdump and tcpreplay.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { encodePcapHeader, encodePcapRecord, readBatchesSync } from '../../src/pcap/index.js';
import type { VethBed } from '../helpers/netns.js';
import { scaled } from '../helpers/slowness.mjs';

export const PEER = join(dirname(fileURLToPath(import.meta.url)), 'scripts', 'af_packet-peer.mjs');

/** An Ethernet frame of `len` bytes: unicast dst, src 02:00:00:00:00:<sender>, ethertype 0x88b5
 * (local experimental), a sequence number and a pattern that differs per frame. */
export function makeFrame(seq: number, len: number, sender = 1, ethertype = 0x88b5): Buffer {
  const f = Buffer.alloc(len);
  Buffer.from([0x02, 0, 0, 0, 0, 0xbb, 0x02, 0, 0, 0, 0, sender]).copy(f, 0);
  if (len >= 14) f.writeUInt16BE(ethertype, 12);
  if (len >= 18) f.writeUInt32BE(seq >>> 0, 14);
  for (let j = 18; j < len; j++) f[j] = (seq * 31 + j * 7) & 0xff;
  return f;
}

/** Sizes from 60 to 1514 bytes, the two ends first, the rest spread by a fixed LCG. */
export function frameSizes(n: number): number[] {
  const sizes = [60, 1514, 61, 64, 65, 127, 128, 256, 511, 512, 1000, 1023, 1024, 1500, 1513, 1514];
  let x = 12345;
  while (sizes.length < n) {
    x = (x * 1103515245 + 12345) >>> 0;
    sizes.push(60 + (x % (1514 - 60 + 1)));
  }
  return sizes.slice(0, n);
}

export class TempDir {
  readonly path = mkdtempSync(join(tmpdir(), 'nmcap-afp-'));
  file(name: string): string {
    return join(this.path, name);
  }
  remove(): void {
    rmSync(this.path, { recursive: true, force: true });
  }
}

/** The FRAMES file format of af_packet-peer.mjs: u32 LE length, then the bytes. */
export function writeFrames(file: string, frames: Buffer[]): void {
  const parts: Buffer[] = [];
  for (const f of frames) {
    const h = Buffer.alloc(4);
    h.writeUInt32LE(f.length);
    parts.push(h, f);
  }
  writeFileSync(file, Buffer.concat(parts));
}

/** Classic pcap, microsecond, LINKTYPE_ETHERNET, through src/pcap's encoders. */
export function writePcap(file: string, frames: Buffer[]): void {
  const records = frames.map((f, i) => encodePcapRecord(1700000000, i, f));
  writeFileSync(file, Buffer.concat([encodePcapHeader({ linkType: 1, snapLen: 65535 }), ...records]));
}

export interface PcapRecord {
  data: Buffer;
  origLen: number;
}

/** Reads a capture file with src/pcap's reader. */
export function readPcap(file: string): { linkType: number; records: PcapRecord[] } {
  let linkType = -1;
  const records: PcapRecord[] = [];
  for (const b of readBatchesSync(readFileSync(file))) {
    if (linkType < 0 && b.section.interfaces[0]) linkType = b.section.interfaces[0].linkType;
    for (let i = 0; i < b.count; i++) records.push({ data: Buffer.from(b.data(i)), origLen: b.origLen[i]! });
  }
  return { linkType, records };
}

/** A child started with bed.spawn, read as JSON lines. */
export class Peer {
  private buf = '';
  private lines: unknown[] = [];
  private waiters: (() => void)[] = [];
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(readonly child: ChildProcess) {
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      this.buf += d;
      let nl;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        if (line.trim()) this.lines.push(JSON.parse(line));
      }
      this.wake();
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      this.stderr += d;
      this.wake();
    });
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.wake();
        resolve({ code, signal });
      });
    });
  }

  static start(bed: VethBed, args: string[], prefix: string[] = []): Peer {
    const cmd = prefix.length ? prefix[0] : process.execPath;
    const rest = prefix.length ? [...prefix.slice(1), process.execPath, PEER, ...args] : [PEER, ...args];
    return new Peer(bed.spawn(cmd, rest, { stdio: ['pipe', 'pipe', 'pipe'] }));
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** The next JSON line (waiting for it), or an error naming stderr if the child exits first or
   * after timeoutMs (a safety net, scaled to this host). */
  async next<T = Record<string, unknown>>(timeoutMs = 15000): Promise<T> {
    const deadline = Date.now() + scaled(timeoutMs);
    for (;;) {
      if (this.lines.length) return this.lines.shift() as T;
      if (this.child.exitCode !== null || this.child.signalCode !== null || Date.now() > deadline) {
        throw new Error(`peer gave no result (exit ${this.child.exitCode ?? this.child.signalCode}): ${this.stderr.trim()}`);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  send(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }
}

/** Run the peer script to completion and return its last JSON line. */
export async function runPeer<T = Record<string, unknown>>(bed: VethBed, args: string[], prefix: string[] = []): Promise<T> {
  const p = Peer.start(bed, args, prefix);
  const r = await p.next<T>(30000);
  const { code } = await p.exited;
  if (code !== 0) throw new Error(`peer exited with ${code}: ${p.stderr.trim()}`);
  return r;
}

export interface PacketJson {
  ring: number;
  data: string;
  wireLen: number;
  tsNs: string;
}

export function decode(p: PacketJson): Buffer {
  return Buffer.from(p.data, 'base64');
}
