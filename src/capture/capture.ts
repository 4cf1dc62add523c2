// A live capture: opens a port's RX rings, runs the native capture loop, and writes what it hands
// over (ready-made EPBs) after the SHB and IDBs this side writes; at the end one ISB per
// interface with the counters the backend really measured.
import { cpus, release, type } from 'node:os';
import type { Writable } from 'node:stream';

import { CAPTURE_COUNTERS, countersOf, type CounterValues } from '../counters.js';
import { NmcapError, PortError } from '../errors.js';
import { CAPTURE_OPTIONS, checkOptions } from '../options.js';
import { PcapngWriter, RES_MICRO, RES_NANO } from '../pcap/index.js';
import {
  native,
  type CaptureBatchEvent,
  type CaptureEndEvent,
  type CaptureProgress,
  type NativeCaptureSession,
  type NativePortInfo,
  type TsSource,
} from '../ports/binding.js';
import { LinkWatch, type LinkReport } from '../ports/link-watch.js';
import { openPort, type OpenedPort } from '../ports/open.js';
import { compileFilter } from './filter.js';
import { VERSION } from '../version.js';
import { CaptureFiles, type CaptureFilesResult, type FileLayout, type FileStats, type FileStopPlan, type RotationPlan, type WriteMode, type WriteModeChoice } from './rotation.js';

export interface CaptureOptions {
  /** port name: pipe:NAME}N, af_packet:eth0, eth0, ... */
  port: string;
  /** several ports into one file (one IDB per RX ring of each); replaces `port` */
  ports?: string[];
  /** every port is open, the output not yet: the moment to drop privileges */
  onPortsOpen?: (ports: OpenedPort[]) => void;
  /** a path, an fd, or a Writable (process.stdout for "-w -") */
  output: string | number | Writable;
  /** bytes kept per packet (default 262144, as tcpdump) */
  snaplen?: number;
  /** stop after this many packets */
  count?: number;
  /** stop after this many seconds */
  duration?: number;
  /** put the interface in promiscuous mode (default true; tcpdump's -p turns it off) */
  promisc?: boolean;
  /** capture one hardware queue only */
  queue?: number;
  /** allow af_xdp:IF, which takes every frame away from the host stack while it runs (default false) */
  divert?: boolean;
  /** size of each output buffer the native thread fills (default 4 MiB) */
  bufferSize?: number;
  /** how many such buffers (default 4) */
  buffers?: number;
  /** how long a partly filled buffer may wait before it is written (default 100 ms) */
  flushMs?: number;
  /** -b: a series of files instead of one (output must be a path) */
  rotation?: RotationPlan;
  /** -a filesize / -a files */
  fileStop?: FileStopPlan;
  /** O_DIRECT (auto: where the file system supports it) or buffered writes */
  writeMode?: WriteModeChoice;
  /** the files are open: time to say how they are written */
  onWriteMode?: (m: WriteMode) => void;
  comment?: string;
  /** a tcpdump filter expression (compiled by libpcap for the port's link type) */
  filter?: string;
  /** the rings are open: time to say "listening on ..." */
  onListening?: (port: OpenedPort) => void;
  onProgress?: (p: CaptureProgress) => void;
}

/** Why the capture ended: the loop's reason, or a file stop condition (-a filesize, -a files). */
export type CaptureEndReason = CaptureEndEvent['reason'] | 'filesize' | 'files';

/** Counters as src/counters.ts CAPTURE_COUNTERS defines them (captured, received, dropped, ...). */
export interface CaptureResult extends CounterValues<typeof CAPTURE_COUNTERS> {
  /** where the filter ran, or null without one */
  filterIn: 'kernel' | 'capture-thread' | null;
  /** packets in the files, as they are on disk (fewer than captured only after a failed write or a file stop condition) */
  written: number;
  /** the complete files, in order (with -b files:N the ones kept) */
  files: string[];
  seconds: number;
  reason: CaptureEndReason;
  error?: NmcapError;
  port: string;
  backend: string;
  /** bytes of the output files */
  fileBytes: number;
  /** how the files were written */
  writeMode: WriteMode;
  /** the links of interface-backed ports between start and end (wentDown says if one went down) */
  links: LinkReport[];
}

const DEFAULT_SNAPLEN = 262144;

/** What an IDB should say about a backend's timestamps, and at which resolution to store them. */
export function timestampPolicy(src: TsSource): { resolution: typeof RES_NANO; divisor: number; note: string } {
  switch (src) {
    case 'packet-ns':
      return { resolution: RES_NANO, divisor: 1, note: 'per-packet kernel timestamps' };
    case 'sync-us':
      return {
        resolution: RES_MICRO,
        divisor: 1000,
        note: 'ring timestamps: one per RX sync (all packets of a batch share it), microsecond resolution',
      };
    case 'sync-ns':
      return { resolution: RES_NANO, divisor: 1, note: 'timestamps taken once per RX sync: all packets of a batch share one' };
    default:
      return { resolution: RES_NANO, divisor: 1, note: 'no timestamps from this backend' };
  }
}

function toNumber(v: bigint | null): number | null {
  return v === null ? null : Number(v);
}

/** One port of a capture: opened, its filter placed, its interfaces in the file. */
interface CapturePort {
  opened: OpenedPort;
  filterIn: CaptureResult['filterIn'];
  /** the program the capture thread runs (undefined where the kernel filters or there is none) */
  userFilter?: Buffer;
  /** pcapng interface id of each RX ring */
  ifaces: number[];
  divisor: number;
  session?: NativeCaptureSession;
  /** EPBs of this port in the file */
  written: number;
  /** its interface's link, where it is one */
  link?: LinkWatch;
}

/** What the capture has done so far, for a live status line. */
export interface CaptureStatus {
  packets: number;
  /** bytes in the output so far */
  fileBytes: number;
  /** drops over all ports; null when some backend cannot count them */
  dropped: number | null;
}

export class Capture {
  private ports: CapturePort[] = [];
  private files: CaptureFiles | undefined;
  private stopRequested = false;
  /** the packet count (over all ports) ended the capture */
  private countReached = false;
  /** the drop counters' last value, once the ports are closed */
  private droppedAtClose: number | null | undefined;

  constructor(private readonly opts: CaptureOptions) {
    checkOptions('Capture options', opts, CAPTURE_OPTIONS, ['port', 'output']);
  }

  stop(): void {
    this.stopRequested = true;
    for (const p of this.ports) p.session?.stop();
  }

  status(): CaptureStatus {
    let dropped = this.droppedAtClose;
    if (dropped === undefined) {
      dropped = 0;
      for (const p of this.ports) {
        const d = p.opened.port.counters().rxDrops;
        dropped = d === null || dropped === null ? null : dropped + Number(d);
      }
    }
    return { packets: this.ports.reduce((n, p) => n + p.written, 0), fileBytes: this.files?.bytesWritten ?? 0, dropped };
  }

  async run(): Promise<CaptureResult> {
    const o = this.opts;
    const snaplen = o.snaplen && o.snaplen > 0 ? o.snaplen : DEFAULT_SNAPLEN;
    const names = o.ports ?? [o.port];
    let files: CaptureFiles | undefined;
    try {
      for (const name of names) {
        const opened = openPort(name, 'rx', { promisc: o.promisc ?? true, snaplen, queue: o.queue, divert: o.divert, filterPending: o.filter !== undefined });
        const p: CapturePort = { opened, filterIn: null, ifaces: [], divisor: 1, written: 0, link: LinkWatch.start(opened.info.ifname) };
        this.ports.push(p);
        // The kernel filters where the backend lets it; until attachFilter it receives nothing.
        if (o.filter !== undefined) {
          const f = compileFilter(o.filter, opened.info.linkType, snaplen);
          p.filterIn = opened.port.attachFilter(f.program) ? 'kernel' : 'capture-thread';
          if (p.filterIn === 'capture-thread') p.userFilter = f.program;
        }
      }
      o.onPortsOpen?.(this.ports.map((p) => p.opened));
      // Interface ids in every file: the RX rings of each port, in order.
      let next = 0;
      for (const p of this.ports) {
        const ts = timestampPolicy(p.opened.info.tsSource);
        p.divisor = ts.divisor;
        p.ifaces = Array.from({ length: p.opened.info.rxRings }, () => next++);
      }
      let ends: CaptureEndEvent[] | undefined;
      let stopWhy: 'filesize' | 'files' | undefined;
      // Every file gets the same SHB and IDBs (EPBs name interfaces by index), and ISBs of its own.
      const layout: FileLayout = {
        begin: (sink) => {
          const writer = new PcapngWriter(sink, {
            byteOrder: native.epbByteOrder, // the native loop writes the EPBs: the SHB must agree
            userAppl: `nmcap ${VERSION}`,
            os: `${type()} ${release()}`,
            hardware: cpus()[0]?.model,
            comments: o.comment ? [o.comment] : undefined,
          });
          for (const p of this.ports) {
            const info = p.opened.info;
            const ts = timestampPolicy(info.tsSource);
            for (let i = 0; i < info.rxRings; i++) {
              writer.addInterface({
                linkType: info.linkType,
                snapLen: snaplen,
                name: info.ifname,
                description: describeRing(info, i, info.rxRings, ts.note, p.filterIn),
                tsResolution: ts.resolution,
                filter: o.filter,
              });
            }
          }
          return writer;
        },
        end: (writer, file, last) =>
          this.ports.forEach((p, k) => writeStats(writer, file, last ? ends?.[k] : undefined, p, k, this.ports.length)),
      };
      files = new CaptureFiles({
        output: o.output,
        rotation: o.rotation,
        stop: o.fileStop,
        layout,
        tsDivisors: this.ports.flatMap((p) => p.ifaces.map(() => p.divisor)),
        sources: this.ports.flatMap((p, k) => p.ifaces.map(() => k)),
        writeMode: o.writeMode,
        onStop: (why) => {
          stopWhy ??= why;
          this.stop();
        },
      });
      this.files = files;
      const buffers = this.outputBuffers(snaplen);
      for (const p of this.ports) o.onListening?.(p.opened);
      o.onWriteMode?.(files.mode);
      ends = await this.drive(files, snaplen, buffers);
      const out = await files.close();
      return this.result(ends, out, files.mode, stopWhy);
    } finally {
      this.droppedAtClose = this.status().dropped;
      for (const p of this.ports) p.opened.port.close();
    }
  }

  /** One result over every port: counts add up; a counter unknown on one port is unknown. */
  private result(ends: CaptureEndEvent[], out: CaptureFilesResult, writeMode: WriteMode, stopWhy: 'filesize' | 'files' | undefined): CaptureResult {
    const sum = (f: (e: CaptureEndEvent) => bigint | null): number | null =>
      ends.reduce<number | null>((n, e) => (n === null || f(e) === null ? null : n + Number(f(e))), 0);
    const first = ends.map((e) => e.firstTsNs).filter((t): t is bigint => t !== null);
    const last = ends.map((e) => e.lastTsNs).filter((t): t is bigint => t !== null);
    const min = first.reduce<bigint | null>((m, t) => (m === null || t < m ? t : m), null);
    const max = last.reduce<bigint | null>((m, t) => (m === null || t > m ? t : m), null);
    const failed = ends.find((e) => e.reason === 'error');
    const filterIn = [...new Set(this.ports.map((p) => p.filterIn))];
    // Each counter of the table, added up over the ports (unknown on one port: unknown).
    const counters: Record<string, number | null> = {};
    for (const c of CAPTURE_COUNTERS) counters[c.key] = sum((e) => {
      const v = (e as unknown as Record<string, bigint | number | null>)[c.native];
      return v === null || v === undefined ? null : BigInt(v);
    });
    const portError = failed
      ? (PortError.from(Object.assign(new Error(failed.message), { code: failed.code || 'ERR_PORT_IO' })) as NmcapError)
      : undefined;
    return {
      ...(counters as CounterValues<typeof CAPTURE_COUNTERS>),
      // With several ports the batch that passed the count was cut; packets handed over after a
      // file stop condition are as good as left in the ring (like -c).
      captured: this.ports.reduce((n, p) => n + p.written, 0) - out.discarded,
      written: out.written,
      files: out.files,
      filterIn: filterIn.length === 1 ? filterIn[0]! : 'capture-thread',
      seconds: min !== null && max !== null ? Number(max - min) / 1e9 : 0,
      reason:
        out.failure !== undefined || portError !== undefined
          ? 'error'
          : (stopWhy ?? (this.countReached ? 'count' : (ends.find((e) => e.reason !== 'peer-closed')?.reason ?? 'peer-closed'))),
      error: out.failure?.error ?? portError,
      port: this.ports.map((p) => p.opened.name).join(', '),
      backend: [...new Set(this.ports.map((p) => p.opened.info.backend))].join(', '),
      fileBytes: out.bytes,
      writeMode,
      links: this.ports.flatMap((p) => (p.link ? [p.link.end()] : [])),
    };
  }

  /**
   * The buffers each port's capture thread writes EPBs into, every page touched before the
   * capture is said to listen: a fresh page costs microseconds on first touch (4-9 us on a VM
   * here), and 16 MiB of them met while the first packets arrive would have the capture start
   * behind (drops on a NIC; on a pipe, a sender held back for ~15 ms).
   */
  private outputBuffers(snaplen: number): Buffer[][] {
    const size = Math.max(this.opts.bufferSize ?? 4 << 20, snaplen + 64, 65536);
    const count = Math.max(2, this.opts.buffers ?? 4);
    return this.ports.map(() => Array.from({ length: count }, () => Buffer.allocUnsafeSlow(size).fill(0)));
  }

  /**
   * Runs one native capture session per port, all writing in order into the one sink. A port
   * ending for any reason but its pipe peer closing (a count, a duration, a fault) ends them all;
   * with every peer closed the capture is over. With several ports a packet count
   * is for them all: each session stops at it on its own, and the batch that passes it is cut
   * after the last packet still wanted.
   */
  private drive(files: CaptureFiles, snaplen: number, portBuffers: Buffer[][]): Promise<CaptureEndEvent[]> {
    const o = this.opts;
    const limit = o.count ?? 0;
    let writeError: unknown;
    let writes = Promise.resolve();
    let ended = 0;
    const ends: CaptureEndEvent[] = [];
    const prealloc = files.preallocatable();
    const stopAll = (): void => {
      for (const p of this.ports) p.session?.stop();
    };
    return new Promise<CaptureEndEvent[]>((resolve) => {
      this.ports.forEach((p, k) => {
        const buffers = portBuffers[k]!;
        let seen = 0; // this session's packet count at its previous batch
        const session = new native.CaptureSession(
          p.opened.port,
          {
            snaplen,
            count: limit,
            durationMs: (o.duration ?? 0) * 1000,
            flushMs: o.flushMs ?? 100,
            ifaces: p.ifaces,
            tsDivisors: p.ifaces.map(() => p.divisor),
            // Only one session may keep the file allocated ahead: the one of a single port.
            preallocateFd: this.ports.length === 1 ? prealloc?.fd : undefined,
            preallocateFrom: prealloc?.from ?? 0,
            filter: p.userFilter,
          },
          ((kind: 'batch' | 'end', ev: CaptureBatchEvent | CaptureEndEvent) => {
            if (kind === 'batch') {
              const b = ev as CaptureBatchEvent;
              o.onProgress?.(b);
              let n = b.packets - seen;
              seen = b.packets;
              let bytes = b.bytes;
              const total = this.ports.reduce((t, q) => t + q.written, 0);
              if (limit && total + n >= limit) {
                if (total + n > limit) {
                  n = limit - total;
                  bytes = epbPrefix(buffers[b.id]!, n);
                }
                this.countReached = true;
                stopAll();
              }
              if (writeError !== undefined || bytes === 0) {
                session.recycle(b.id);
                return;
              }
              p.written += n;
              // In order, without copying; the buffer goes back to the native thread once written.
              // The sink keeps writes in call order, so the last one settling means all did.
              // A whole buffer's count and last stamp are the capture thread's: no walk over its EPBs.
              const whole = bytes === b.bytes ? { packets: n, lastAt: b.lastAt, source: k } : undefined;
              writes = files
                .write(buffers[b.id]!.subarray(0, bytes), whole)
                .then(
                  () => session.recycle(b.id),
                  (e: unknown) => {
                    writeError = e;
                    stopAll(); // the file cannot take more: end the capture
                    session.recycle(b.id);
                  },
                );
            } else {
              ends[k] = ev as CaptureEndEvent;
              // A pipe whose sender closed in order is done; the other ports go on.
              if (ends[k].reason !== 'peer-closed') stopAll();
              // A failed write is the files' to report (what reached the disk, and why): the capture still ends normally.
              if (++ended === this.ports.length) void writes.then(() => resolve(ends));
            }
          }) as never,
        );
        for (const b of buffers) session.supply(b);
        p.session = session;
      });
      for (const p of this.ports) p.session!.start();
      if (this.stopRequested) stopAll();
    });
  }
}

/** Bytes of the first n blocks of a buffer of EPBs (host byte order, as the native side writes them). */
function epbPrefix(buf: Buffer, n: number): number {
  let off = 0;
  for (let i = 0; i < n; i++) off += buf.readUInt32LE(off + 4);
  return off;
}

function describeRing(
  info: NativePortInfo,
  ring: number,
  rings: number,
  tsNote: string,
  filterIn: CaptureResult['filterIn'],
): string {
  const where = rings > 1 ? `RX ring ${ring} of ${rings}` : 'RX';
  const filter = filterIn === null ? '' : `; filter run ${filterIn === 'kernel' ? 'in the kernel' : 'on the capture thread'}`;
  return `${info.description}; ${where}; ${info.backend}${info.mode ? ` (${info.mode})` : ''}; ${tsNote}${filter}`;
}

/**
 * One ISB per interface at the end of each file. Port-wide counters (received, dropped) are known
 * only at the end of the capture: they go in the last file's ISB, on the first interface (they
 * cannot be split per ring), with a comment saying so; earlier files say how many packets they
 * hold. Unknown counters are left out, never written as 0.
 */
function writeStats(writer: PcapngWriter, file: FileStats, end: CaptureEndEvent | undefined, port: CapturePort, k: number, nports: number): void {
  const { ifaces, filterIn } = port;
  const info = port.opened.info;
  // Packets the filter accepted: all we were handed where the kernel filtered (it counts after
  // its filter), all we kept where we filtered; unknown without a filter.
  const accepted =
    end === undefined ? null : filterIn === 'kernel' ? end.rxReceived : filterIn === 'capture-thread' ? BigInt(port.written) : null;
  // What reached this file from this port (port k): the file's count when it is the only port,
  // else the file's count for that source (unknown after a failed write cut the file short).
  const delivered = nports === 1 ? BigInt(file.packets) : file.perSource === null ? null : BigInt(file.perSource[k] ?? 0);
  const now = BigInt(Date.now()) * 1_000_000n;
  ifaces.forEach((iface, i) => {
    const first = i === 0;
    const comments: string[] = [];
    if (first && ifaces.length > 1) comments.push(`counters cover all ${ifaces.length} RX rings of ${info.name}`);
    if (first && end === undefined) comments.push(`packets in this file; the port's counters are in the last file's statistics`);
    if (first && end !== undefined && end.rxDrops === null) comments.push(`${info.backend} cannot count drops: unknown, not zero`);
    writer.writeStats(iface, {
      ts: file.lastTsNs ?? end?.lastTsNs ?? now,
      startTime: first ? (file.firstTsNs ?? undefined) : undefined,
      endTime: first ? (file.lastTsNs ?? undefined) : undefined,
      ifRecv: first && end !== undefined ? end.rxReceived : null,
      osDrop: first && end !== undefined ? end.rxDrops : null,
      usrDeliv: first ? delivered : null,
      filterAccept: first ? accepted : null,
      comments: comments.length ? comments : undefined,
    });
  });
}
