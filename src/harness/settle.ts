// Deciding that a test has settled, instead of sleeping. The rule follows where forwarding
// happens (ports.ts): pipes when every sender's ring is drained and one more rxsync on every
// capture port brings nothing; VALE after the final txsync and one rxsync per capture port; net
// devices when their kernel counters (and our captures) stop moving for an idle gap. The result
// says which rule ended the wait and how long it took. A timeout is an error, never a pass.
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { HarnessError, HarnessErrorCode } from '../errors.js';
import { readPacketCounters } from './counters.js';
import type { HarnessPort, SettleRule } from './ports.js';

export interface SettleOptions {
  /** give up (an error) after this long; default 10 s */
  timeoutMs?: number;
  /** counters-idle: how long everything must stay still; default 50 ms */
  idleGapMs?: number;
  /** counters-idle: more interfaces to watch (bridge, its members...) */
  watch?: readonly string[];
}

export interface SettleResult {
  rule: SettleRule;
  ms: number;
  /** poll rounds it took */
  rounds: number;
  /** what the rule saw when it decided */
  detail: string;
}

/** The strictest rule any port needs: counters-idle over pipe-drained over vale-sync. */
export function ruleFor(ports: readonly HarnessPort[]): SettleRule {
  if (ports.some((p) => p.rule === 'counters-idle')) return 'counters-idle';
  if (ports.some((p) => p.rule === 'pipe-drained')) return 'pipe-drained';
  return 'vale-sync';
}

/**
 * Waits until nothing more can arrive. `drain` rxsyncs every capture port, stores what it holds
 * and returns how many packets it took.
 */
export async function settle(senders: readonly HarnessPort[], all: readonly HarnessPort[], drain: () => number, opts: SettleOptions = {}): Promise<SettleResult> {
  const rule = ruleFor(all);
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const idleGapMs = opts.idleGapMs ?? 50;
  const t0 = performance.now();
  const elapsed = () => performance.now() - t0;
  const waitPort = all[0];
  let rounds = 0;
  const pending = () => senders.reduce((n, s) => n + s.txPending(), 0);

  if (rule === 'vale-sync') {
    for (const s of senders) s.txsync();
    const got = drain(); // one rxsync on every capture port
    return { rule, ms: elapsed(), rounds: 1, detail: `final txsync on ${senders.length} sender(s), then one rxsync on each port took ${got} packet(s)` };
  }

  const ifnames = [...new Set([...all.flatMap((p) => p.ifnames), ...(opts.watch ?? [])])];
  let lastCounters = '';
  let quietSince = -1;
  for (;;) {
    rounds++;
    for (const s of senders) s.txsync();
    const before = pending();
    const got = drain();
    if (rule === 'pipe-drained') {
      // Drained before this drain pass, and the pass found nothing: the peers took everything
      // and whatever they forwarded in turn was already in our rings.
      if (before === 0 && got === 0) return { rule, ms: elapsed(), rounds, detail: `senders drained (0 pending) and an rxsync on every port found nothing` };
    } else {
      const counters = ifnames.map((n) => `${n}=${readPacketCounters(n) ?? '?'}`).join(' ');
      const still = before === 0 && got === 0 && counters === lastCounters;
      lastCounters = counters;
      if (!still) quietSince = -1;
      else if (quietSince < 0) quietSince = elapsed();
      else if (elapsed() - quietSince >= idleGapMs) {
        return { rule, ms: elapsed(), rounds, detail: `counters of ${ifnames.join(', ') || '(none)'} and the captures still for ${Math.round(elapsed() - quietSince)} ms` };
      }
    }
    if (elapsed() > timeoutMs) {
      throw new HarnessError(HarnessErrorCode.SETTLE_TIMEOUT, `traffic did not settle within ${timeoutMs} ms (rule ${rule}: ${before} packet(s) still pending on the senders, ${got} arriving in the last round); the test cannot be judged`);
    }
    // Block briefly on RX readiness rather than spinning, then let the event loop breathe.
    if (got === 0) waitPort?.wait(1);
    await yieldToLoop();
  }
}
