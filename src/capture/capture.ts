// A live capture: opens a port's RX rings, runs the native capture loop, and writes what it hands
// over (ready-made EPBs) after the SHB and IDBs this side writes; at the end one ISB per
// interface with the counters the backend really measured.
import { closeSync, fstatSync, ftruncateSync, openSync } from 'node:fs';
import { cpus, release, type } from 'node:os';
import type { Writable } from 'node:stream';

import { CAPTURE_COUNTERS, countersOf, type CounterValues } from '../counters.js';
import { NmcapError, PortError } from '../errors.js';
import { CAPTURE_OPTIONS, checkOptions } from '../options.js';
import { PcapngWriter, RES_MICRO, RES_NANO, openSink, type ByteSink } from '../pcap/index.js';
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
  /** allow af_xdp:IF, which takes every frame away from the host stack while it runs (default false) */
  divert?: boolean;
  /** size of each output buffer the native thread fills (default 4 MiB) */
  bufferSize?: number;
  /** how many such buffers (default 4) */
  buffers?: number;
  /** how long a partly filled buffer may wait before it is written (default 100 ms) */
  flushMs?: number;
  comment?: string;
  /** the rings are open: time to say "listening on ..." */
  onListening?: (port: OpenedPort) => void;
  onProgress?: (p: CaptureProgress) => void;
}

export type CaptureEndReason = CaptureEndEvent['reason'];

/** Counters as src/counters.ts CAPTURE_COUNTERS defines them (captured, received, dropped, ...). */
export interface CaptureResult extends CounterValues<typeof CAPTURE_COUNTERS> {
  seconds: number;
  reason: CaptureEndReason;
  error?: NmcapError;
  port: string;
  backend: string;
  /** bytes of the output file */
  fileBytes: number;
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

export class Capture {
  private session: NativeCaptureSession | undefined;
  private stopRequested = false;

  constructor(private readonly opts: CaptureOptions) {
    checkOptions('Capture options', opts, CAPTURE_OPTIONS, ['port', 'output']);
  }

  stop(): void {
    this.stopRequested = true;
    this.session?.stop();
  }

  async run(): Promise<CaptureResult> {
    const o = this.opts;
    const snaplen = o.snaplen && o.snaplen > 0 ? o.snaplen : DEFAULT_SNAPLEN;
    const opened = openPort(o.port, 'rx', { promisc: o.promisc ?? true, snaplen, queue: o.queue, divert: o.divert });
    let sink: ByteSink | undefined;
    // A path: we hold the fd, so the native side can keep the file allocated ahead of the writer
    // and we can trim what it allocated beyond the end when we are done.
    const fd = typeof o.output === 'string' && o.output !== '-' ? openSync(o.output, 'w') : undefined;
    try {
      sink = openSink(fd ?? o.output);
      const writer = new PcapngWriter(sink, {
        userAppl: `nmcap ${VERSION}`,
        os: `${type()} ${release()}`,
        hardware: cpus()[0]?.model,
        comments: o.comment ? [o.comment] : undefined,
      });
      const ts = timestampPolicy(opened.info.tsSource);
      const rings = opened.info.rxRings;
      const ifaces: number[] = [];
      for (let i = 0; i < rings; i++) {
        ifaces.push(
          writer.addInterface({
            linkType: opened.info.linkType,
            snapLen: snaplen,
            name: opened.info.ifname,
            description: describeRing(opened.info, i, rings, ts.note),
            tsResolution: ts.resolution,
          }),
        );
      }
      o.onListening?.(opened);
      const end = await this.drive(opened, sink, snaplen, ifaces, ts.divisor, fd);
      writeStats(writer, end, ifaces, opened.info);
      await writer.close();
      if (fd !== undefined && fstatSync(fd).isFile()) ftruncateSync(fd, sink.bytesWritten);
      const seconds = end.firstTsNs !== null && end.lastTsNs !== null ? Number(end.lastTsNs - end.firstTsNs) / 1e9 : 0;
      return {
        ...countersOf(CAPTURE_COUNTERS, end),
        seconds,
        reason: end.reason,
        error:
          end.reason === 'error'
            ? (PortError.from(Object.assign(new Error(end.message), { code: end.code || 'ERR_PORT_IO' })) as NmcapError)
            : undefined,
        port: opened.name,
        backend: opened.info.backend,
        fileBytes: sink.bytesWritten,
      };
    } finally {
      opened.port.close();
      if (fd !== undefined) closeSync(fd);
    }
  }

  private drive(
    opened: OpenedPort,
    sink: ByteSink,
    snaplen: number,
    ifaces: number[],
    divisor: number,
    fd: number | undefined,
  ): Promise<CaptureEndEvent> {
    const o = this.opts;
    const bufferSize = Math.max(o.bufferSize ?? 4 << 20, snaplen + 64, 65536);
    const nbuf = Math.max(2, o.buffers ?? 4);
    const buffers: Buffer[] = [];
    let writeError: unknown;
    let writes = Promise.resolve();
    return new Promise<CaptureEndEvent>((resolve, reject) => {
      const session = new native.CaptureSession(
        opened.port,
        {
          snaplen,
          count: o.count ?? 0,
          durationMs: (o.duration ?? 0) * 1000,
          flushMs: o.flushMs ?? 100,
          ifaces,
          tsDivisors: ifaces.map(() => divisor),
          preallocateFd: fd,
          preallocateFrom: sink.bytesWritten,
        },
        ((kind: 'batch' | 'end', ev: CaptureBatchEvent | CaptureEndEvent) => {
          if (kind === 'batch') {
            const b = ev as CaptureBatchEvent;
            o.onProgress?.(b);
            if (writeError !== undefined || b.bytes === 0) {
              session.recycle(b.id);
              return;
            }
            // In order, without copying; the buffer goes back to the native thread once written.
            writes = sink.writeOwned(buffers[b.id].subarray(0, b.bytes)).then(
              () => session.recycle(b.id),
              (e: unknown) => {
                writeError = e;
                session.stop(); // the file cannot take more: end the capture
                session.recycle(b.id);
              },
            );
          } else {
            const end = ev as CaptureEndEvent;
            writes.then(() => (writeError !== undefined ? reject(writeError) : resolve(end)));
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
 * One ISB per interface at close. Port-wide counters (received, dropped) can only be split per
 * ring where the backend counts per ring; otherwise they go on the first interface only, with a
 * comment saying so. Unknown counters are left out, never written as 0.
 */
function writeStats(writer: PcapngWriter, end: CaptureEndEvent, ifaces: number[], info: NativePortInfo): void {
  const now = BigInt(Date.now()) * 1_000_000n;
  ifaces.forEach((iface, i) => {
    const first = i === 0;
    const comments: string[] = [];
    if (first && ifaces.length > 1) comments.push(`counters cover all ${ifaces.length} RX rings of ${info.name}`);
    if (first && end.rxDrops === null) comments.push(`${info.backend} cannot count drops: unknown, not zero`);
    writer.writeStats(iface, {
      ts: end.lastTsNs ?? now,
      startTime: first ? (end.firstTsNs ?? undefined) : undefined,
      endTime: first ? (end.lastTsNs ?? undefined) : undefined,
      ifRecv: first ? end.rxReceived : null,
      osDrop: first ? end.rxDrops : null,
      usrDeliv: first ? BigInt(end.packets) : null,
      comments: comments.length ? comments : undefined,
    });
  });
}
