// The matcher: captured packets per port against expectations. Every captured packet ends up
// matched (in order or reordered), changed (it stands for an expected packet but differs), noise
// (an explicit noise rule), allowed (a port where other packets are tolerated) or extra; every
// expected packet is matched, changed or missing. Matching is by comparable bytes (normalize.ts)
// through an integer hash index (confirmed byte by byte), so a million packets match in about two
// seconds of CPU here; leftovers get a slow pass.
import { HarnessError, HarnessErrorCode } from '../errors.js';
import { flowKey, layoutOf } from './decode.js';
import { countRange, portsOf, validateOptions, type Expectation, type NoiseRule } from './expect.js';
import { hashBytes, normalizer, sameBytes, sameUnder, type Normalizer } from './normalize.js';
import { findTag } from './tag.js';
import { IntMap } from './int-map.js';
import { nonDecreasingRun } from './order.js';

export type OrderMode = 'strict' | 'per-flow' | 'unordered';

export interface CapturedPacket {
  data: Uint8Array;
  /** ns since the epoch, or null when the backend gives none */
  ts: bigint | null;
  /** its place in the whole capture of its port, when the list holds only part of it (reports say this one) */
  index?: number;
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

const ONE = { min: 1, max: 1 };
const zero = (): Counts => ({ captured: 0, matched: 0, missing: 0, extra: 0, reordered: 0, changed: 0, noise: 0, allowed: 0 });

interface Entry {
  e: Expectation;
  ports: string[];
  min: number;
  max: number;
  got: number;
  norm: Normalizer;
}

/**
 * The index: per port and normalizer, hash of the comparable bytes -> the first expectation with
 * that hash that can still take packets; `next` chains expectations with the same hash in
 * expectation order (a linked list in an Int32Array: a million expectations cost no objects).
 * Numeric keys keep the Map fast; a candidate is confirmed by comparing its bytes.
 */
interface KeyIndex {
  norm: Normalizer;
  first: IntMap;
  next: Int32Array;
}

function indexTake(ix: KeyIndex, hash: number, entries: Entry[], ok: (i: number) => boolean): number {
  const was = ix.first.get(hash);
  let head = was;
  if (head < 0) return -1;
  while (head >= 0 && entries[head]!.got >= entries[head]!.max) head = ix.next[head]!;
  if (head !== was) ix.first.set(hash, head);
  if (head < 0) return -1;
  // Fill minimums first, in expectation order, then what may take more.
  for (let pass = 0; pass < 2; pass++) {
    for (let i = head; i >= 0; i = ix.next[i]!) {
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
  const portLists = new Map<string, string[]>();
  let lastE: Expectation | undefined;
  let lastNorm: Normalizer | undefined;
  const entries: Entry[] = expectations.map((e) => {
    // Expectations built in bulk share their option objects: reuse the last normalizer then.
    let norm: Normalizer;
    if (lastE && lastNorm && lastE.ignore === e.ignore && lastE.mask === e.mask && lastE.predicates === e.predicates && lastE.ignoreTrailing === e.ignoreTrailing) norm = lastNorm;
    else {
      validateOptions(e);
      const n = normalizer(e);
      norm = normBySig.get(n.signature) ?? n;
      normBySig.set(n.signature, norm);
    }
    lastE = e;
    lastNorm = norm;
    const { min, max } = e.count === undefined ? ONE : countRange(e.count);
    let ports: string[];
    if (typeof e.ports === 'string') {
      ports = portLists.get(e.ports) ?? [e.ports];
      portLists.set(e.ports, ports);
    } else ports = portsOf(e);
    return { e, ports, min, max, got: 0, norm };
  });
  const portNames = [...new Set([...Object.keys(captures), ...portLists.keys(), ...entries.flatMap((x) => (x.ports.length > 1 ? x.ports : []))])];
  const allow = (p: string): boolean => config.allowOther === true || (Array.isArray(config.allowOther) && config.allowOther.includes(p));

  // Comparable form of each expected packet: its own first bytes (end) or a cleared copy.
  const cmpEnd = new Int32Array(entries.length);
  const cmpCopy: (Uint8Array | undefined)[] = new Array(entries.length);
  const index = new Map<string, KeyIndex[]>();
  const hashes = new Int32Array(entries.length);
  entries.forEach((en, i) => {
    const n = en.norm;
    if (n.copies) {
      const b = n.bytes(en.e.packet);
      cmpCopy[i] = b;
      cmpEnd[i] = b.length;
      hashes[i] = hashBytes(b);
    } else {
      cmpEnd[i] = n.end(en.e.packet);
      hashes[i] = hashBytes(en.e.packet, cmpEnd[i]);
    }
  });
  // Chains are built back to front so that each one runs in expectation order.
  for (let i = entries.length - 1; i >= 0; i--) {
    const en = entries[i]!;
    for (const p of en.ports) {
      let list = index.get(p);
      if (!list) index.set(p, (list = []));
      let ix: KeyIndex | undefined;
      for (const x of list) if (x.norm === en.norm) ix = x;
      if (!ix) list.push((ix = { norm: en.norm, first: new IntMap(entries.length), next: new Int32Array(entries.length).fill(-1) }));
      ix.next[i] = ix.first.get(hashes[i]!);
      ix.first.set(hashes[i]!, i);
    }
  }

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
    const ixs = index.get(p);
    // The candidate test, hoisted out of the loop (one closure per port, not per packet).
    let d: Uint8Array = new Uint8Array(0);
    let a: Uint8Array = d;
    let aEnd = 0;
    let k = 0;
    const accepts = (i: number): boolean => {
      if (!sameBytes(cmpCopy[i] ?? entries[i]!.e.packet, cmpEnd[i]!, a, aEnd)) return false;
      const preds = entries[i]!.e.predicates;
      if (preds === undefined) return true;
      for (const pr of preds) {
        const why = pr.check(d, entries[i]!.e.packet);
        if (why !== null) {
          near.set(`${p}\0${k}`, { i, why: `${pr.name}: ${why}` });
          return false;
        }
      }
      return true;
    };
    for (k = 0; k < list.length; k++) {
      d = list[k]!.data;
      let hit = -1;
      if (ixs) {
        for (const ix of ixs) {
          const n = ix.norm;
          a = n.copies ? n.bytes(d) : d;
          aEnd = n.copies ? a.length : n.end(d);
          hit = indexTake(ix, hashBytes(a, aEnd), entries, accepts);
          if (hit >= 0) break;
        }
      }
      if (hit >= 0) {
        entries[hit]!.got++;
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
  const entryTag = new Map<number, string>();
  entries.forEach((en, i) => {
    if (missingUnits[i] === 0) return;
    const t = tagKey(en.e.packet);
    if (t !== null) {
      (byTag.get(t) ?? byTag.set(t, []).get(t)!).push(i);
      entryTag.set(i, t);
    }
    const f = flowKey(en.e.packet);
    (byFlow.get(f) ?? byFlow.set(f, []).get(f)!).push(i);
  });
  // Two tagged packets with different tags are different packets, however alike their flows.
  const takeFrom = (list: number[] | undefined, p: string, tag: string | null = null): number => {
    if (!list) return -1;
    for (let j = 0; j < list.length; j++) {
      const i = list[j]!;
      const et = entryTag.get(i);
      if (tag !== null && et !== undefined && et !== tag) continue;
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
        if (i < 0) i = takeFrom(byFlow.get(flowKey(d)), p, t);
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
      // In order overall means in order within every flow too: the usual case needs no grouping.
      let prev = -1;
      let inOrder = true;
      for (let k = 0; k < st.length && inOrder; k++) {
        if (st[k] !== 'matched') continue;
        inOrder = to[k]! >= prev;
        prev = to[k]!;
      }
      if (inOrder) continue;
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
      if (s === 'matched') {
        c.matched++;
        if (timingBad.size === 0) continue;
      }
      const pkt = captures[p]![k]!;
      const i = matchedTo[p]![k]!;
      const ref = { port: p, index: k, ...pkt };
      if (s === 'reordered') {
        c.matched++;
        c.reordered++;
        addFailure({ kind: 'reordered', port: p, expectation: i, expected: entries[i]!.e.packet, actual: ref, message: `packet ${ref.index} on ${p} (${label(entries[i]!, i)}) arrived out of ${order === 'per-flow' ? 'flow ' : ''}order` });
      } else if (s === 'changed') {
        c.changed++;
        addFailure({ kind: 'changed', port: p, expectation: i, expected: entries[i]!.e.packet, actual: ref, message: `packet ${ref.index} on ${p} differs from ${label(entries[i]!, i)}${changedWhy.has(`${p}\0${k}`) ? ` (${changedWhy.get(`${p}\0${k}`)})` : ''}` });
      } else if (s === 'noise') c.noise++;
      else if (s === 'allowed') c.allowed++;
      else if (s === 'extra') {
        c.extra++;
        addFailure({ kind: 'extra', port: p, actual: ref, message: `packet ${ref.index} on ${p} was not expected` });
      }
      if (timingBad.has(`${p}\0${k}`)) addFailure({ kind: 'timing', port: p, expectation: i, expected: entries[i]!.e.packet, actual: ref, message: `packet ${ref.index} on ${p} is off its expected time by more than ${timing} ns` });
    }
  }
  entries.forEach((en, i) => {
    const m = missingUnits[i]!;
    if (m === 0) return;
    const where = en.ports.join('|');
    const c = (ports[where] ??= zero());
    c.missing += m;
    addFailure({ kind: 'missing', port: where, expectation: i, expected: en.e.packet, message: `${m} of ${en.min} ${label(en, i)} missing on ${en.ports.length > 1 ? `any of ${en.ports.join(', ')}` : where} (got ${en.got})`, actual: failures.length < maxFailures ? closest(en, captures, status) : undefined });
  });

  // Distribution checks need where each expectation's packets went; so do the results, built on demand.
  const onOf = (): PacketRef[][] => {
    const on: PacketRef[][] = entries.map(() => []);
    for (const p of portNames) {
      const to = matchedTo[p]!;
      const st = status[p]!;
      for (let k = 0; k < to.length; k++) if (to[k]! >= 0 && (st[k] === 'matched' || st[k] === 'reordered')) on[to[k]!]!.push({ port: p, index: k });
    }
    return on;
  };
  const perPortOf = (en: Entry, on: PacketRef[]): Record<string, number> => {
    const perPort: Record<string, number> = Object.fromEntries(en.ports.map((p) => [p, 0]));
    for (const r of on) perPort[r.port] = (perPort[r.port] ?? 0) + 1;
    return perPort;
  };
  const distBad = new Set<number>();
  if (entries.some((en) => en.e.distribution && en.ports.length > 1)) {
    const on = onOf();
    entries.forEach((en, i) => {
      const dist = en.e.distribution;
      if (!dist || en.ports.length < 2) return;
      const perPort = perPortOf(en, on[i]!);
      for (const p of en.ports) {
        const n = perPort[p]!;
        if ((dist.min !== undefined && n < dist.min) || (dist.max !== undefined && n > dist.max)) {
          distBad.add(i);
          addFailure({ kind: 'distribution', port: p, expectation: i, expected: en.e.packet, message: `${label(en, i)}: ${n} on ${p}, wanted ${dist.min ?? 0}..${dist.max ?? '∞'} (spread ${en.ports.map((q) => `${q}=${perPort[q]}`).join(' ')})` });
        }
      }
    });
  }
  let expResults: ExpectationResult[] | undefined;
  const expectationResults = (): ExpectationResult[] => {
    if (expResults) return expResults;
    const on = onOf();
    expResults = entries.map((en, i) => ({
      index: i, name: en.e.name ?? `expectation ${i}`, ports: en.ports, min: en.min, max: en.max, got: en.got, on: on[i]!, perPort: perPortOf(en, on[i]!), ok: en.got >= en.min && !distBad.has(i),
    }));
    return expResults;
  };

  const total = zero();
  for (const c of Object.values(ports)) for (const k of Object.keys(total) as (keyof Counts)[]) total[k] += c[k];
  const ok = failureCount === 0;
  return {
    ok, order, ports, total, failures, failureCount, status, matchedTo,
    get expectations() {
      return expectationResults();
    },
  };
}

function label(en: Entry, i: number): string {
  return en.e.name ?? `expected packet ${i}`;
}

/** The closest candidate for a missing packet is looked for among the first this many captured packets of each port. */
export const CLOSEST_WINDOW = 5000;

/** How unlike the expected packet `want` a captured packet `d` is: differing bytes plus the difference in length. */
export function unlikeness(d: Uint8Array, want: Uint8Array): number {
  let score = Math.abs(d.length - want.length);
  const n = Math.min(d.length, want.length);
  for (let j = 0; j < n; j++) if (d[j] !== want[j]) score++;
  return score;
}

/**
 * The captured packet most like the expected one on its ports (fewest differing bytes, the first
 * of equals), among the first CLOSEST_WINDOW of each port: one no expectation took if there is
 * any, else any. (The streamed diff, stream-diff.ts, applies the same rule.)
 */
function closest(en: Entry, captures: Captures, status: Record<string, PacketStatus[]>): (PacketRef & CapturedPacket) | undefined {
  let best: (PacketRef & CapturedPacket) | undefined;
  let bestScore = Infinity;
  const want = en.e.packet;
  for (const preferFree of [true, false]) {
    for (const p of en.ports) {
      const list = captures[p] ?? [];
      for (let k = 0; k < list.length && k < CLOSEST_WINDOW; k++) {
        const s = status[p]![k];
        if (preferFree !== (s === 'extra' || s === 'changed' || s === 'noise' || s === 'allowed')) continue;
        const score = unlikeness(list[k]!.data, want);
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
