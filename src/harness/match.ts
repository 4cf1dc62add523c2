// The matcher: captured packets per port against expectations. Every captured packet ends up
// matched (in order or reordered), changed (it stands for an expected packet but differs), noise
// (an explicit noise rule), allowed (a port where other packets are tolerated) or extra; every
// expected packet is matched, changed or missing. Matching is by comparable bytes (normalize.ts)
// through a hash index, so a million packets match in about a second; leftovers get a slow pass.
import { HarnessError, HarnessErrorCode } from '../errors.js';
import { flowKey, layoutOf } from './decode.js';
import { countRange, portsOf, validateOptions, type Expectation, type NoiseRule } from './expect.js';
import { normalizer, sameUnder, type Normalizer } from './normalize.js';
import { findTag } from './tag.js';
import { nonDecreasingRun } from './order.js';

export type OrderMode = 'strict' | 'per-flow' | 'unordered';

export interface CapturedPacket {
  data: Uint8Array;
  /** ns since the epoch, or null when the backend gives none */
  ts: bigint | null;
}

/** Captured packets by port name, each list in arrival order. */
export type Captures = Readonly<Record<string, readonly CapturedPacket[]>>;

export interface MatchConfig {
  /** strict (default): each port's packets in expectation order; per-flow: in order within each 5-tuple; unordered: a multiset */
  order?: OrderMode;
  /** unexpected packets that are ignored rather than failing "no other packets" */
  noise?: readonly NoiseRule[];
  /** ports where unexpected packets are tolerated (true: everywhere); default none */
  allowOther?: boolean | readonly string[];
  /** how many failures to describe in detail (all are counted); default 100 */
  maxFailures?: number;
  /** with timing: a matched packet whose time (relative to its side's first packet) differs by more fails */
  timingToleranceNs?: bigint;
  /** expected times (ns), one per expectation, for timingToleranceNs */
  expectedTs?: readonly (bigint | null)[];
}

export type PacketStatus = 'matched' | 'reordered' | 'changed' | 'noise' | 'allowed' | 'extra';
export type FailureKind = 'missing' | 'extra' | 'changed' | 'reordered' | 'distribution' | 'timing';

export interface PacketRef {
  port: string;
  index: number;
}

export interface Failure {
  kind: FailureKind;
  /** the port (or "a|b" for an any-port expectation) */
  port: string;
  message: string;
  /** index of the expectation involved */
  expectation?: number;
  expected?: Uint8Array;
  /** the captured packet involved (for missing: the closest captured candidate, if any) */
  actual?: PacketRef & CapturedPacket;
}

export interface Counts {
  captured: number;
  /** matched to an expectation, in order or not */
  matched: number;
  missing: number;
  extra: number;
  /** matched, but out of order (a subset of matched) */
  reordered: number;
  /** a captured packet standing for an expected one that differs from it (counted once, not as missing + extra) */
  changed: number;
  noise: number;
  allowed: number;
}

export interface ExpectationResult {
  index: number;
  name: string;
  ports: string[];
  min: number;
  max: number;
  /** how many captured packets matched it */
  got: number;
  /** where they were captured */
  on: PacketRef[];
  perPort: Record<string, number>;
  ok: boolean;
}

export interface MatchResult {
  ok: boolean;
  order: OrderMode;
  ports: Record<string, Counts>;
  total: Counts;
  expectations: ExpectationResult[];
  /** the first maxFailures failures, in port and arrival order */
  failures: Failure[];
  /** all failures, by kind (failures may hold fewer) */
  failureCount: number;
  /** per port, per captured packet */
  status: Record<string, PacketStatus[]>;
  /** per port, per captured packet: the expectation it matched or stands for, else -1 */
  matchedTo: Record<string, Int32Array>;
}

const zero = (): Counts => ({ captured: 0, matched: 0, missing: 0, extra: 0, reordered: 0, changed: 0, noise: 0, allowed: 0 });

interface Entry {
  e: Expectation;
  ports: string[];
  min: number;
  max: number;
  got: number;
  on: PacketRef[];
  norm: Normalizer;
}

/** A queue of expectation indices sharing one comparable form on one port. */
interface Bucket {
  items: number[];
  head: number;
}

function bucketTake(b: Bucket, entries: Entry[], ok: (i: number) => boolean): number {
  while (b.head < b.items.length && entries[b.items[b.head]!]!.got >= entries[b.items[b.head]!]!.max) b.head++;
  // Fill minimums first, in expectation order, then what may take more.
  for (let pass = 0; pass < 2; pass++) {
    for (let k = b.head; k < b.items.length; k++) {
      const i = b.items[k]!;
      const en = entries[i]!;
      if ((pass === 0 ? en.got < en.min : en.got < en.max) && ok(i)) return i;
    }
  }
  return -1;
}

export function matchPackets(expectations: readonly Expectation[], captures: Captures, config: MatchConfig = {}): MatchResult {
  const order = config.order ?? 'strict';
  if (!['strict', 'per-flow', 'unordered'].includes(order)) throw new HarnessError(HarnessErrorCode.BAD_EXPECTATION, `order must be strict, per-flow or unordered, got ${order}`);
  const maxFailures = config.maxFailures ?? 100;
  const normBySig = new Map<string, Normalizer>();
  const entries: Entry[] = expectations.map((e) => {
    validateOptions(e);
    const { min, max } = countRange(e.count);
    const n = normalizer(e);
    const norm = normBySig.get(n.signature) ?? n;
    normBySig.set(n.signature, norm);
    return { e, ports: portsOf(e), min, max, got: 0, on: [], norm };
  });
  const portNames = [...new Set([...Object.keys(captures), ...entries.flatMap((x) => x.ports)])];
  const allow = (p: string): boolean => config.allowOther === true || (Array.isArray(config.allowOther) && config.allowOther.includes(p));

  // Index: per port, per normalizer, comparable key -> bucket of expectations.
  const index = new Map<string, Map<Normalizer, Map<string, Bucket>>>();
  entries.forEach((en, i) => {
    const key = en.norm.key(en.e.packet);
    for (const p of en.ports) {
      let byNorm = index.get(p);
      if (!byNorm) index.set(p, (byNorm = new Map()));
      let buckets = byNorm.get(en.norm);
      if (!buckets) byNorm.set(en.norm, (buckets = new Map()));
      let b = buckets.get(key);
      if (!b) buckets.set(key, (b = { items: [], head: 0 }));
      b.items.push(i);
    }
  });

  const status: Record<string, PacketStatus[]> = {};
  const matchedTo: Record<string, Int32Array> = {};
  const ports: Record<string, Counts> = {};
  const failures: Failure[] = [];
  let failureCount = 0;
  const addFailure = (f: Failure): void => {
    failureCount++;
    if (failures.length < maxFailures) failures.push(f);
  };
  /** predicate misses: captured packet -> [expectation, reason] */
  const near = new Map<string, { i: number; why: string }>();

  for (const p of portNames) {
    const list = captures[p] ?? [];
    const st: PacketStatus[] = new Array(list.length);
    const to = new Int32Array(list.length).fill(-1);
    status[p] = st;
    matchedTo[p] = to;
    ports[p] = { ...zero(), captured: list.length };
    const byNorm = index.get(p);
    for (let k = 0; k < list.length; k++) {
      const d = list[k]!.data;
      let hit = -1;
      if (byNorm) {
        for (const [norm, buckets] of byNorm) {
          const b = buckets.get(norm.key(d));
          if (!b) continue;
          hit = bucketTake(b, entries, (i) => {
            for (const pr of entries[i]!.e.predicates ?? []) {
              const why = pr.check(d, entries[i]!.e.packet);
              if (why !== null) {
                near.set(`${p}\0${k}`, { i, why: `${pr.name}: ${why}` });
                return false;
              }
            }
            return true;
          });
          if (hit >= 0) break;
        }
      }
      if (hit >= 0) {
        entries[hit]!.got++;
        entries[hit]!.on.push({ port: p, index: k });
        st[k] = 'matched';
        to[k] = hit;
      } else {
        st[k] = 'extra';
      }
    }
  }

  // Slow pass for leftovers the index cannot see (a non-IP expected packet with a trailer after it).
  const leftovers = (p: string): number[] => status[p]!.flatMap((s, k) => (s === 'extra' ? [k] : []));
  const wanting = entries.flatMap((en, i) => (en.got < en.min && en.norm.ignoreTrailing ? [i] : []));
  if (wanting.length > 0) {
    for (const p of portNames) {
      const left = leftovers(p);
      if (left.length * wanting.length > 4_000_000) continue;
      for (const k of left) {
        const d = captures[p]![k]!.data;
        const i = wanting.find((w) => entries[w]!.got < entries[w]!.min && entries[w]!.ports.includes(p) && sameUnder(entries[w]!.norm, entries[w]!.e.packet, d));
        if (i === undefined) continue;
        entries[i]!.got++;
        entries[i]!.on.push({ port: p, index: k });
        status[p]![k] = 'matched';
        matchedTo[p]![k] = i;
      }
    }
  }

  // Noise and tolerated ports.
  for (const p of portNames) {
    const st = status[p]!;
    for (let k = 0; k < st.length; k++) {
      if (st[k] !== 'extra') continue;
      const d = captures[p]![k]!.data;
      if ((config.noise ?? []).some((r) => r.test(d))) st[k] = 'noise';
      else if (allow(p)) st[k] = 'allowed';
    }
  }

  // Changed: an extra packet and a missing expectation on its port that carry the same tag, or that a
  // predicate almost matched, or (last) that belong to the same flow, paired in order.
  const missingUnits = entries.map((en) => Math.max(0, en.min - en.got));
  const byFlow = new Map<string, number[]>();
  const byTag = new Map<string, number[]>();
  const tagKey = (d: Uint8Array): string | null => {
    const t = findTag(d, layoutOf(d).payloadOff);
    return t === null ? null : `${t.stream}/${t.seq}`;
  };
  entries.forEach((en, i) => {
    if (missingUnits[i] === 0) return;
    const t = tagKey(en.e.packet);
    if (t !== null) (byTag.get(t) ?? byTag.set(t, []).get(t)!).push(i);
    const f = flowKey(en.e.packet);
    (byFlow.get(f) ?? byFlow.set(f, []).get(f)!).push(i);
  });
  const takeFrom = (list: number[] | undefined, p: string): number => {
    if (!list) return -1;
    for (let j = 0; j < list.length; j++) {
      const i = list[j]!;
      if (missingUnits[i]! > 0 && entries[i]!.ports.includes(p)) return i;
    }
    return -1;
  };
  const changedWhy = new Map<string, string>();
  if (missingUnits.some((m) => m > 0)) {
    for (const p of portNames) {
      const st = status[p]!;
      for (let k = 0; k < st.length; k++) {
        if (st[k] !== 'extra') continue;
        const d = captures[p]![k]!.data;
        const t = tagKey(d);
        const pred = near.get(`${p}\0${k}`);
        let i = t !== null ? takeFrom(byTag.get(t), p) : -1;
        if (i < 0 && pred && missingUnits[pred.i]! > 0) i = pred.i;
        if (i < 0) i = takeFrom(byFlow.get(flowKey(d)), p);
        if (i < 0) continue;
        missingUnits[i]!--;
        st[k] = 'changed';
        matchedTo[p]![k] = i;
        if (pred && pred.i === i) changedWhy.set(`${p}\0${k}`, pred.why);
      }
    }
  }

  // Order.
  if (order !== 'unordered') {
    for (const p of portNames) {
      const st = status[p]!;
      const to = matchedTo[p]!;
      const groups = new Map<string, number[]>();
      for (let k = 0; k < st.length; k++) {
        if (st[k] !== 'matched') continue;
        const g = order === 'per-flow' ? flowKey(captures[p]![k]!.data) : '';
        (groups.get(g) ?? groups.set(g, []).get(g)!).push(k);
      }
      for (const ks of groups.values()) {
        const keep = nonDecreasingRun(ks.map((k) => to[k]!));
        ks.forEach((k, j) => {
          if (!keep[j]) st[k] = 'reordered';
        });
      }
    }
  }

  // Timing.
  const timing = config.timingToleranceNs;
  const timingBad = new Set<string>();
  if (timing !== undefined && config.expectedTs) {
    const eBase = config.expectedTs.find((t) => t !== null) ?? null;
    for (const p of portNames) {
      const list = captures[p] ?? [];
      const aBase = list.find((x) => x.ts !== null)?.ts ?? null;
      for (let k = 0; k < list.length; k++) {
        const i = matchedTo[p]![k]!;
        const et = i >= 0 ? config.expectedTs[i] : null;
        const at = list[k]!.ts;
        if (status[p]![k] !== 'matched' && status[p]![k] !== 'reordered') continue;
        if (et === null || et === undefined || at === null || eBase === null || aBase === null) continue;
        const delta = at - aBase - (et - eBase);
        if ((delta < 0n ? -delta : delta) > timing) timingBad.add(`${p}\0${k}`);
      }
    }
  }

  // Counting and failures, port by port in arrival order.
  for (const p of portNames) {
    const c = ports[p]!;
    const st = status[p]!;
    for (let k = 0; k < st.length; k++) {
      const s = st[k]!;
      const pkt = captures[p]![k]!;
      const i = matchedTo[p]![k]!;
      const ref = { port: p, index: k, ...pkt };
      if (s === 'matched' || s === 'reordered') c.matched++;
      if (s === 'reordered') {
        c.reordered++;
        addFailure({ kind: 'reordered', port: p, expectation: i, expected: entries[i]!.e.packet, actual: ref, message: `packet ${k} on ${p} (${label(entries[i]!, i)}) arrived out of ${order === 'per-flow' ? 'flow ' : ''}order` });
      } else if (s === 'changed') {
        c.changed++;
        addFailure({ kind: 'changed', port: p, expectation: i, expected: entries[i]!.e.packet, actual: ref, message: `packet ${k} on ${p} differs from ${label(entries[i]!, i)}${changedWhy.has(`${p}\0${k}`) ? ` (${changedWhy.get(`${p}\0${k}`)})` : ''}` });
      } else if (s === 'noise') c.noise++;
      else if (s === 'allowed') c.allowed++;
      else if (s === 'extra') {
        c.extra++;
        addFailure({ kind: 'extra', port: p, actual: ref, message: `packet ${k} on ${p} was not expected` });
      }
      if (timingBad.has(`${p}\0${k}`)) addFailure({ kind: 'timing', port: p, expectation: i, expected: entries[i]!.e.packet, actual: ref, message: `packet ${k} on ${p} is off its expected time by more than ${timing} ns` });
    }
  }
  entries.forEach((en, i) => {
    const m = missingUnits[i]!;
    if (m === 0) return;
    const where = en.ports.join('|');
    const c = (ports[where] ??= zero());
    c.missing += m;
    addFailure({ kind: 'missing', port: where, expectation: i, expected: en.e.packet, message: `${m} of ${en.min} ${label(en, i)} missing on ${en.ports.length > 1 ? `any of ${en.ports.join(', ')}` : where} (got ${en.got})`, actual: closest(en, captures, status) });
  });

  const expResults: ExpectationResult[] = entries.map((en, i) => {
    const perPort: Record<string, number> = Object.fromEntries(en.ports.map((p) => [p, 0]));
    for (const r of en.on) perPort[r.port] = (perPort[r.port] ?? 0) + 1;
    let ok = en.got >= en.min;
    const dist = en.e.distribution;
    if (dist && en.ports.length > 1) {
      for (const p of en.ports) {
        const n = perPort[p]!;
        if ((dist.min !== undefined && n < dist.min) || (dist.max !== undefined && n > dist.max)) {
          ok = false;
          addFailure({ kind: 'distribution', port: p, expectation: i, expected: en.e.packet, message: `${label(en, i)}: ${n} on ${p}, wanted ${dist.min ?? 0}..${dist.max ?? '∞'} (spread ${en.ports.map((q) => `${q}=${perPort[q]}`).join(' ')})` });
        }
      }
    }
    return { index: i, name: en.e.name ?? `expectation ${i}`, ports: en.ports, min: en.min, max: en.max, got: en.got, on: en.on, perPort, ok };
  });

  const total = zero();
  for (const c of Object.values(ports)) for (const k of Object.keys(total) as (keyof Counts)[]) total[k] += c[k];
  const ok = failureCount === 0;
  return { ok, order, ports, total, expectations: expResults, failures, failureCount, status, matchedTo };
}

function label(en: Entry, i: number): string {
  return en.e.name ?? `expected packet ${i}`;
}

/** The captured packet most like the expected one on its ports (fewest differing bytes), preferring unmatched ones. */
function closest(en: Entry, captures: Captures, status: Record<string, PacketStatus[]>): (PacketRef & CapturedPacket) | undefined {
  let best: (PacketRef & CapturedPacket) | undefined;
  let bestScore = Infinity;
  const want = en.e.packet;
  for (const preferFree of [true, false]) {
    for (const p of en.ports) {
      const list = captures[p] ?? [];
      for (let k = 0; k < list.length && k < 5000; k++) {
        const s = status[p]![k];
        if (preferFree !== (s === 'extra' || s === 'changed' || s === 'noise' || s === 'allowed')) continue;
        const d = list[k]!.data;
        let score = Math.abs(d.length - want.length);
        const n = Math.min(d.length, want.length);
        for (let j = 0; j < n; j++) if (d[j] !== want[j]) score++;
        if (score < bestScore) {
          bestScore = score;
          best = { port: p, index: k, ...list[k]! };
        }
      }
    }
    if (best) return best;
  }
  return best;
}
