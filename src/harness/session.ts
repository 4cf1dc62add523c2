// The harness session: named ports opened and armed (stale packets flushed) before anything is
// sent; packets sent from a list or a trace file at a rate or topspeed while every port keeps
// being drained; settling decided (settle.ts); then the captures judged against expectations
// (match.ts), every sent packet accounted for (track.ts), counters diffed and, on request, the
// whole test written to one pcapng (artifact.ts).
import { setTimeout as sleep } from 'node:timers/promises';
import { HarnessError, HarnessErrorCode } from '../errors.js';
import { openTrace } from '../pcap/index.js';
import type { ReceivedBatch } from '../ports/binding.js';
import type { OpenPortOptions } from '../ports/open.js';
import { writeArtifact } from './artifact.js';
import { diffCounters, snapshotCounters, type CounterDiff, type CounterSet } from './counters.js';
import type { Expectation } from './expect.js';
import { matchPackets, type CapturedPacket, type MatchConfig, type MatchResult } from './match.js';
import { openHarnessPort, type HarnessPort } from './ports.js';
import { formatReport } from './report.js';
import { settle, type SettleOptions, type SettleResult } from './settle.js';
import { JS_SEND_LIMIT, sendNative } from './native-send.js';
import { switchLoss } from '../ports/vale-loss.js';
import { trackDeliveries, type DeliveryReport, type SentPacket } from './track.js';

export interface SessionOptions {
  /** most packets kept per port; beyond it packets are counted as lost and the test fails. Default 1,000,000 */
  captureLimit?: number;
  /** how ports open (rings, timestamps, valeBackend: 'bridge' | 'netmap' as --vale-backend) */
  portOptions?: OpenPortOptions;
  /** open ports with this function instead (another port layer) */
  open?: (name: string, options: OpenPortOptions) => HarnessPort;
}

export interface SendOptions {
  /** packets per second; default topspeed */
  pps?: number;
  /**
   * js: queued from JS, each packet stamped at its txsync (latency known), for test volumes;
   * native: the native replay session (nmreplay's loop), which holds a rate and a million packets.
   * Default: native with a rate or above JS_SEND_LIMIT packets, else js.
   */
  via?: 'js' | 'native';
}

export interface SendStep extends SendOptions {
  port: string;
  packets?: readonly Uint8Array[];
  /** a pcap or pcapng trace to send instead of packets */
  file?: string;
  /** settle before the next step (a switch must have learnt what this step taught it) */
  settleAfter?: boolean;
}

export interface PortLoss {
  port: string;
  /** packets beyond captureLimit */
  overflow: number;
  /** drops the backend reports since arming (null: it cannot know) */
  backendDrops: bigint | null;
}

/** Packets lost inside a VALE switch on the way to one port (the switch itself counts nothing). */
export interface SwitchLossLine {
  port: string;
  lost: number;
  expected: number;
  message: string;
}

export interface TestSpec {
  send: readonly SendStep[];
  expect: readonly Expectation[];
  match?: MatchConfig;
  settle?: SettleOptions;
  /** write sent/received/unmatched of every port to this pcapng */
  artifact?: string;
  /** write the artifact only when the test fails */
  artifactOnFailure?: boolean;
}

export interface TestResult {
  ok: boolean;
  match: MatchResult;
  deliveries: DeliveryReport;
  /** the final settle (after the last step) */
  settle: SettleResult;
  /** settles between steps that asked for one (settleAfter) */
  steps: SettleResult[];
  loss: PortLoss[];
  /** through a VALE switch: expected packets that never arrived, said as loss in the switch (they fail the match too) */
  switchLoss: SwitchLossLine[];
  counters: CounterDiff;
  sent: Record<string, SentPacket[]>;
  captures: Record<string, CapturedPacket[]>;
  /** the human report: loss first, then the matcher's */
  report(): string;
}

/** Realtime ns with sub-µs resolution (Date.now() has only ms), comparable with ring timestamps. */
function realtimeNs(): bigint {
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
}

export class HarnessSession {
  private readonly ports = new Map<string, HarnessPort>();
  private readonly captured = new Map<string, CapturedPacket[]>();
  /** batches received but not yet made into captured packets (captures() does that, once) */
  private readonly pending = new Map<string, { batch: ReceivedBatch; keep: number; stamped: boolean }[]>();
  /** packets kept per port: the captured ones and those still in pending batches */
  private readonly kept = new Map<string, number>();
  private readonly overflow = new Map<string, number>();
  private readonly dropsAtArm = new Map<string, bigint | null>();
  private sentLog: Record<string, SentPacket[]> = {};
  private readonly limit: number;
  /** packets found in the rings when the ports were armed (or re-armed), by port */
  readonly flushed: Record<string, number> = {};

  private constructor(opts: SessionOptions) {
    this.limit = opts.captureLimit ?? 1_000_000;
  }

  /** Opens every port (test name -> port name), flushes stale packets, and confirms each is armed. */
  static open(ports: Readonly<Record<string, string>>, opts: SessionOptions = {}): HarnessSession {
    const s = new HarnessSession(opts);
    const open = opts.open ?? openHarnessPort;
    try {
      for (const [label, name] of Object.entries(ports)) s.ports.set(label, open(name, opts.portOptions ?? {}));
    } catch (e) {
      s.close();
      throw e;
    }
    s.arm();
    return s;
  }

  port(label: string): HarnessPort {
    const p = this.ports.get(label);
    if (!p) throw new HarnessError(HarnessErrorCode.PORT, `no port "${label}" in this session (ports: ${[...this.ports.keys()].join(', ')})`);
    return p;
  }

  get portNames(): string[] {
    return [...this.ports.keys()];
  }

  /** Discards what the rings hold and starts a new capture on every port. */
  arm(): void {
    for (const [label, p] of this.ports) {
      let n = 0;
      for (let got = -1; got !== 0; ) {
        p.rxsync();
        got = p.take().count;
        n += got;
      }
      this.flushed[label] = n;
      this.captured.set(label, []);
      this.pending.set(label, []);
      this.kept.set(label, 0);
      this.overflow.set(label, 0);
      this.dropsAtArm.set(label, p.counters().rxDrops);
    }
    this.sentLog = {};
  }

  /** One rxsync on every port (but `skip`), keeping what arrived; returns how many packets that was. */
  drain(skip?: string): number {
    let n = 0;
    for (const [label, p] of this.ports) {
      if (label === skip) continue;
      p.rxsync();
      const got = p.take();
      if (got.count === 0) continue;
      n += got.count;
      // The batch is kept as it came; its packets become objects only when captures() asks.
      const kept = this.kept.get(label)!;
      const keep = Math.min(got.count, Math.max(0, this.limit - kept));
      if (keep > 0) {
        this.pending.get(label)!.push({ batch: got, keep, stamped: p.tsSource !== 'none' });
        this.kept.set(label, kept + keep);
      }
      if (keep < got.count) this.overflow.set(label, this.overflow.get(label)! + got.count - keep);
    }
    return n;
  }

  /**
   * Sends packets on a port, at `pps` or topspeed, draining every port meanwhile. Each packet's
   * send time is taken just before the txsync that publishes it, so latency is never understated.
   */
  async send(label: string, packets: Iterable<Uint8Array>, opts: SendOptions = {}): Promise<number> {
    const list = Array.isArray(packets) ? (packets as Uint8Array[]) : [...packets];
    if ((opts.via ?? (opts.pps !== undefined || list.length > JS_SEND_LIMIT ? 'native' : 'js')) === 'native') return this.sendViaNative(label, list, opts);
    return this.sendFromJs(label, list, opts);
  }

  /** Through the native replay session on the port (a rate, large volumes); the other ports are drained meanwhile. */
  private async sendViaNative(label: string, what: readonly Uint8Array[] | { file: string }, opts: SendOptions): Promise<number> {
    const p = this.port(label);
    if (!p.native) throw new HarnessError(HarnessErrorCode.PORT, `port "${label}" cannot send through the native replay session (not a native port): send with via: 'js'`);
    const log = (this.sentLog[label] ??= []);
    // The sender's own RX is left alone while its TX belongs to the native thread; drained after.
    const { packets } = await sendNative(p.native, what, { pps: opts.pps, drainIdleMs: 10_000, whileSending: () => this.drain(label) });
    for (const data of packets) log.push({ data, ts: null }); // departure times per packet are not reported: latency unknown
    this.drain();
    return packets.length;
  }

  private async sendFromJs(label: string, packets: readonly Uint8Array[], opts: SendOptions): Promise<number> {
    const p = this.port(label);
    const log = (this.sentLog[label] ??= []);
    let unstamped = log.length;
    const publish = (): void => {
      const t = realtimeNs();
      p.txsync();
      for (; unstamped < log.length; unstamped++) log[unstamped]!.ts = t;
    };
    const start = performance.now();
    let i = 0;
    for (const data of packets) {
      if (opts.pps !== undefined) {
        const due = start + (i * 1000) / opts.pps;
        for (let now = performance.now(); now < due; now = performance.now()) {
          this.drain();
          if (due - now > 2) await sleep(1);
        }
      }
      while (!p.send(data)) {
        publish();
        this.drain();
        p.wait(1, true);
      }
      log.push({ data: Uint8Array.prototype.slice.call(data), ts: null });
      if (opts.pps !== undefined) publish();
      i++;
    }
    publish();
    return i;
  }

  /** Sends a pcap/pcapng trace's packets. */
  async sendFile(label: string, file: string, opts: SendOptions = {}): Promise<number> {
    if (opts.via === 'native' || (opts.via === undefined && opts.pps !== undefined)) return this.sendViaNative(label, { file }, opts);
    const packets: Uint8Array[] = [];
    for await (const b of openTrace(file).batches()) for (let i = 0; i < b.count; i++) packets.push(Uint8Array.prototype.slice.call(b.data(i)));
    return this.send(label, packets, opts);
  }

  /** Waits until nothing more can arrive (an error if it never happens). */
  settle(opts: SettleOptions = {}): Promise<SettleResult> {
    const senders = Object.keys(this.sentLog).map((l) => this.port(l));
    return settle(senders, [...this.ports.values()], () => this.drain(), opts);
  }

  captures(): Record<string, CapturedPacket[]> {
    for (const [label, batches] of this.pending) {
      const list = this.captured.get(label)!;
      // Each packet is a view into its batch's one Buffer: no copy.
      for (const { batch: b, keep, stamped } of batches.splice(0)) {
        for (let i = 0; i < keep; i++) {
          const at = b.offset[i]!;
          list.push({ data: b.data.subarray(at, at + b.length[i]!), ts: stamped ? b.tsNs[i]! : null });
        }
      }
    }
    return Object.fromEntries(this.captured);
  }

  sent(): Record<string, SentPacket[]> {
    return this.sentLog;
  }

  /** Capture overflow and backend drops since arming, per port; empty when nothing was lost. */
  losses(): PortLoss[] {
    const out: PortLoss[] = [];
    for (const [label, p] of this.ports) {
      const at = this.dropsAtArm.get(label) ?? null;
      const now = p.counters().rxDrops;
      const backendDrops = at === null || now === null ? null : now - at;
      const overflow = this.overflow.get(label)!;
      if (overflow > 0 || (backendDrops !== null && backendDrops > 0n)) out.push({ port: label, overflow, backendDrops });
    }
    return out;
  }

  /**
   * Loss in a VALE switch, which counts no drops (netmap's nor the bridge standing in for it): for
   * each VALE port that missed expected packets, what was sent into the switch minus what arrived.
   */
  private switchLosses(match: MatchResult, sent: Record<string, SentPacket[]>): SwitchLossLine[] {
    const out: SwitchLossLine[] = [];
    const into = Object.entries(sent).filter(([l]) => this.port(l).valeSwitch !== undefined);
    if (into.length === 0) return out;
    const sentCount = into.reduce((n, [, l]) => n + l.length, 0);
    for (const [label, p] of this.ports) {
      if (p.valeSwitch === undefined) continue;
      const c = match.ports[label];
      if (!c || c.missing === 0) continue;
      const expected = c.matched + c.changed + c.missing;
      const l = switchLoss({ packets: sentCount, port: into.map(([s]) => this.port(s).name).join('+') }, { captured: c.matched + c.changed, port: p.name }, expected, p.valeBackend);
      if (l.message) out.push({ port: label, lost: l.lost, expected, message: l.message });
    }
    return out;
  }

  /** Counters of the kernel interfaces behind the ports (plus `watch`), and each port's own. */
  counters(watch: readonly string[] = []): ReturnType<typeof snapshotCounters> {
    const own: Record<string, CounterSet> = {};
    for (const [label, p] of this.ports) {
      const c = p.counters();
      own[`port:${label}`] = { rx_received: c.rxReceived, rx_drops: c.rxDrops, rx_ring_full: c.rxRingFull };
    }
    const ifnames = [...new Set([...[...this.ports.values()].flatMap((p) => p.ifnames), ...watch])];
    return snapshotCounters(ifnames, own);
  }

  /** A whole test: arm, send each step, settle, judge. */
  async test(spec: TestSpec): Promise<TestResult> {
    this.arm();
    const before = this.counters(spec.settle?.watch);
    const steps: SettleResult[] = [];
    for (const [i, step] of spec.send.entries()) {
      if (step.file !== undefined) await this.sendFile(step.port, step.file, step);
      else await this.send(step.port, step.packets ?? [], step);
      if (step.settleAfter && i < spec.send.length - 1) steps.push(await this.settle(spec.settle));
    }
    const settled = await this.settle(spec.settle);
    const counters = diffCounters(before, this.counters(spec.settle?.watch));
    const captures = this.captures();
    const match = matchPackets(spec.expect, Object.fromEntries(this.portNames.map((n) => [n, captures[n] ?? []])), spec.match);
    const sent = this.sentLog;
    const deliveries = trackDeliveries(Object.values(sent).flat(), captures);
    const loss = this.losses();
    const switchLoss = this.switchLosses(match, sent);
    const ok = match.ok && loss.length === 0;
    if (spec.artifact !== undefined && (!spec.artifactOnFailure || !ok)) {
      await writeArtifact(spec.artifact, { sent, captures, result: match, expected: spec.expect.map((e) => e.packet) });
    }
    return {
      ok, match, deliveries, settle: settled, steps, loss, switchLoss, counters, sent, captures,
      report: () => {
        const lossLines = loss.map((l) => `CAPTURE LOSS on ${l.port}: ${l.overflow} over the capture limit, ${l.backendDrops ?? 'unknown'} dropped by the backend`);
        const switchLines = switchLoss.map((l) => `SWITCH LOSS: ${l.message}`);
        return [...lossLines, ...switchLines, `settled by ${settled.rule} in ${settled.ms.toFixed(1)} ms: ${settled.detail}`, formatReport(match)].join('\n');
      },
    };
  }

  close(): void {
    for (const p of this.ports.values()) {
      try {
        p.close();
      } catch {
        // already closed
      }
    }
    this.ports.clear();
  }
}
