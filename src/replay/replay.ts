// A replay: reads pcap/pcapng records with src/pcap and feeds them, in batches, to the native
// replay loop, which paces them into a port's TX slots. JS owns files, options and statistics;
// the hot loop never runs on the event loop.
import { REPLAY_COUNTERS, countersOf, type CounterValues } from '../counters.js';
import { statSync } from 'node:fs';

import { NmcapError, OptionError, PortError, PortErrorCode, ReplayErrorCode, TraceError } from '../errors.js';
import { assertReadable } from '../files.js';
import { REPLAY_OPTIONS, checkOptions } from '../options.js';
import { linkTypeName, openTrace, type PacketBatch, type PcapWarning, type TraceReader } from '../pcap/index.js';
import {
  native,
  type NativeReplaySession,
  type NativeReplayStats,
  type PortOptions,
  type ReplayConfig,
  type ReplayEndEvent,
  type LinkEmuConfig,
  type NativeRingReport,
  type SenderThreadState,
} from '../ports/binding.js';
import { openPort, type OpenedPort } from '../ports/open.js';
import { BatchPool, type PoolSlot } from './batch-pool.js';
import { linkEmuConfig, type LinkEmuOptions } from './link-emu.js';
import { NativeStream, nativeReadable } from './native-stream.js';
import type { Rate } from './rate.js';

export interface ReplayOptions extends LinkEmuOptions {
  /** port name: pipe:NAME{N, af_packet:eth0, eth0, ... */
  port: string;
  files: string[];
  /** fixed rate; without rate, multiplier or topspeed the trace's own timing is followed */
  rate?: Rate;
  /** trace timing scaled: 2 = twice as fast */
  multiplier?: { num: number; den: number };
  topspeed?: boolean;
  /** passes over the files (default 1; 0 = until stopped) */
  loop?: number;
  /** stop after this many packets */
  limit?: number;
  /** stop after this many seconds */
  duration?: number;
  /** read the whole trace into memory first (loops then replay from memory) */
  preload?: boolean;
  /** most packets per TX sync */
  burst?: number;
  /** send the first MTU bytes of oversized packets instead of skipping them */
  truncate?: boolean;
  /** rewrite every frame's destination / source MAC ("02:00:00:00:00:01"), natively */
  dmac?: string;
  smac?: string;
  /** put an 802.1Q tag with this VLAN ID (0-4095) after the MACs of every frame, natively */
  vlanPush?: number;
  /** with vlanPush: the tag's priority (PCP, 0-7; default 0) */
  vlanPcp?: number;
  /** take the outer VLAN tag (802.1Q or 802.1ad) off every frame that has one, natively */
  vlanPop?: boolean;
  /** SCHED_FIFO for the sending thread (where not permitted the run goes on, and result.sender says why) */
  realtime?: boolean;
  /** pin the sending thread to this CPU */
  cpu?: number;
  /** sending threads, one per TX queue (queues 0 to threads-1; default 1); packets of one flow keep to one queue */
  threads?: number;
  /** with threads: ring k's thread runs on cpus[k % cpus.length] */
  cpus?: number[];
  /** something about the input worth saying once (records given an Ethernet header, ...) */
  onNotice?: (message: string) => void;
  portOptions?: PortOptions;
  /** after the last packet: give up once nothing has left for this many seconds (default: wait); after a stop: wait at most this long (default 2 s) */
  drainTimeout?: number;
  /** nothing has left for a second while packets are pending (a reader that stopped or never came) */
  onStall?: (pending: number) => void;
  /** called once the port is open, before the first packet */
  onOpen?: (port: OpenedPort) => void;
  onProgress?: (p: NativeReplayStats) => void;
  onWarning?: (w: PcapWarning) => void;
}

export type ReplayEndReason = ReplayEndEvent['reason'];

/** Counters as src/counters.ts REPLAY_COUNTERS defines them (packets, bytes, failed, pending, ...). */
export interface ReplayResult extends CounterValues<typeof REPLAY_COUNTERS> {
  /** from the first departure until the last packet had left */
  seconds: number;
  pps: number;
  bps: number;
  reason: ReplayEndReason;
  error?: NmcapError;
  /** a read error that ended the input early (what was read before it was sent) */
  inputError?: NmcapError;
  port: string;
  backend: string;
  mode: 'topspeed' | 'pps' | 'bps' | 'multiplier';
  /** requested packets/s or bits/s in pps/bps modes */
  target?: number;
  /** paced modes: packets/s over the sending span, (queued - 1) / span */
  pacedRate?: number;
  bursts: { syncs: number; max: number; mean: number };
  departure: NativeReplayStats['departure'];
  loops: number;
  ringFullSeconds: number;
  /** CPU time of the native sending thread, and how often it was descheduled against its will */
  senderCpuSeconds: number;
  preemptions: number;
  /** the trace was kept in memory (--preload, or a small looped trace) */
  inMemory: boolean;
  /** of the failed: records of a link type no Ethernet frame can be made of */
  unconvertible: number;
  /** the emulated link (--delay/--loss/--bandwidth) with the seed it ran with; undefined without one */
  linkEmu?: LinkEmuConfig;
  /** the sending thread's scheduling policy and CPUs, as the kernel reported them to it (ring 0's with threads) */
  sender: SenderThreadState;
  /** each TX ring's part: one entry per sending thread (queue k is ring k) */
  rings: ReplayRingResult[];
  warnings: PcapWarning[];
}

/** One TX ring (queue) of a replay and its sending thread. */
export interface ReplayRingResult {
  ring: number;
  queued: number;
  sent: number;
  pending: number;
  failed: number;
  senderCpuSeconds: number;
  sender: SenderThreadState;
}

/** Trace data allowed in flight to the native thread when streaming: bytes, and batches. 8 MiB is
 * ~9 ms of 64-byte packets at 10 Mpps: enough to ride out a GC pause, small enough that memory stays
 * flat whatever the trace's size (with the reader's buffers, ~20 MB above Node's own). */
const HIGH_WATER_BYTES = 8 << 20;
/** Reads of a streamed trace: each reader (one per file and pass) keeps a few of these. */
const STREAM_CHUNK_BYTES = 1 << 20;
const HIGH_WATER_BATCHES = 64;
/** A looped trace up to this size (all files together) is kept in memory, as with --preload: passes
 * then cost no reading and no parsing, so loops over small traces keep the rate. */
const AUTO_PRELOAD_BYTES = 16 << 20;

/** The first batch of a streamed trace, read before the port opens (a bad or empty trace fails first). */
interface FirstBatch {
  index: number;
  reader: TraceReader;
  it: AsyncIterator<PacketBatch>;
  batch: PacketBatch;
}

export class Replay {
  private session: NativeReplaySession | undefined;
  private stopped = false;
  private readonly warnings: PcapWarning[] = [];

  constructor(private readonly opts: ReplayOptions) {
    checkOptions('Replay options', opts, REPLAY_OPTIONS, ['port', 'files']);
  }

  /** Ask the replay to end: what is queued is flushed, and the result still arrives. */
  stop(): void {
    this.stopped = true;
    this.session?.stop();
  }

  async run(): Promise<ReplayResult> {
    const o = this.opts;
    if (o.files.length === 0) throw new NmcapError('ERR_USAGE', 'no trace file given');
    for (const f of o.files) assertReadable(f); // before any port is opened
    const config = this.config();
    // Preload reads everything before the port opens; a streamed trace reads its first batch.
    // Either way a bad or empty trace fails before anything is sent.
    let preloaded: PacketBatch[] | undefined;
    let inputError: NmcapError | undefined;
    let first: FirstBatch | undefined;
    if (config.preload) {
      const r = await this.readAll();
      preloaded = r.batches;
      inputError = r.error;
      if (inputError && preloaded.length === 0) throw inFile(r.file ?? '', inputError);
      if (preloaded.length === 0) throw emptyTrace(o.files);
    } else {
      first = await this.openFirst();
      if (!first) throw emptyTrace(o.files);
    }
    const { opened, ringPorts } = this.openRings();
    if (ringPorts.length) config.ringPorts = ringPorts.map((r) => r.port);
    o.onOpen?.(opened);

    const pool = new BatchPool();
    const inflight = new Map<number, PoolSlot>(); // batch id -> its slot (streamed)
    let inflightBytes = 0;
    let wake: (() => void) | undefined;
    let endEvent: ReplayEndEvent | undefined;
    const stall = stallWatch(o.onStall);
    const ended = new Promise<ReplayEndEvent>((resolve) => {
      this.session = new native.ReplaySession(opened.port, config, (kind, ev) => {
        if (kind === 'consumed') {
          const id = ev as number;
          const slot = inflight.get(id);
          if (slot) {
            inflightBytes -= slot.bytes;
            inflight.delete(id);
            pool.give(slot);
          }
          wake?.();
        } else if (kind === 'progress') {
          const p = ev as NativeReplayStats;
          stall.see(p.sent, p.queued - p.sent); // progress events leave `pending` to the end
          o.onProgress?.(p);
        } else {
          endEvent = ev as ReplayEndEvent;
          wake?.();
          resolve(endEvent);
        }
      });
    });
    const session = this.session!;
    // Classic pcap streams through the native reader; anything else through src/pcap below.
    const nativeStream = first && nativeReadable(o.files) ? new NativeStream(session, o.files, { onLinkType: (lt) => this.noticeLinkType(lt), onWarning: this.onNewWarning, ended }) : undefined;
    let started = false;
    try {
      if (preloaded) {
        let loopStart = true;
        for (const b of preloaded) {
          for (const [run, lt] of this.linkTypeRuns(b)) {
            push(session, run, loopStart, lt);
            loopStart = false;
          }
        }
        session.endInput();
        session.start();
        started = true;
        if (this.stopped) session.stop();
      } else if (nativeStream) {
        await first!.reader.close(); // its first batch showed the trace is good; the native reader starts over
        session.start();
        started = true;
        if (this.stopped) session.stop();
        inputError = await nativeStream.run(first!.index, o.loop ?? 1);
        session.endInput(); // the reader has ended it already, or the session has ended
      } else {
        session.start();
        started = true;
        if (this.stopped) session.stop();
        inputError = await this.stream(session, first, pool, inflight, () => endEvent !== undefined, (n) => (inflightBytes += n), async () => {
          while ((inflightBytes > HIGH_WATER_BYTES || inflight.size > HIGH_WATER_BATCHES) && endEvent === undefined) {
            await new Promise<void>((r) => (wake = r));
          }
        });
        session.endInput();
      }
      const end = await ended;
      nativeStream?.close();
      return this.result(opened, config, end, inputError);
    } catch (e) {
      await first?.reader.close();
      // Never leave the native thread waiting for input that will not come.
      if (started) {
        session.stop();
        session.endInput();
        await ended;
      }
      throw e;
    } finally {
      nativeStream?.close();
      opened.port.close();
      for (const r of ringPorts) r.port.close();
    }
  }

  /** The port, and with threads > 1 one more port per extra TX queue (ring k sends on queue k). */
  private openRings(): { opened: OpenedPort; ringPorts: OpenedPort[] } {
    const o = this.opts;
    const n = o.threads ?? 1;
    if (n <= 1) return { opened: openPort(o.port, 'tx', o.portOptions), ringPorts: [] };
    if (o.portOptions?.queue !== undefined) {
      throw new OptionError('ERR_OPTION_TYPE', `Replay options: threads ${n} sends on queues 0 to ${n - 1}; portOptions.queue chooses one queue for one thread: give one of them`);
    }
    const opened = openPort(o.port, 'tx', { ...o.portOptions, queue: 0 });
    const ringPorts: OpenedPort[] = [];
    try {
      const have = native.ReplaySession.txQueues(opened.port);
      if (have < n) {
        const ifname = opened.info.ifname;
        const what = ifname && opened.info.backend !== 'pipe'
          ? `use --threads ${have}${have > 1 ? ' or fewer' : ''}, or give ${ifname} more queues (ethtool -L ${ifname} tx ${n}; a veth pair: ip link add ... numtxqueues ${n})`
          : `a ${opened.info.backend} port has one TX ring: use --threads 1`;
        throw new PortError(PortErrorCode.UNSUPPORTED, `--threads ${n}: ${opened.name} has ${have} TX queue${have === 1 ? '' : 's'}; ${what}`);
      }
      // AF_PACKET sockets do not choose their TX queue (see native/ports/af_packet/af_packet_tx.cc).
      const bound = opened.info.backend !== 'af_packet';
      for (let k = 1; k < n; k++) ringPorts.push(openPort(opened.name, 'tx', { ...o.portOptions, ...(bound ? { queue: k } : {}) }));
    } catch (e) {
      opened.port.close();
      for (const r of ringPorts) r.port.close();
      throw e;
    }
    return { opened, ringPorts };
  }

  private config(): ReplayConfig {
    const o = this.opts;
    const c: ReplayConfig = {
      mode: 'multiplier',
      multNum: 1,
      multDen: 1,
      limit: o.limit ?? 0,
      durationMs: (o.duration ?? 0) * 1000,
      preload: o.preload ?? ((o.loop ?? 1) !== 1 && traceBytes(o.files) <= AUTO_PRELOAD_BYTES),
      loops: o.loop ?? 1,
      burst: o.burst ?? 0,
      truncateOversize: o.truncate ?? false,
    };
    if (o.drainTimeout) c.drainIdleMs = c.drainTimeoutMs = o.drainTimeout * 1000;
    if (o.dmac !== undefined) c.dmac = parseMac('--dmac', o.dmac);
    if (o.smac !== undefined) c.smac = parseMac('--smac', o.smac);
    const vlan = vlanEdit(o);
    if (vlan) Object.assign(c, vlan);
    const emu = linkEmuConfig(o);
    if (emu) c.linkEmu = emu;
    if (o.realtime) c.realtime = true;
    if (o.cpu !== undefined) c.cpu = o.cpu;
    if ((o.threads ?? 1) > 1 && (o.cpus?.length || o.cpu !== undefined)) c.ringCpus = o.cpus?.length ? o.cpus : [o.cpu!];
    else if (o.cpus?.length) c.cpu = o.cpus[0];
    if (o.topspeed) c.mode = 'topspeed';
    else if (o.rate) {
      c.mode = o.rate.unit;
      c.rateNum = o.rate.num;
      c.rateDen = o.rate.den;
    } else if (o.multiplier) {
      c.multNum = o.multiplier.num;
      c.multDen = o.multiplier.den;
    }
    return c;
  }

  private readonly linkTypesSeen = new Set<number>();

  /**
   * The batch as runs of records of one link type each (a pcapng batch may mix interfaces of
   * different link types; the native session takes one link type per batch), each with its link
   * type; says once what becomes of each kind. A batch of one link type is one run, not copied.
   */
  private *linkTypeRuns(b: PacketBatch): Generator<[PacketBatch, number]> {
    const ifaces = b.section.interfaces;
    const ltAt = (i: number) => ifaces[b.iface[i] ?? 0]?.linkType ?? 1;
    let from = 0;
    while (from < b.count) {
      const lt = ltAt(from);
      let to = from + 1;
      while (to < b.count && ltAt(to) === lt) to++;
      this.noticeLinkType(lt);
      yield [from === 0 && to === b.count ? b : b.slice(from, to), lt];
      from = to;
    }
  }

  /** Says once what becomes of records of link type lt on an Ethernet port. */
  private noticeLinkType(lt: number): void {
    if (lt !== ETHERNET && !this.linkTypesSeen.has(lt)) {
      const name = linkTypeName(lt);
      this.notice(
        lt,
        CONVERTIBLE.has(lt)
          ? `records of link type ${name.short} (${name.long}) are sent with an Ethernet header in front (ethertype from the IP version or address family; MACs from --dmac/--smac, else ff:ff:ff:ff:ff:ff and 00:00:00:00:00:00)`
          : `records of link type ${name.short} (${name.long}) cannot be sent as Ethernet frames: they are skipped and counted as failed`,
      );
    }
  }

  private notice(key: number, message: string): void {
    if (this.linkTypesSeen.has(key)) return;
    this.linkTypesSeen.add(key);
    this.opts.onNotice?.(message);
  }

  private onWarning = (w: PcapWarning): void => {
    this.warnings.push(w);
    this.opts.onWarning?.(w);
  };

  /** The native reader reads the first file again (and each file once per pass): each warning once. */
  private onNewWarning = (w: PcapWarning): void => {
    if (!this.warnings.some((x) => x.code === w.code && x.offset === w.offset && x.message === w.message)) this.onWarning(w);
  };

  /** Reads every file into memory (for --preload). A format error keeps what came before it. */
  private async readAll(): Promise<{ batches: PacketBatch[]; error?: NmcapError; file?: string }> {
    const batches: PacketBatch[] = [];
    for (const file of this.opts.files) {
      const reader = openTrace(file, { onWarning: this.onWarning });
      try {
        for await (const b of reader.batches()) if (b.count > 0) batches.push(b);
      } catch (e) {
        if (e instanceof NmcapError) return { batches, error: e, file };
        throw e;
      } finally {
        await reader.close();
      }
    }
    return { batches };
  }

  /** Opens the files in turn until one yields packets; a format error before any packet is thrown. */
  private async openFirst(): Promise<FirstBatch | undefined> {
    for (let index = 0; index < this.opts.files.length; index++) {
      // Streamed: the reader recycles its buffers; stream() copies each batch before the next.
      const reader = openTrace(this.opts.files[index]!, { onWarning: this.onWarning, reuse: true, chunkSize: STREAM_CHUNK_BYTES });
      const it = reader.batches();
      try {
        for (let n = await it.next(); !n.done; n = await it.next()) {
          if (n.value.count > 0) return { index, reader, it, batch: n.value };
        }
      } catch (e) {
        await reader.close();
        throw inFile(this.opts.files[index]!, e);
      }
      await reader.close();
    }
    return undefined;
  }

  /** Streams the files (loop times) into the session, in bounded memory, starting with `first`. */
  private async stream(
    session: NativeReplaySession,
    first: FirstBatch | undefined,
    pool: BatchPool,
    inflight: Map<number, PoolSlot>,
    isEnded: () => boolean,
    addBytes: (n: number) => void,
    throttle: () => Promise<void>,
  ): Promise<NmcapError | undefined> {
    const loops = this.opts.loop ?? 1;
    const files = this.opts.files;
    try {
      for (let pass = 0; loops === 0 || pass < loops; pass++) {
        let passStart = true;
        let sentSomething = false;
        for (let fi = pass === 0 && first ? first.index : 0; fi < files.length; fi++) {
          const opened = pass === 0 && first && fi === first.index ? first : undefined;
          const reader = opened?.reader ?? openTrace(files[fi]!, { onWarning: this.onWarning, reuse: true, chunkSize: STREAM_CHUNK_BYTES });
          const it = opened?.it ?? reader.batches();
          let pending = opened?.batch;
          if (opened) first = undefined;
          try {
            for (;;) {
              let b: PacketBatch;
              if (pending) {
                b = pending;
                pending = undefined;
              } else {
                const n = await it.next();
                if (n.done) break;
                b = n.value;
              }
              if (this.stopped || isEnded()) return undefined;
              if (b.count === 0) continue;
              for (const [run, lt] of this.linkTypeRuns(b)) {
                const slot = pool.take(run);
                const id = session.push(slot.data, slot.off, slot.capLen, slot.origLen, slot.sec, slot.nsec, slot.count, passStart, lt);
                passStart = false;
                inflight.set(id, slot);
                addBytes(slot.bytes);
              }
              sentSomething = true;
              await throttle();
            }
          } catch (e) {
            if (e instanceof NmcapError) return e;
            throw e;
          } finally {
            await reader.close();
          }
        }
        if (!sentSomething) break; // empty traces: looping forever would spin
      }
    } finally {
      await first?.reader.close();
    }
    return undefined;
  }

  private result(opened: OpenedPort, config: ReplayConfig, end: ReplayEndEvent, inputError?: NmcapError): ReplayResult {
    const seconds = end.durationNs / 1e9;
    const error =
      end.reason === 'error' || end.reason === 'peer-closed'
        ? (PortError.from(Object.assign(new Error(end.message), { code: end.code || 'ERR_PORT_IO' })) as NmcapError)
        : undefined;
    const r: ReplayResult = {
      ...countersOf(REPLAY_COUNTERS, end),
      seconds,
      pps: seconds > 0 ? end.sent / seconds : 0,
      bps: seconds > 0 ? (end.sentBytes * 8) / seconds : 0,
      reason: end.reason,
      error,
      inputError,
      port: opened.name,
      backend: opened.info.backend,
      mode: config.mode,
      bursts: { syncs: end.syncs, max: end.burstMax, mean: end.syncs ? end.queued / end.syncs : 0 },
      departure: end.departure,
      loops: end.loopsDone,
      ringFullSeconds: end.ringFullNs / 1e9,
      senderCpuSeconds: end.threadCpuNs / 1e9,
      preemptions: end.preemptions,
      inMemory: config.preload ?? false,
      unconvertible: end.unconvertible,
      linkEmu: config.linkEmu,
      sender: end.sender,
      rings: (end.rings ?? [{ ring: 0, queued: end.queued, sent: end.sent, pending: end.pending, failed: end.failed, threadCpuNs: end.threadCpuNs, sender: end.sender } as NativeRingReport]).map((g) => ({
        ring: g.ring,
        queued: g.queued,
        sent: g.sent,
        pending: g.pending,
        failed: g.failed,
        senderCpuSeconds: g.threadCpuNs / 1e9,
        sender: g.sender,
      })),
      warnings: this.warnings,
    };
    if (config.mode === 'pps' || config.mode === 'bps') r.target = config.rateNum! / config.rateDen!;
    if (config.mode !== 'topspeed' && end.sendNs > 0 && end.queued > 1) r.pacedRate = (end.queued - 1) / (end.sendNs / 1e9);
    return r;
  }
}

/** Calls onStall once per stall: packets pending and none left for a second (progress events come while waiting). */
function stallWatch(onStall: ((pending: number) => void) | undefined): { see(sent: number, pending: number): void } {
  let lastSent = -1;
  let since = 0;
  let said = false;
  return {
    see(sent, pending) {
      const now = Date.now();
      if (sent !== lastSent || pending === 0) {
        lastSent = sent;
        since = now;
        said = false;
      } else if (!said && now - since >= 1000) {
        said = true;
        onStall?.(pending);
      }
    },
  };
}

const ETHERNET = 1;
/** Link types native/loops/frame_rewrite.h turns into Ethernet frames: NULL, RAW, LOOP, IPV4, IPV6. */
const CONVERTIBLE = new Set([0, 101, 108, 228, 229]);

/** "aa:bb:cc:dd:ee:ff" (or with dashes) as 6 bytes. */
export function parseMac(option: string, text: string): Uint8Array {
  const m = /^([0-9a-f]{1,2})[:-]([0-9a-f]{1,2})[:-]([0-9a-f]{1,2})[:-]([0-9a-f]{1,2})[:-]([0-9a-f]{1,2})[:-]([0-9a-f]{1,2})$/i.exec(text.trim());
  if (!m) throw new NmcapError('ERR_USAGE', `${option} needs a MAC address like 02:00:00:00:00:01, got '${text}'`);
  return Uint8Array.from(m.slice(1).map((h) => parseInt(h, 16)));
}

/**
 * --vlan-push VID [--vlan-pcp P] / --vlan-pop, checked, as the native config takes them (the tag's
 * TCI: PCP in its top 3 bits, DEI 0, the VID in the low 12). Errors are usage errors (ERR_USAGE).
 */
export function vlanEdit(o: { vlanPush?: number; vlanPcp?: number; vlanPop?: boolean }): { vlanPush: number } | { vlanPop: true } | undefined {
  const usage = (m: string) => new NmcapError('ERR_USAGE', m);
  if (o.vlanPush !== undefined && o.vlanPop) throw usage('--vlan-push and --vlan-pop: use one of them');
  if (o.vlanPcp !== undefined && o.vlanPush === undefined) throw usage('--vlan-pcp is the priority of a pushed tag: add --vlan-push VID');
  if (o.vlanPush !== undefined) {
    const vid = o.vlanPush;
    if (!Number.isInteger(vid) || vid < 0 || vid > 4095) throw usage(`--vlan-push needs a VLAN ID from 0 to 4095, got ${String(vid)}`);
    const pcp = o.vlanPcp ?? 0;
    if (!Number.isInteger(pcp) || pcp < 0 || pcp > 7) throw usage(`--vlan-pcp needs a priority from 0 to 7, got ${String(pcp)}`);
    return { vlanPush: (pcp << 13) | vid };
  }
  return o.vlanPop ? { vlanPop: true } : undefined;
}

/** Bytes of all the trace files (0 for those that cannot be stat'ed: they fail later, clearly). */
function traceBytes(files: string[]): number {
  let n = 0;
  for (const f of files) {
    try {
      n += statSync(f).size;
    } catch {
      /* reported by assertReadable */
    }
  }
  return n;
}

/** A format error met before any packet, with the file it is in (several may be given). */
function inFile(file: string, e: unknown): unknown {
  if (!(e instanceof NmcapError) || file === '' || e.message.startsWith(file)) return e;
  return new NmcapError(e.code, `${file}: ${e.message}`, { cause: e });
}

function emptyTrace(files: string[]): NmcapError {
  const what = files.length === 1 ? files[0] : `${files.join(', ')}`;
  return new TraceError( `${what}: no packets to send (the trace holds no packet records)`, ReplayErrorCode.TRACE_EMPTY);
}

function push(session: NativeReplaySession, b: PacketBatch, loopStart: boolean, linkType: number): number {
  return session.push(b.buffer, b.dataOffset, b.capLen, b.origLen, b.tsSec, b.tsNsec, b.count, loopStart, linkType);
}

/** Runs a replay to its end (convenience for scripts). */
export function replay(opts: ReplayOptions): Promise<ReplayResult> {
  return new Replay(opts).run();
}
