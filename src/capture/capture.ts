// A live capture: opens a port's RX rings, runs the native capture loop, and writes what it hands
// over (ready-made EPBs) after the SHB and IDBs this side writes; at the end one ISB per
// interface with the counters the backend really measured.
import { cpus, release, type } from 'node:os';
import type { Writable } from 'node:stream';

import { NmcapError, PortError } from '../errors.js';
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
import { openPort, type OpenedPort } from '../ports/open.js';
import { VERSION } from '../version.js';
import { CaptureFiles, type FileLayout, type FileStats, type FileStopPlan, type RotationPlan, type WriteMode, type WriteModeChoice } from './rotation.js';

export interface CaptureOptions {
  /** port name: pipe:NAME}N, af_packet:eth0, eth0, ... */
  port: string;
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
  /** the rings are open: time to say "listening on ..." */
  onListening?: (port: OpenedPort) => void;
  onProgress?: (p: CaptureProgress) => void;
}

/** Why the capture ended: the loop's reason, or a file stop condition (-a filesize, -a files). */
export type CaptureEndReason = CaptureEndEvent['reason'] | 'filesize' | 'files';

export interface CaptureResult {
  /** packets taken from the port's rings */
  captured: number;
  /** packets in the files, as they are on disk (fewer than captured only after a failed write or a file stop condition) */
  written: number;
  /** the complete files, in order (with -b files:N the ones kept) */
  files: string[];
  /** packets the backend saw for us (incl. dropped ones); null = this backend cannot know */
  received: number | null;
  /** packets lost before we could read them; null = unknown */
  dropped: number | null;
  /** their lengths on the wire */
  bytes: number;
  /** packets cut to snaplen */
  truncated: number;
  seconds: number;
  reason: CaptureEndReason;
  error?: NmcapError;
  port: string;
  backend: string;
  /** bytes of the output files */
  fileBytes: number;
  /** how the files were written */
  writeMode: WriteMode;
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

export class Capture {
  private session: NativeCaptureSession | undefined;
  private stopRequested = false;

  constructor(private readonly opts: CaptureOptions) {}

  stop(): void {
    this.stopRequested = true;
    this.session?.stop();
  }

  async run(): Promise<CaptureResult> {
    const o = this.opts;
    const snaplen = o.snaplen && o.snaplen > 0 ? o.snaplen : DEFAULT_SNAPLEN;
    const opened = openPort(o.port, 'rx', { promisc: o.promisc ?? true, snaplen, queue: o.queue });
    let files: CaptureFiles | undefined;
    try {
      const ts = timestampPolicy(opened.info.tsSource);
      const rings = opened.info.rxRings;
      const ifaces = Array.from({ length: rings }, (_, i) => i);
      let end: CaptureEndEvent | undefined;
      let stopWhy: 'filesize' | 'files' | undefined;
      // Every file gets the same SHB and IDBs (EPBs name interfaces by index), and ISBs of its own.
      const layout: FileLayout = {
        begin: (sink) => {
          const writer = new PcapngWriter(sink, {
            userAppl: `nmcap ${VERSION}`,
            os: `${type()} ${release()}`,
            hardware: cpus()[0]?.model,
            comments: o.comment ? [o.comment] : undefined,
          });
          for (let i = 0; i < rings; i++) {
            writer.addInterface({
              linkType: opened.info.linkType,
              snapLen: snaplen,
              name: opened.info.ifname,
              description: describeRing(opened.info, i, rings, ts.note),
              tsResolution: ts.resolution,
            });
          }
          return writer;
        },
        end: (writer, file, last) => writeStats(writer, file, last ? end : undefined, ifaces, opened.info),
      };
      files = new CaptureFiles({
        output: o.output,
        rotation: o.rotation,
        stop: o.fileStop,
        layout,
        tsDivisors: ifaces.map(() => ts.divisor),
        writeMode: o.writeMode,
        onStop: (why) => {
          stopWhy ??= why;
          this.stop();
        },
      });
      o.onListening?.(opened);
      o.onWriteMode?.(files.mode);
      end = await this.drive(opened, files, snaplen, ifaces, ts.divisor);
      const out = await files.close();
      const seconds = end.firstTsNs !== null && end.lastTsNs !== null ? Number(end.lastTsNs - end.firstTsNs) / 1e9 : 0;
      const portError =
        end.reason === 'error'
          ? (PortError.from(Object.assign(new Error(end.message), { code: end.code || 'ERR_PORT_IO' })) as NmcapError)
          : undefined;
      return {
        // Packets handed over after a stop condition are as good as left in the ring (like -c).
        captured: end.packets - out.discarded,
        written: out.written,
        files: out.files,
        received: toNumber(end.rxReceived),
        dropped: toNumber(end.rxDrops),
        bytes: end.wireBytes,
        truncated: end.truncated,
        seconds,
        reason: out.failure !== undefined || portError !== undefined ? 'error' : (stopWhy ?? end.reason),
        error: out.failure?.error ?? portError,
        port: opened.name,
        backend: opened.info.backend,
        fileBytes: out.bytes,
        writeMode: files.mode,
      };
    } finally {
      opened.port.close();
    }
  }

  private drive(opened: OpenedPort, files: CaptureFiles, snaplen: number, ifaces: number[], divisor: number): Promise<CaptureEndEvent> {
    const o = this.opts;
    const bufferSize = Math.max(o.bufferSize ?? 4 << 20, snaplen + 64, 65536);
    const nbuf = Math.max(2, o.buffers ?? 4);
    const buffers: Buffer[] = [];
    let writes = Promise.resolve();
    const prealloc = files.preallocatable();
    return new Promise<CaptureEndEvent>((resolve) => {
      const session = new native.CaptureSession(
        opened.port,
        {
          snaplen,
          count: o.count ?? 0,
          durationMs: (o.duration ?? 0) * 1000,
          flushMs: o.flushMs ?? 100,
          ifaces,
          tsDivisors: ifaces.map(() => divisor),
          preallocateFd: prealloc?.fd,
          preallocateFrom: prealloc?.from ?? 0,
        },
        ((kind: 'batch' | 'end', ev: CaptureBatchEvent | CaptureEndEvent) => {
          if (kind === 'batch') {
            const b = ev as CaptureBatchEvent;
            o.onProgress?.(b);
            if (b.bytes === 0) {
              session.recycle(b.id);
              return;
            }
            // In order, without copying; the buffer goes back to the native thread once written.
            // After a failed write the files still see every buffer, to count what did not make it.
            writes = files.write(buffers[b.id]!.subarray(0, b.bytes)).then(
              () => session.recycle(b.id),
              () => {
                session.stop(); // the file cannot take more: end the capture
                session.recycle(b.id);
              },
            );
          } else {
            const end = ev as CaptureEndEvent;
            void writes.then(() => resolve(end));
          }
        }) as never,
      );
      for (let i = 0; i < nbuf; i++) {
        const b = Buffer.allocUnsafeSlow(bufferSize);
        buffers.push(b);
        session.supply(b);
      }
      this.session = session;
      session.start();
      if (this.stopRequested) session.stop();
    });
  }
}

function describeRing(info: NativePortInfo, ring: number, rings: number, tsNote: string): string {
  const where = rings > 1 ? `RX ring ${ring} of ${rings}` : 'RX';
  return `${info.description}; ${where}; ${info.backend}${info.mode ? ` (${info.mode})` : ''}; ${tsNote}`;
}

/**
 * One ISB per interface at the end of each file. Port-wide counters (received, dropped) are known
 * only at the end of the capture: they go in the last file's ISB, on the first interface (they
 * cannot be split per ring), with a comment saying so; earlier files say how many packets they
 * hold. Unknown counters are left out, never written as 0.
 */
function writeStats(writer: PcapngWriter, file: FileStats, end: CaptureEndEvent | undefined, ifaces: number[], info: NativePortInfo): void {
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
      usrDeliv: first ? BigInt(file.packets) : null,
      comments: comments.length ? comments : undefined,
    });
  });
}
