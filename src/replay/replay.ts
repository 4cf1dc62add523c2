// A replay: reads pcap/pcapng records with src/pcap and feeds them, in batches, to the native
// replay loop, which paces them into a port's TX slots. JS owns files, options and statistics;
// the hot loop never runs on the event loop.
import { REPLAY_COUNTERS, countersOf, type CounterValues } from '../counters.js';
import { NmcapError, PortError } from '../errors.js';
import { assertReadable } from '../files.js';
import { REPLAY_OPTIONS, checkOptions } from '../options.js';
import { openTrace, type PacketBatch, type PcapWarning } from '../pcap/index.js';
import {
  native,
  type NativeReplaySession,
  type NativeReplayStats,
  type PortOptions,
  type ReplayConfig,
  type ReplayEndEvent,
} from '../ports/binding.js';
import { openPort, type OpenedPort } from '../ports/open.js';
import type { Rate } from './rate.js';

export interface ReplayOptions {
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
  portOptions?: PortOptions;
  /** after the last packet: give up once nothing has left for this many seconds (default: wait) */
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
  warnings: PcapWarning[];
}

/** Trace data allowed in flight to the native thread when streaming: bytes, and batches (a tiny
 * trace looped forever would otherwise be re-read thousands of times to fill the byte budget). */
const HIGH_WATER_BYTES = 64 << 20;
const HIGH_WATER_BATCHES = 64;

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
    // Preload reads everything before the port opens: a bad trace then fails before anything is sent.
    let preloaded: PacketBatch[] | undefined;
    let inputError: NmcapError | undefined;
    if (o.preload) {
      const r = await this.readAll();
      preloaded = r.batches;
      inputError = r.error;
      if (inputError && preloaded.length === 0) throw inputError;
    }
    const opened = openPort(o.port, 'tx', o.portOptions);
    o.onOpen?.(opened);

    const inflight = new Map<number, number>(); // batch id -> bytes
    let inflightBytes = 0;
    let wake: (() => void) | undefined;
    let endEvent: ReplayEndEvent | undefined;
    const stall = stallWatch(o.onStall);
    const ended = new Promise<ReplayEndEvent>((resolve) => {
      this.session = new native.ReplaySession(opened.port, config, (kind, ev) => {
        if (kind === 'consumed') {
          const id = ev as number;
          inflightBytes -= inflight.get(id) ?? 0;
          inflight.delete(id);
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
    let started = false;
    try {
      if (preloaded) {
        for (const b of preloaded) push(session, b, b === preloaded[0]);
        session.endInput();
        session.start();
        started = true;
        if (this.stopped) session.stop();
      } else {
        session.start();
        started = true;
        if (this.stopped) session.stop();
        inputError = await this.stream(session, inflight, () => endEvent !== undefined, (n) => (inflightBytes += n), async () => {
          while ((inflightBytes > HIGH_WATER_BYTES || inflight.size > HIGH_WATER_BATCHES) && endEvent === undefined) {
            await new Promise<void>((r) => (wake = r));
          }
        });
        session.endInput();
      }
      const end = await ended;
      return this.result(opened, config, end, inputError);
    } catch (e) {
      // Never leave the native thread waiting for input that will not come.
      if (started) {
        session.stop();
        session.endInput();
        await ended;
      }
      throw e;
    } finally {
      opened.port.close();
    }
  }

  private config(): ReplayConfig {
    const o = this.opts;
    const c: ReplayConfig = {
      mode: 'multiplier',
      multNum: 1,
      multDen: 1,
      limit: o.limit ?? 0,
      durationMs: (o.duration ?? 0) * 1000,
      preload: o.preload ?? false,
      loops: o.loop ?? 1,
      burst: o.burst ?? 0,
      truncateOversize: o.truncate ?? false,
    };
    if (o.drainTimeout) c.drainIdleMs = o.drainTimeout * 1000;
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

  private onWarning = (w: PcapWarning): void => {
    this.warnings.push(w);
    this.opts.onWarning?.(w);
  };

  /** Reads every file into memory (for --preload). A format error keeps what came before it. */
  private async readAll(): Promise<{ batches: PacketBatch[]; error?: NmcapError }> {
    const batches: PacketBatch[] = [];
    for (const file of this.opts.files) {
      const reader = openTrace(file, { onWarning: this.onWarning });
      try {
        for await (const b of reader.batches()) if (b.count > 0) batches.push(b);
      } catch (e) {
        if (e instanceof NmcapError) return { batches, error: e };
        throw e;
      } finally {
        await reader.close();
      }
    }
    return { batches };
  }

  /** Streams the files (loop times) into the session, in bounded memory. */
  private async stream(
    session: NativeReplaySession,
    inflight: Map<number, number>,
    isEnded: () => boolean,
    addBytes: (n: number) => void,
    throttle: () => Promise<void>,
  ): Promise<NmcapError | undefined> {
    const loops = this.opts.loop ?? 1;
    for (let pass = 0; loops === 0 || pass < loops; pass++) {
      let first = true;
      let sentSomething = false;
      for (const file of this.opts.files) {
        const reader = openTrace(file, { onWarning: this.onWarning });
        try {
          for await (const b of reader.batches()) {
            if (this.stopped || isEnded()) return undefined;
            if (b.count === 0) continue;
            const id = push(session, b, first);
            first = false;
            sentSomething = true;
            const bytes = batchBytes(b);
            inflight.set(id, bytes);
            addBytes(bytes);
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
      loops: config.preload ? end.loopsDone : (this.opts.loop ?? 1),
      ringFullSeconds: end.ringFullNs / 1e9,
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

function push(session: NativeReplaySession, b: PacketBatch, loopStart: boolean): number {
  return session.push(b.buffer, b.dataOffset, b.capLen, b.origLen, b.tsSec, b.tsNsec, b.count, loopStart);
}

function batchBytes(b: PacketBatch): number {
  let n = 16 * b.count;
  for (let i = 0; i < b.count; i++) n += b.capLen[i];
  return n;
}

/** Runs a replay to its end (convenience for scripts). */
export function replay(opts: ReplayOptions): Promise<ReplayResult> {
  return new Replay(opts).run();
}
