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
import { compileFilter } from './filter.js';
import { VERSION } from '../version.js';

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
  /** stop once the file holds this many kB (1000 bytes; the closing statistics come on top) */
  filesizeKB?: number;
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
  /** a tcpdump filter expression (compiled by libpcap for the port's link type) */
  filter?: string;
  /** the rings are open: time to say "listening on ..." */
  onListening?: (port: OpenedPort) => void;
  onProgress?: (p: CaptureProgress) => void;
}

export type CaptureEndReason = CaptureEndEvent['reason'];

/** Counters as src/counters.ts CAPTURE_COUNTERS defines them (captured, received, dropped, ...). */
export interface CaptureResult extends CounterValues<typeof CAPTURE_COUNTERS> {
  /** where the filter ran, or null without one */
  filterIn: 'kernel' | 'capture-thread' | null;
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
  private sink: ByteSink | undefined;
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
    return { packets: this.ports.reduce((n, p) => n + p.written, 0), fileBytes: this.sink?.bytesWritten ?? 0, dropped };
  }

  async run(): Promise<CaptureResult> {
    const o = this.opts;
    const snaplen = o.snaplen && o.snaplen > 0 ? o.snaplen : DEFAULT_SNAPLEN;
    const names = o.ports ?? [o.port];
    let fd: number | undefined;
    try {
      for (const name of names) {
        const opened = openPort(name, 'rx', { promisc: o.promisc ?? true, snaplen, queue: o.queue, divert: o.divert, filterPending: o.filter !== undefined });
        const p: CapturePort = { opened, filterIn: null, ifaces: [], divisor: 1, written: 0 };
        this.ports.push(p);
        // The kernel filters where the backend lets it; until attachFilter it receives nothing.
        if (o.filter !== undefined) {
          const f = compileFilter(o.filter, opened.info.linkType, snaplen);
          p.filterIn = opened.port.attachFilter(f.program) ? 'kernel' : 'capture-thread';
          if (p.filterIn === 'capture-thread') p.userFilter = f.program;
        }
      }
      o.onPortsOpen?.(this.ports.map((p) => p.opened));
      // A path: we hold the fd, so the native side can keep the file allocated ahead of the writer
      // and we can trim what it allocated beyond the end when we are done.
      fd = typeof o.output === 'string' && o.output !== '-' ? openSync(o.output, 'w', 0o600) : undefined;
      const sink = openSink(fd ?? o.output);
      this.sink = sink;
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
        p.divisor = ts.divisor;
        for (let i = 0; i < info.rxRings; i++) {
          p.ifaces.push(
            writer.addInterface({
              linkType: info.linkType,
              snapLen: snaplen,
              name: info.ifname,
              description: describeRing(info, i, info.rxRings, ts.note, p.filterIn),
              tsResolution: ts.resolution,
              filter: o.filter,
            }),
          );
        }
        o.onListening?.(p.opened);
      }
      const ends = await this.drive(sink, snaplen, fd);
      this.ports.forEach((p, k) => writeStats(writer, ends[k]!, p, p.opened.info));
      await writer.close();
      if (fd !== undefined && fstatSync(fd).isFile()) ftruncateSync(fd, sink.bytesWritten);
      return this.result(ends, sink.bytesWritten);
    } finally {
      this.droppedAtClose = this.status().dropped;
      for (const p of this.ports) p.opened.port.close();
      if (fd !== undefined) closeSync(fd);
    }
  }

  /** One result over every port: counts add up; a counter unknown on one port is unknown. */
  private result(ends: CaptureEndEvent[], fileBytes: number): CaptureResult {
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
    return {
      ...(counters as CounterValues<typeof CAPTURE_COUNTERS>),
      // with several ports the batch that passed the count was cut: what is in the file counts
      captured: this.ports.reduce((n, p) => n + p.written, 0),
      filterIn: filterIn.length === 1 ? filterIn[0]! : 'capture-thread',
      seconds: min !== null && max !== null ? Number(max - min) / 1e9 : 0,
      reason: failed?.reason ?? (this.countReached ? 'count' : (ends.find((e) => e.reason !== 'peer-closed')?.reason ?? 'peer-closed')),
      error: failed
        ? (PortError.from(Object.assign(new Error(failed.message), { code: failed.code || 'ERR_PORT_IO' })) as NmcapError)
        : undefined,
      port: this.ports.map((p) => p.opened.name).join(', '),
      backend: [...new Set(this.ports.map((p) => p.opened.info.backend))].join(', '),
      fileBytes,
    };
  }

  /**
   * Runs one native capture session per port, all writing in order into the one sink. A port
   * ending for any reason but its pipe peer closing (a count, a duration, a fault) ends them all;
   * with every peer closed the capture is over. With several ports a packet count
   * is for them all: each session stops at it on its own, and the batch that passes it is cut
   * after the last packet still wanted.
   */
  private drive(sink: ByteSink, snaplen: number, fd: number | undefined): Promise<CaptureEndEvent[]> {
    const o = this.opts;
    const bufferSize = Math.max(o.bufferSize ?? 4 << 20, snaplen + 64, 65536);
    const nbuf = Math.max(2, o.buffers ?? 4);
    const limit = o.count ?? 0;
    let writeError: unknown;
    let writes = Promise.resolve();
    let ended = 0;
    const ends: CaptureEndEvent[] = [];
    const stopAll = (): void => {
      for (const p of this.ports) p.session?.stop();
    };
    return new Promise<CaptureEndEvent[]>((resolve, reject) => {
      this.ports.forEach((p, k) => {
        const buffers: Buffer[] = [];
        let seen = 0; // this session's packet count at its previous batch
        const session = new native.CaptureSession(
          p.opened.port,
          {
            snaplen,
            count: limit,
            durationMs: (o.duration ?? 0) * 1000,
            byteLimit: o.filesizeKB ? Math.max(1, o.filesizeKB * 1000 - sink.bytesWritten) : 0,
            flushMs: o.flushMs ?? 100,
            ifaces: p.ifaces,
            tsDivisors: p.ifaces.map(() => p.divisor),
            // Only one session may keep the file allocated ahead: the one of a single port.
            preallocateFd: this.ports.length === 1 ? fd : undefined,
            preallocateFrom: sink.bytesWritten,
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
              writes = sink
                .writeOwned(buffers[b.id]!.subarray(0, bytes))
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
              if (++ended === this.ports.length) writes.then(() => (writeError !== undefined ? reject(writeError) : resolve(ends)));
            }
          }) as never,
        );
        for (let i = 0; i < nbuf; i++) {
          const b = Buffer.allocUnsafeSlow(bufferSize);
          buffers.push(b);
          session.supply(b);
        }
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
 * One ISB per interface at close. Port-wide counters (received, dropped) can only be split per
 * ring where the backend counts per ring; otherwise they go on the first interface only, with a
 * comment saying so. Unknown counters are left out, never written as 0.
 */
function writeStats(writer: PcapngWriter, end: CaptureEndEvent, port: CapturePort, info: NativePortInfo): void {
  const { ifaces, filterIn } = port;
  // Packets the filter accepted: all we were handed where the kernel filtered (it counts after
  // its filter), all we kept where we filtered; unknown without a filter.
  const accepted = filterIn === 'kernel' ? end.rxReceived : filterIn === 'capture-thread' ? BigInt(port.written) : null;
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
      usrDeliv: first ? BigInt(port.written) : null,
      filterAccept: first ? accepted : null,
      comments: comments.length ? comments : undefined,
    });
  });
}
