// The files a live capture writes: one file, or a series rotated as dumpcap's -b does it, with the
// -a filesize/files stop conditions. The native capture thread hands over buffers of whole EPBs;
// where a rule falls inside a buffer it is cut at that EPB's boundary, so every packet lands in
// exactly one file and none is lost between files. Every file is complete on its own: SHB, the
// same IDBs, its packets and an ISB.
//
// Rotated files are written under a hidden temporary name (.NAME.part in the same directory) and
// renamed to dumpcap's name (out_00001_20261201120117.pcapng) once complete, so a file with the
// final name is never one still being written. A single -w file without -b keeps its name from
// the start, as tcpdump and dumpcap do.
import { closeSync, existsSync, fstatSync, ftruncateSync, openSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import type { Writable } from 'node:stream';

import { OptionError, type OutputError } from '../errors.js';
import { openAppendSink, openSink, type ByteSink, type PcapngWriter, type SinkFailure } from '../pcap/index.js';
import { native } from '../ports/binding.js';

/** -b: when to start a new file (any rule that fires first), and how many to keep. */
export interface RotationPlan {
  /** bytes (dumpcap's kB are 1000 bytes) */
  filesize?: number;
  /** seconds since the file was started */
  duration?: number;
  /** seconds, files end at multiples of it on the wall clock */
  interval?: number;
  packets?: number;
  /** ring buffer: keep only the newest N files */
  files?: number;
  /** after each file is complete, write its name to this file ("stdout", "stderr") */
  printname?: string;
}

/** -a conditions that concern files (the others are the capture loop's). */
export interface FileStopPlan {
  /** stop once the file (the current one, with -b) would grow past this many bytes */
  filesize?: number;
  /** stop after this many files */
  files?: number;
}

/** What the caller puts at the start (SHB, IDBs) and end (ISBs) of every file. */
export interface FileLayout {
  /** Writes SHB and IDBs through a new writer over `sink`. */
  begin(sink: ByteSink): PcapngWriter;
  /** Writes the ISBs of a file about to be closed; `last` is the capture's last file. */
  end(writer: PcapngWriter, file: FileStats, last: boolean): void;
}

export interface FileStats {
  name: string;
  packets: number;
  /** packets in this file by source (see CaptureFilesOptions.sources): what each port delivered
   *  to it; null after a failed write (the packets lost at the end are not known by source) */
  perSource: number[] | null;
  /** first and last packet timestamps, ns since the epoch (null: no packet) */
  firstTsNs: bigint | null;
  lastTsNs: bigint | null;
}

export interface CaptureFilesOptions {
  /** a path, an fd, or a Writable; rotation needs a path */
  output: string | number | Writable;
  rotation?: RotationPlan;
  stop?: FileStopPlan;
  layout: FileLayout;
  /** ns per timestamp unit of each interface (EPB timestamps are in its if_tsresol) */
  tsDivisors: number[];
  /** the source (a port) of each interface, for FileStats.perSource; default: each its own */
  sources?: number[];
  /** a stop condition is met: end the capture (what follows in the buffer is not written) */
  onStop: (why: 'filesize' | 'files') => void;
  /** auto (default): O_DIRECT where the file system supports it; direct: insist; buffered: never */
  writeMode?: WriteModeChoice;
  /** O_DIRECT chunk size in bytes (64 KiB .. 1 MiB; default 1 MiB) */
  directChunk?: number;
  /** now, in ms since the epoch (tests and interval alignment) */
  now?: () => number;
}

export type WriteModeChoice = 'auto' | 'direct' | 'buffered';

/** What the capture thread knows about a buffer it filled (CaptureFiles.write). */
export interface WholeBuffer {
  /** EPBs in it */
  packets: number;
  /** where the last one starts (its stamp, as written, is the file's last) */
  lastAt: number;
  /** the source (CaptureFilesOptions.sources) of all of them */
  source: number;
}

/** How files are written, and why: reported on stderr and in --json. */
export interface WriteMode {
  mode: 'direct' | 'buffered' | 'stream';
  /** direct: the chunk size; buffered: why not direct */
  detail: string;
}

export interface CaptureFilesResult {
  /** packets in the files, as they are on disk */
  written: number;
  /** packets handed over after a stop condition was met (not written, as -c leaves the rest) */
  discarded: number;
  /** complete files, in order (the ring buffer's survivors only) */
  files: string[];
  /** bytes in all files written (deleted ring-buffer files included) */
  bytes: number;
  /** the first failed write, if one happened */
  failure?: SinkFailure;
}

const EPB = 6;

type CutReason = 'size' | 'packets' | 'time';

/** How long after a file's deadline a quiet link's file is closed anyway. */
const QUIET_MARGIN_MS = 1000;

interface OpenFile {
  name: string;
  /** where it is written until complete (same as name without rotation) */
  path: string | undefined;
  fd: number | undefined;
  sink: ByteSink;
  writer: PcapngWriter;
  packets: number;
  perSource: number[] | null;
  firstTsNs: bigint | null;
  lastTsNs: bigint | null;
  startedMs: number;
  /** wall-clock end of its interval (ms), or of its duration */
  deadlineMs: number;
}

/** dumpcap's name of file `n` (from 1) started at `ms`: out_00001_20261201120117.pcapng. */
export function rotatedName(base: string, n: number, ms: number): string {
  const d = new Date(ms);
  const p2 = (x: number): string => String(x).padStart(2, '0');
  const stamp = `${d.getFullYear()}${p2(d.getMonth() + 1)}${p2(d.getDate())}${p2(d.getHours())}${p2(d.getMinutes())}${p2(d.getSeconds())}`;
  const ext = extname(base);
  const stem = ext === '' ? base : base.slice(0, -ext.length);
  return `${stem}_${String(n).padStart(5, '0')}_${stamp}${ext}`;
}

function tempPath(name: string): string {
  return join(dirname(name), `.${basename(name)}.part`);
}

export class CaptureFiles {
  private current: OpenFile | undefined;
  private readonly rotating: boolean;
  private fileNo = 0;
  private readonly kept: string[] = [];
  /** Files being finished, each after the one before it (see finishInOrder). */
  private readonly closing: Promise<void>[] = [];
  private written = 0;
  private discarded = 0;
  private bytesDone = 0;
  private stopped = false;
  private failure: SinkFailure | undefined;
  private readonly now: () => number;
  private quietTimer: NodeJS.Timeout | undefined;
  /** How the first file was written (set when it is opened). */
  mode: WriteMode = { mode: 'buffered', detail: '' };

  constructor(private readonly o: CaptureFilesOptions) {
    const r = o.rotation;
    this.rotating = r !== undefined && (r.filesize ?? r.duration ?? r.interval ?? r.packets) !== undefined;
    if (this.rotating && typeof o.output !== 'string') throw new OptionError('ERR_OPTION_TYPE', 'rotation (-b) needs a file name for -w');
    this.now = o.now ?? Date.now;
    this.current = this.open();
  }

  /** The file to keep allocated ahead of the writer, when there is one and only one. */
  preallocatable(): { fd: number; from: number } | undefined {
    const f = this.current;
    if (this.rotating || f?.fd === undefined) return undefined;
    return { fd: f.fd, from: f.sink.bytesWritten };
  }

  /** Bytes written so far over all files, for a status line. */
  get bytesWritten(): number {
    return this.bytesDone + (this.current?.sink.bytesWritten ?? 0);
  }

  /** The file being written (its final name), for progress lines. */
  get currentName(): string | undefined {
    return this.current?.name;
  }

  /** The failure of the output, once a write failed. */
  get failed(): SinkFailure | undefined {
    return this.failure ?? this.current?.sink.failure;
  }

  /**
   * A sink writing `path` with O_DIRECT from the native writer thread, or undefined where the
   * file system refuses O_DIRECT (tmpfs) or buffered writes were asked for.
   */
  private openDirect(path: string, name: string): ByteSink | undefined {
    const choice = this.o.writeMode ?? 'auto';
    if (choice === 'buffered') {
      this.mode = { mode: 'buffered', detail: 'buffered writes asked for' };
      return undefined;
    }
    if (existsSync(path) && !statSync(path).isFile()) {
      this.mode = { mode: 'buffered', detail: 'not a regular file' }; // /dev/null, a FIFO
      return undefined;
    }
    try {
      const f = new native.DirectFile(path, this.o.directChunk ?? 1 << 20);
      this.mode = { mode: 'direct', detail: `O_DIRECT, ${f.chunk >> 10} KiB chunks, preallocated` };
      return openAppendSink(f, name);
    } catch (e) {
      if ((e as { code?: string }).code !== 'ERR_DIRECT_UNSUPPORTED' || choice === 'direct') throw e;
      this.mode = { mode: 'buffered', detail: (e as Error).message };
      return undefined;
    }
  }

  /** A new file; its time (-b duration) runs from `startMs` (a previous file's deadline, or now). */
  private open(startMs?: number): OpenFile {
    const o = this.o;
    const ms = startMs ?? this.now();
    this.fileNo++;
    let name: string;
    let path: string | undefined;
    let fd: number | undefined;
    let sink: ByteSink;
    if (typeof o.output === 'string' && o.output !== '-') {
      name = this.rotating ? rotatedName(o.output, this.fileNo, ms) : o.output;
      path = this.rotating ? tempPath(name) : name;
      const direct = this.openDirect(path, name);
      if (direct !== undefined) sink = direct;
      else {
        fd = openSync(path, 'w', 0o600);
        sink = openSink(fd, { name });
      }
    } else {
      this.mode = { mode: 'stream', detail: name0(o.output) };
      name = o.output === '-' ? 'stdout' : typeof o.output === 'number' ? `fd ${o.output}` : 'the output stream';
      sink = openSink(o.output, { name });
    }
    const writer = o.layout.begin(sink);
    const f: OpenFile = { name, path, fd, sink, writer, packets: 0, perSource: [], firstTsNs: null, lastTsNs: null, startedMs: ms, deadlineMs: Infinity };
    this.restartPeriod(f, ms);
    return f;
  }

  /** The file's time (-b interval, duration) runs from `ms`. */
  private restartPeriod(f: OpenFile, ms: number): void {
    const r = this.rotating ? this.o.rotation : undefined;
    let deadlineMs = Infinity;
    if (r?.interval !== undefined) {
      const step = r.interval * 1000;
      deadlineMs = (Math.floor(ms / step) + 1) * step;
    }
    if (r?.duration !== undefined) deadlineMs = Math.min(deadlineMs, ms + r.duration * 1000);
    f.deadlineMs = deadlineMs;
    this.armQuietTimer(f);
  }

  /**
   * A file whose time is up is closed even if no packet comes to push it out (a quiet link).
   * It fires well after the deadline (a second), so packets stamped before it are in by then
   * even on a loaded machine; a busy link ends its files by the packets' timestamps instead.
   */
  private armQuietTimer(f: OpenFile): void {
    clearTimeout(this.quietTimer);
    if (f.deadlineMs === Infinity) return;
    const delay = Math.max(0, f.deadlineMs - this.now()) + QUIET_MARGIN_MS;
    this.quietTimer = setTimeout(() => {
      if (this.current === f && !this.stopped && this.failed === undefined) this.next('time');
    }, delay);
    this.quietTimer.unref();
  }

  /** Timestamp of the EPB at `at`, in ns. */
  private tsNs(b: Buffer, at: number): bigint {
    const div = this.o.tsDivisors[b.readUInt32LE(at + 8)] ?? 1;
    const units = (BigInt(b.readUInt32LE(at + 12)) << 32n) | BigInt(b.readUInt32LE(at + 16));
    return div === 1 ? units : units * BigInt(div);
  }

  /**
   * Writes a native buffer of whole EPBs (host byte order), cutting it where a file ends. Resolves
   * when all of it is written (the memory may then be reused); rejects with the output's error.
   * `whole`, when the caller knows it (the capture thread counted the buffer), spares a walk over
   * every EPB where the buffer goes into one file whole: its packets, the last one's timestamp,
   * and the source they all came from.
   */
  write(b: Buffer, whole?: WholeBuffer): Promise<void> {
    const parts: Promise<void>[] = [];
    let from = 0;
    while (from < b.length) {
      const f = this.current;
      if (f === undefined || this.stopped) {
        this.discarded += countEpbs(b, from, b.length);
        break;
      }
      if (f.sink.failure !== undefined) {
        this.account(f, b, from, b.length);
        parts.push(f.sink.writeOwned(b.subarray(from))); // the sink counts these as lost
        break;
      }
      const [cut, why] = this.cutPoint(f, b, from);
      if (whole !== undefined && from === 0 && cut === b.length) {
        this.accountWhole(f, b, whole);
        parts.push(f.sink.writeOwned(b));
        break;
      }
      if (cut > from) {
        this.account(f, b, from, cut);
        parts.push(f.sink.writeOwned(b.subarray(from, cut)));
      }
      if (why === undefined) break;
      from = cut;
      this.next(why);
    }
    return Promise.all(parts).then(() => undefined);
  }

  /** A whole buffer into file f, from what the capture thread counted (see write()). */
  private accountWhole(f: OpenFile, b: Buffer, whole: WholeBuffer): void {
    if (whole.packets === 0) return;
    if (f.firstTsNs === null) {
      let at = 0;
      while (at < b.length && b.readUInt32LE(at) !== EPB) at += b.readUInt32LE(at + 4);
      if (at < b.length) f.firstTsNs = this.tsNs(b, at);
    }
    f.lastTsNs = this.tsNs(b, whole.lastAt);
    f.packets += whole.packets;
    if (f.perSource !== null) f.perSource[whole.source] = (f.perSource[whole.source] ?? 0) + whole.packets;
  }

  /** Counts the EPBs of b[from, to) into file f and notes their timestamps. */
  private account(f: OpenFile, b: Buffer, from: number, to: number): number {
    let n = 0;
    for (let at = from; at < to; at += b.readUInt32LE(at + 4)) {
      if (b.readUInt32LE(at) !== EPB) continue;
      n++;
      const id = b.readUInt32LE(at + 8);
      const src = this.o.sources?.[id] ?? id;
      if (f.perSource !== null) f.perSource[src] = (f.perSource[src] ?? 0) + 1;
      if (f.firstTsNs === null) f.firstTsNs = this.tsNs(b, at);
      if (at + b.readUInt32LE(at + 4) >= to) f.lastTsNs = this.tsNs(b, at);
    }
    f.packets += n;
    return n;
  }

  /**
   * Where in b (from `from`) the current file must end, and why; [b.length, undefined] if it
   * takes all of it. A file always takes at least one packet, however big.
   */
  private cutPoint(f: OpenFile, b: Buffer, from: number): [number, CutReason | undefined] {
    const r = this.rotating ? this.o.rotation : undefined;
    const limit = Math.min(r?.filesize ?? Infinity, this.o.stop?.filesize ?? Infinity);
    const maxPackets = r?.packets ?? Infinity;
    const timed = f.deadlineMs !== Infinity;
    const size0 = f.sink.bytesWritten;
    // Fast path: nothing can fire inside this buffer.
    if (size0 + (b.length - from) <= limit && maxPackets === Infinity && !timed) return [b.length, undefined];
    const deadlineNs = timed ? BigInt(Math.round(f.deadlineMs)) * 1_000_000n : 0n;
    let packets = f.packets;
    for (let at = from; at < b.length; ) {
      const len = b.readUInt32LE(at + 4);
      if (b.readUInt32LE(at) === EPB) {
        if (packets > 0 && size0 + (at - from) + len > limit) return [at, 'size'];
        if (packets >= maxPackets) return [at, 'packets'];
        if (timed && this.tsNs(b, at) >= deadlineNs) {
          if (packets > 0) return [at, 'time'];
          // An empty file whose time passed before its first packet (a quiet start): its
          // period starts again from this packet rather than ending right after it.
          this.restartPeriod(f, Number(this.tsNs(b, at) / 1_000_000n));
          return this.cutPoint(f, b, from);
        }
        packets++;
      }
      at += len;
    }
    return [b.length, undefined];
  }

  /** The current file is done (by `why`): start the next one, or stop if a stop condition says so. */
  private next(why: CutReason): void {
    const stop = this.o.stop;
    const rotSize = this.o.rotation?.filesize ?? Infinity;
    if (why === 'size' && stop?.filesize !== undefined && (!this.rotating || stop.filesize <= rotSize)) return this.stopNow('filesize');
    if (stop?.files !== undefined && this.fileNo >= stop.files) return this.stopNow('files');
    if (!this.rotating) return this.stopNow('filesize');
    this.rotate(why);
  }

  private stopNow(why: 'filesize' | 'files'): void {
    if (this.stopped) return;
    this.stopped = true;
    this.o.onStop(why);
  }

  private rotate(why: CutReason): void {
    const f = this.current!;
    void this.finishInOrder(f, false);
    // Periods follow each other without gaps, whenever the packet that ended one came in.
    this.current = this.open(why === 'time' ? f.deadlineMs : undefined);
  }

  /**
   * finish() once the file before has been finished (whether or not that failed): a file's close
   * waits for its writes, which may settle after the next file's, and the names (the result's
   * list, the ring buffer's deletions, printname) must still come in file order.
   */
  private finishInOrder(f: OpenFile, last: boolean): Promise<void> {
    const before = this.closing.at(-1) ?? Promise.resolve();
    const p = before.catch(() => undefined).then(() => this.finish(f, last));
    this.closing.push(p);
    return p;
  }

  /** ISBs, close, rename, ring buffer, printname. */
  private async finish(f: OpenFile, last: boolean): Promise<void> {
    // After a failed write: cut back to the last whole block, then the ISBs if there is room.
    let counted = false;
    const takeBackLost = (): void => {
      const failure = f.sink.failure;
      if (failure === undefined || counted) return;
      counted = true;
      // Packets the sink could not write were counted when handed over: take them back.
      f.packets -= failure.packetsLost;
      if (failure.packetsLost > 0) f.perSource = null;
      this.failure ??= failure;
    };
    if (f.sink.failure !== undefined) {
      await f.sink.recover();
      takeBackLost();
    }
    try {
      this.o.layout.end(f.writer, f, last || f.sink.failure !== undefined);
      await f.writer.close();
    } catch (e) {
      if (f.sink.failure === undefined) throw e;
    }
    takeBackLost();
    const size = f.sink.failure?.bytes ?? f.sink.bytesWritten;
    if (f.fd !== undefined) {
      // Space allocated ahead of the writer (fallocate) beyond the end goes back.
      if (fstatSync(f.fd).isFile()) ftruncateSync(f.fd, size);
      closeSync(f.fd);
    }
    this.bytesDone += size;
    this.written += f.packets;
    if (f.path !== undefined && f.path !== f.name) renameSync(f.path, f.name);
    this.kept.push(f.name);
    const ring = this.o.rotation?.files;
    if (this.rotating && ring !== undefined) {
      while (this.kept.length > Math.max(1, ring - (last ? 0 : 1))) {
        const old = this.kept.shift()!;
        try {
          unlinkSync(old);
        } catch {
          /* removed by someone else */
        }
      }
    }
    this.printName(f.name);
  }

  private printName(name: string): void {
    const p = this.o.rotation?.printname;
    if (p === undefined) return;
    const line = `${name}\n`;
    if (p === 'stdout' || p === '-') process.stdout.write(line);
    else if (p === 'stderr') process.stderr.write(line);
    else {
      const fd = openSync(p, 'w', 0o600);
      try {
        writeSync(fd, line);
      } finally {
        closeSync(fd);
      }
    }
  }

  /** Ends the last file (with the capture's final counters) and waits for every file to be done. */
  async close(): Promise<CaptureFilesResult> {
    clearTimeout(this.quietTimer);
    const f = this.current;
    this.current = undefined;
    const errors: unknown[] = [];
    const settle = (p: Promise<void>): Promise<void> => p.catch((e: unknown) => void errors.push(e));
    await Promise.all(this.closing.map(settle));
    if (f !== undefined) await settle(this.finishInOrder(f, true));
    if (errors.length > 0 && this.failure === undefined) throw errors[0];
    const res: CaptureFilesResult = {
      written: this.written,
      discarded: this.discarded,
      files: [...this.kept],
      bytes: this.bytesDone,
    };
    if (this.failure !== undefined) res.failure = this.failure;
    return res;
  }

  /** The error that ended writing, if any. */
  get error(): OutputError | undefined {
    return this.failed?.error;
  }
}

function name0(output: number | Writable | string): string {
  return output === '-' ? 'stdout' : typeof output === 'number' ? `fd ${output}` : 'stream';
}

/** EPBs in the whole blocks of b[from, to). */
function countEpbs(b: Buffer, from: number, to: number): number {
  let n = 0;
  for (let at = from; at + 8 <= to; at += b.readUInt32LE(at + 4)) if (b.readUInt32LE(at) === EPB) n++;
  return n;
}
