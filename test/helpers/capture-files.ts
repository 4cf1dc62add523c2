// What the capture-to-file tests share: small tmpfs mounts (a disk that fills up), a classic pcap
// trace of numbered UDP frames, and a block-by-block view of a pcapng file.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { PcapWriter, openSink } from '../../src/pcap/index.js';
import { have, run as runTool } from './tools.js';

export interface SmallDisk {
  dir: string;
  path: (name: string) => string;
  cleanup: () => void;
}

/** A tmpfs of `size` (mount's syntax: 1m) in a temp dir, or the reason it cannot be had. */
export function smallTmpfs(size: string): SmallDisk | string {
  if (process.getuid?.() !== 0) return 'needs root to mount a small tmpfs';
  const dir = mkdtempSync(join(tmpdir(), 'nmcap-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    return `mount -t tmpfs is not permitted here (${String((e as Error).message).split('\n')[0]})`;
  }
  return mounted(dir);
}

/** A file system mounted on `dir`; cleanup unmounts it and removes `dir` and `extra`. */
function mounted(dir: string, extra?: string): SmallDisk {
  return {
    dir,
    path: (n) => join(dir, n),
    cleanup: () => {
      try {
        execFileSync('umount', [dir], { stdio: 'pipe' });
      } finally {
        rmSync(dir, { recursive: true, force: true });
        if (extra !== undefined) rmSync(extra, { force: true });
      }
    },
  };
}

/**
 * A small ext4 file system on a loop device (O_DIRECT works there, unlike tmpfs), or the reason
 * it cannot be had.
 */
export function smallExt4(megabytes: number): SmallDisk | string {
  if (process.getuid?.() !== 0) return 'needs root to mount a loop device';
  const dir = mkdtempSync(join(tmpdir(), 'nmcap-ext4-'));
  const image = `${dir}.img`;
  try {
    execFileSync('truncate', ['-s', `${megabytes}M`, image], { stdio: 'pipe' });
    execFileSync('mkfs.ext4', ['-q', '-F', image], { stdio: 'pipe' });
    execFileSync('mount', ['-o', 'loop', image, dir], { stdio: 'pipe' });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    rmSync(image, { force: true });
    return `a loop-mounted ext4 is not available here (${String((e as Error).message).split('\n')[0]})`;
  }
  return mounted(dir, image);
}

/** A classic pcap of `count` Ethernet frames of `size` bytes, numbered in bytes 14..17. */
export async function numberedTrace(path: string, count: number, size: number): Promise<void> {
  const w = new PcapWriter(openSink(path), { linkType: 1, snapLen: 65535 });
  const d = Buffer.alloc(size, 0x5a);
  for (let i = 0; i < count; i++) {
    d.writeUInt32BE(i, 14);
    w.writePacket({ ts: 1_767_225_600_000_000_000n + BigInt(i) * 1000n, data: d });
    if (w.needsDrain) await w.ready();
  }
  await w.close();
}

export interface Block {
  type: number;
  offset: number;
  length: number;
}

/** The blocks of a little-endian pcapng file; throws if the last one is cut short. */
export function pcapngBlocks(path: string): Block[] {
  const b = readFileSync(path);
  const out: Block[] = [];
  for (let at = 0; at < b.length; ) {
    if (at + 12 > b.length) throw new Error(`${path}: block at ${at} cut short`);
    const length = b.readUInt32LE(at + 4);
    if (length < 12 || at + length > b.length || b.readUInt32LE(at + length - 4) !== length) throw new Error(`${path}: bad block at ${at}`);
    out.push({ type: b.readUInt32LE(at), offset: at, length });
    at += length;
  }
  return out;
}

/** usrDeliv (ISB option 8) of the ISB block, or undefined. */
export function isbDelivered(path: string, blk: Block): bigint | undefined {
  const b = readFileSync(path);
  for (let at = blk.offset + 20; at + 4 <= blk.offset + blk.length - 4; ) {
    const code = b.readUInt16LE(at);
    const len = b.readUInt16LE(at + 2);
    if (code === 0) break;
    if (code === 8) return b.readBigUInt64LE(at + 4);
    at += 4 + ((len + 3) & ~3);
  }
  return undefined;
}

/**
 * What capinfos and tshark say about a file: packet count, and whether either complained
 * (cut short, bad block). Undefined when the tools are not installed.
 */
export function wiresharkView(path: string): { packets: number; complaints: string } | undefined {
  if (!have('capinfos') || !have('tshark')) return undefined;
  const ci = runTool('capinfos', ['-c', '-M', path]);
  const m = /Number of packets:\s+(\d+)/.exec(ci.stdout);
  const ts = runTool('tshark', ['-r', path, '-q']);
  const complaints = [ci.status === 0 ? '' : ci.stderr, ts.status === 0 ? '' : ts.stderr, ts.stderr].filter((x) => x !== '').join('\n');
  return { packets: m === null ? -1 : Number(m[1]), complaints };
}
