// Two capture files compared in bounded memory (nmcap --diff). Both files are streamed side by
// side; a packet whose comparable bytes (normalize.ts) equal the next one of the other file's port
// is paired at once, and the rest wait in per-port queues keyed by hash until their twin comes
// (confirmed byte by byte, so a hash collision never pairs two different packets). What stays in
// memory is, per packet, the expected index each captured one paired with (and its flow hash for
// --per-flow), plus the packets still unpaired. Those leftovers then go through the full matcher
// (match.ts), which classifies them as changed, missing or extra with its own rules; order is
// judged on the pairing sequence as the matcher judges it, and the few packets a report shows
// are read again from the files (so is the closest candidate of each missing packet shown, with
// the matcher's rule). Memory grows with the differences, not with the files. Standard input
// cannot be read twice: it is copied to a temporary file as it comes, and compared from there.
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { flowHash } from './decode.js';
import { CLOSEST_WINDOW, matchPackets, unlikeness, type CapturedPacket, type Counts, type Failure, type MatchResult, type OrderMode, type PacketRef } from './match.js';
import { hashBytes, normalizer, sameBytes, type Normalizer } from './normalize.js';
import { nonDecreasingRun } from './order.js';
import { openTrace, type PacketBatch } from '../pcap/index.js';

export interface StreamDiffOptions {
  order?: OrderMode;
  /** named fields left out of the comparison */
  ignore?: readonly string[];
  timingToleranceNs?: bigint;
  /** failures described in detail (all are counted); default 10 */
  maxFailures?: number;
}

export interface StreamDiffResult {
  result: MatchResult;
  expectedPackets: number;
  actualPackets: number;
}

/** A packet seen but not yet paired: copies of its bytes, since the reader recycles its buffers. */
interface Waiting {
  /** index in its file (expected) or in its port (captured) */
  index: number;
  cmp: Uint8Array;
  data: Uint8Array;
  ts: bigint | null;
}

/** An Int32 list that grows without boxing. */
class IntList {
  a: Int32Array;
  n = 0;
  constructor(capacity = 16) {
    this.a = new Int32Array(capacity);
  }
  push(v: number): void {
    if (this.n === this.a.length) {
      const b = new Int32Array(Math.max(16, this.a.length * 2));
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = v;
  }
}

interface PortState {
  /** expected packets still waiting, by hash of their comparable bytes (FIFO per hash) */
  exp: Map<number, Waiting[]>;
  act: Map<number, Waiting[]>;
  /** per captured packet: the expected packet (index in its file) it paired with, else -1 */
  to: IntList;
  /** per captured packet: a hash of its 5-tuple (per-flow order only) */
  flow: IntList;
  expCount: number;
  actBase: bigint | null;
  /** captured packets off their expected time (their indices) */
  late: number[];
}

type Source = { next(): Promise<IteratorResult<PacketBatch>>; close(): Promise<void> };

/** The batches of a file, streamed. */
function source(path: string): Source {
  const reader = openTrace(path, { reuse: true, chunkSize: 1 << 20 });
  const it = reader.batches();
  return { next: () => it.next(), close: () => reader.close() };
}

/** Standard input copied to a private temporary file (0600) as it is read, in bounded memory. */
async function spoolStdin(): Promise<{ path: string; remove(): void }> {
  const dir = mkdtempSync(join(tmpdir(), 'nmcap-diff-'));
  const remove = (): void => rmSync(dir, { recursive: true, force: true });
  const path = join(dir, 'stdin');
  try {
    await pipeline(process.stdin, createWriteStream(path, { mode: 0o600 }));
  } catch (e) {
    remove();
    throw e;
  }
  return { path, remove };
}

/** One packet at a time from a source, with its port and timestamp. */
class Cursor {
  private batch: PacketBatch | undefined;
  private i = 0;
  done = false;
  count = 0;
  constructor(private readonly src: Source) {}
  async advance(): Promise<boolean> {
    while (!this.batch || this.i >= this.batch.count) {
      const n = await this.src.next();
      if (n.done) {
        this.done = true;
        return false;
      }
      this.batch = n.value;
      this.i = 0;
    }
    return true;
  }
  port(): string {
    return `if${this.batch!.iface[this.i]}`;
  }
  data(): Uint8Array {
    return this.batch!.data(this.i);
  }
  ts(): bigint | null {
    return this.batch!.ts(this.i);
  }
  close(): Promise<void> {
    return this.src.close();
  }
  step(): void {
    this.i++;
    this.count++;
  }
}

function take(m: Map<number, Waiting[]>, hash: number, cmp: Uint8Array): Waiting | undefined {
  const q = m.get(hash);
  if (!q) return undefined;
  const j = q.findIndex((w) => sameBytes(w.cmp, w.cmp.length, cmp, cmp.length));
  if (j < 0) return undefined;
  const [w] = q.splice(j, 1);
  if (q.length === 0) m.delete(hash);
  return w;
}

function hasTwin(m: Map<number, Waiting[]>, cmp: Uint8Array): boolean {
  if (m.size === 0) return false;
  return m.get(hashBytes(cmp))?.some((w) => sameBytes(w.cmp, w.cmp.length, cmp, cmp.length)) ?? false;
}

function wait(m: Map<number, Waiting[]>, hash: number, w: Waiting): void {
  const q = m.get(hash);
  if (q) q.push(w);
  else m.set(hash, [w]);
}

const copy = (d: Uint8Array): Uint8Array => Uint8Array.prototype.slice.call(d);

/** Compares EXPECTED with ACTUAL as `nmcap --diff` does, streaming both ("-": standard input, one of them). */
export async function diffTraces(expectedPath: string, actualPath: string, opts: StreamDiffOptions = {}): Promise<StreamDiffResult> {
  if (expectedPath !== '-' && actualPath !== '-') return diffFiles(expectedPath, actualPath, opts);
  if (expectedPath === '-' && actualPath === '-') throw new Error('only one of the two captures can be standard input');
  const spool = await spoolStdin();
  try {
    return await diffFiles(expectedPath === '-' ? spool.path : expectedPath, actualPath === '-' ? spool.path : actualPath, opts);
  } finally {
    spool.remove();
  }
}

async function diffFiles(expectedPath: string, actualPath: string, opts: StreamDiffOptions): Promise<StreamDiffResult> {
  const order = opts.order ?? 'strict';
  const maxFailures = opts.maxFailures ?? 10;
  const timing = opts.timingToleranceNs;
  const norm: Normalizer = normalizer({ ignore: opts.ignore });
  const cmpOf = (d: Uint8Array): Uint8Array => (norm.copies ? norm.bytes(d) : d.subarray(0, norm.end(d)));
  const states = new Map<string, PortState>();
  const actPorts = new Set<string>(); // in the order the captured file first shows them, as the matcher lists ports
  const stateOf = (p: string): PortState => {
    let s = states.get(p);
    if (!s) states.set(p, (s = { exp: new Map(), act: new Map(), to: new IntList(1024), flow: new IntList(order === 'per-flow' ? 1024 : 0), expCount: 0, actBase: null, late: [] }));
    return s;
  };
  const expTs: (bigint | null)[] = []; // expected times, only with --timing
  let expBase: bigint | null = null;
  const checkTime = (s: PortState, k: number, eIndex: number, at: bigint | null): void => {
    const et = expTs[eIndex] ?? null;
    if (timing === undefined || at === null || et === null || expBase === null || s.actBase === null) return;
    const delta = at - s.actBase - (et - expBase);
    if ((delta < 0n ? -delta : delta) > timing) s.late.push(k);
  };

  const E = new Cursor(source(expectedPath));
  const A = new Cursor(source(actualPath));
  try {
    let eLive = await E.advance();
    let aLive = await A.advance();
    while (eLive || aLive) {
      // Fast path: the next packet of each file, on the same port, with the same comparable bytes.
      if (eLive && aLive && E.port() === A.port()) {
        const ed = E.data();
        const ad = A.data();
        const ec = cmpOf(ed);
        const ac = cmpOf(ad);
        const s = stateOf(E.port());
        actPorts.add(A.port());
        // Not past an earlier twin still waiting: duplicates pair first come, first served.
        const h = sameBytes(ec, ec.length, ac, ac.length) ? hashBytes(ec) : -1;
        if (h >= 0 && !s.exp.has(h) && !s.act.has(h)) {
          const g = E.count;
          const at = timing !== undefined ? A.ts() : null;
          if (timing !== undefined) {
            expTs[g] = E.ts();
            expBase ??= expTs[g]!;
            s.actBase ??= at;
          }
          s.expCount++;
          const k = s.to.n;
          s.to.push(g);
          if (order === 'per-flow') s.flow.push(flowHash(ad));
          checkTime(s, k, g, at);
          E.step();
          A.step();
          eLive = await E.advance();
          aLive = await A.advance();
          continue;
        }
      }
      // Otherwise advance a side whose packet completes a waiting pair (that realigns the two
      // files after a drop or an insertion), else the side that is behind.
      let takeE = !aLive;
      if (eLive && aLive) {
        const eNext = cmpOf(E.data());
        const aNext = cmpOf(A.data());
        if (hasTwin(stateOf(E.port()).act, eNext)) takeE = true;
        else if (hasTwin(stateOf(A.port()).exp, aNext)) takeE = false;
        else takeE = E.count <= A.count;
      }
      if (takeE) {
        const d = E.data();
        const s = stateOf(E.port());
        const g = E.count;
        if (timing !== undefined) {
          expTs[g] = E.ts();
          expBase ??= expTs[g]!;
        }
        s.expCount++;
        const c = cmpOf(d);
        const h = hashBytes(c);
        const w = take(s.act, h, c);
        if (w) {
          s.to.a[w.index] = g;
          checkTime(s, w.index, g, w.ts);
        } else wait(s.exp, h, { index: g, cmp: copy(c), data: copy(d), ts: timing !== undefined ? expTs[g]! : null });
        E.step();
        eLive = await E.advance();
      } else {
        const d = A.data();
        const s = stateOf(A.port());
        actPorts.add(A.port());
        const at = timing !== undefined ? A.ts() : null;
        if (at !== null) s.actBase ??= at;
        const k = s.to.n;
        const c = cmpOf(d);
        const h = hashBytes(c);
        const w = take(s.exp, h, c);
        s.to.push(w ? w.index : -1);
        if (order === 'per-flow') s.flow.push(flowHash(d));
        if (w) checkTime(s, k, w.index, at);
        else wait(s.act, h, { index: k, cmp: copy(c), data: copy(d), ts: at });
        A.step();
        aLive = await A.advance();
      }
    }
  } finally {
    await E.close();
    await A.close();
  }

  // The leftovers through the full matcher: changed (by tag or flow), missing and extra.
  const expectations: { packet: Uint8Array; ports: string; ignore?: readonly string[]; name: string }[] = [];
  const expIndex: number[] = [];
  const captures: Record<string, CapturedPacket[]> = {};
  const portOrder = [...new Set([...actPorts, ...states.keys()])];
  for (const p of portOrder) {
    const s = states.get(p)!;
    const waitingExp = [...s.exp.values()].flat().sort((x, y) => x.index - y.index);
    for (const w of waitingExp) {
      expectations.push({ packet: w.data, ports: p, ignore: opts.ignore, name: `expected packet ${w.index}` });
      expIndex.push(w.index);
    }
    captures[p] = [...s.act.values()].flat().sort((x, y) => x.index - y.index).map((w) => ({ data: w.data, ts: w.ts, index: w.index }));
  }
  const rest = matchPackets(expectations, captures, { order: 'unordered', maxFailures });

  // Order, judged as the matcher judges it: the longest non-decreasing run of paired indices stays.
  const zero = (): Counts => ({ captured: 0, matched: 0, missing: 0, extra: 0, reordered: 0, changed: 0, noise: 0, allowed: 0 });
  const ports: Record<string, Counts> = {};
  const stubs: { port: string; k: number; g: number; kind: 'reordered' | 'timing' }[] = [];
  for (const [p, s] of states) {
    const c = (ports[p] = zero());
    c.captured = s.to.n;
    const to = s.to.a.subarray(0, s.to.n);
    const reordered = new Set<number>();
    if (order !== 'unordered') {
      let prev = -1;
      let inOrder = true;
      for (let k = 0; k < to.length && inOrder; k++) {
        if (to[k]! < 0) continue;
        inOrder = to[k]! >= prev;
        prev = to[k]!;
      }
      if (!inOrder) {
        // Typed arrays: a million packets cost no boxed numbers.
        const groups = new Map<number, IntList>();
        for (let k = 0; k < to.length; k++) {
          if (to[k]! < 0) continue;
          const g = order === 'per-flow' ? s.flow.a[k]! : 0;
          let list = groups.get(g);
          if (!list) groups.set(g, (list = new IntList()));
          list.push(k);
        }
        for (const list of groups.values()) {
          const ks = list.a.subarray(0, list.n);
          const keep = nonDecreasingRun(ks.map((k) => to[k]!));
          ks.forEach((k, j) => {
            if (!keep[j]) reordered.add(k);
          });
        }
      }
    }
    for (let k = 0; k < to.length; k++) if (to[k]! >= 0) c.matched++;
    c.reordered = reordered.size;
    for (const k of reordered) stubs.push({ port: p, k, g: to[k]!, kind: 'reordered' });
    for (const k of s.late) stubs.push({ port: p, k, g: to[k]!, kind: 'timing' });
    const r = rest.ports[p];
    if (r) for (const key of ['matched', 'missing', 'extra', 'changed', 'noise', 'allowed'] as const) c[key] += r[key];
  }

  // Failures in the matcher's order: per port by arrival, then the missing ones. The leftovers'
  // matcher describes its first maxFailures in that order too, so these are the first overall.
  type Pending = { port: string; k: number; rank: number; failure?: Failure; stub?: (typeof stubs)[number] };
  const all: Pending[] = [];
  for (const f of rest.failures) {
    if (f.expectation !== undefined) f.expectation = expIndex[f.expectation]!;
    if (f.kind === 'missing') all.push({ port: f.port, k: Number.MAX_SAFE_INTEGER, rank: 1, failure: f });
    else all.push({ port: f.port, k: f.actual?.index ?? 0, rank: 0, failure: f });
  }
  for (const st of stubs) all.push({ port: st.port, k: st.k, rank: 0, stub: st });
  all.sort((x, y) => x.rank - y.rank || portOrder.indexOf(x.port) - portOrder.indexOf(y.port) || x.k - y.k);
  const shown = all.slice(0, maxFailures);
  const needAct = new Map<string, Set<number>>();
  const needExp = new Set<number>();
  for (const x of shown) {
    if (!x.stub) continue;
    (needAct.get(x.port) ?? needAct.set(x.port, new Set()).get(x.port)!).add(x.stub.k);
    needExp.add(x.stub.g);
  }
  const got = needExp.size > 0 ? await reread(expectedPath, actualPath, needExp, needAct) : { exp: new Map(), act: new Map() };
  const missing = shown.flatMap((x) => (x.failure?.kind === 'missing' ? [x.failure] : []));
  if (missing.length > 0) await closestCandidates(actualPath, missing, states);
  const failures: Failure[] = shown.map((x) => {
    if (x.failure) return x.failure;
    const st = x.stub!;
    const actual = got.act.get(`${st.port}\0${st.k}`)!;
    const expected = got.exp.get(st.g);
    const message = st.kind === 'reordered'
      ? `packet ${st.k} on ${st.port} (expected packet ${st.g}) arrived out of ${order === 'per-flow' ? 'flow ' : ''}order`
      : `packet ${st.k} on ${st.port} is off its expected time by more than ${timing} ns`;
    return { kind: st.kind, port: st.port, expectation: st.g, expected, actual: { port: st.port, index: st.k, ...actual }, message };
  });

  const total = zero();
  for (const c of Object.values(ports)) for (const k of Object.keys(total) as (keyof Counts)[]) total[k] += c[k];
  const failureCount = rest.failureCount + stubs.length;
  const result: MatchResult = {
    ok: failureCount === 0,
    order,
    ports,
    total,
    failures,
    failureCount,
    // Per-packet verdicts are what the streaming form does not keep: a report needs only the above.
    status: {},
    matchedTo: Object.fromEntries([...states].map(([p, s]) => [p, s.to.a.subarray(0, s.to.n)])),
    expectations: [],
  };
  return { result, expectedPackets: E.count, actualPackets: A.count };
}

/** Reads again the few packets a report shows: expected by file index, captured by port and index. */
async function reread(
  expectedPath: string,
  actualPath: string,
  exp: Set<number>,
  act: Map<string, Set<number>>,
): Promise<{ exp: Map<number, Uint8Array>; act: Map<string, CapturedPacket> }> {
  const outExp = new Map<number, Uint8Array>();
  const outAct = new Map<string, CapturedPacket>();
  const e = new Cursor(source(expectedPath));
  try {
    while (outExp.size < exp.size && (await e.advance())) {
      if (exp.has(e.count)) outExp.set(e.count, copy(e.data()));
      e.step();
    }
  } finally {
    await e.close();
  }
  const a = new Cursor(source(actualPath));
  const perPort = new Map<string, number>();
  const want = [...act.values()].reduce((n, s) => n + s.size, 0);
  try {
    while (outAct.size < want && (await a.advance())) {
      const p = a.port();
      const k = perPort.get(p) ?? 0;
      perPort.set(p, k + 1);
      if (act.get(p)?.has(k)) outAct.set(`${p}\0${k}`, { data: copy(a.data()), ts: a.ts() });
      a.step();
    }
  } finally {
    await a.close();
  }
  return { exp: outExp, act: outAct };
}

/**
 * The closest captured candidate of each missing packet shown, by the in-memory matcher's rule
 * (match.ts closest()): among the first CLOSEST_WINDOW packets of its port, the fewest differing
 * bytes, one no expected packet paired with if there is any (`to` < 0), else any. One more pass
 * over the start of the captured file; only the best so far are copied.
 */
async function closestCandidates(actualPath: string, missing: Failure[], states: Map<string, PortState>): Promise<void> {
  type Best = { score: number; ref?: PacketRef & CapturedPacket };
  const wanted = missing.map((f) => ({ f, free: { score: Infinity } as Best, taken: { score: Infinity } as Best }));
  const ports = new Set(missing.map((f) => f.port));
  const a = new Cursor(source(actualPath));
  const perPort = new Map<string, number>();
  let open = ports.size; // ports whose window is not read through yet
  try {
    while (open > 0 && (await a.advance())) {
      const p = a.port();
      const k = perPort.get(p) ?? 0;
      perPort.set(p, k + 1);
      if (ports.has(p) && k < CLOSEST_WINDOW) {
        const free = (states.get(p)?.to.a[k] ?? -1) < 0;
        const d = a.data();
        for (const w of wanted) {
          if (w.f.port !== p || !w.f.expected) continue;
          const best = free ? w.free : w.taken;
          const score = unlikeness(d, w.f.expected);
          if (score < best.score) {
            best.score = score;
            best.ref = { port: p, index: k, data: copy(d), ts: a.ts() };
          }
        }
        if (k + 1 === CLOSEST_WINDOW) open--;
      }
      a.step();
    }
  } finally {
    await a.close();
  }
  for (const w of wanted) w.f.actual = w.free.ref ?? w.taken.ref;
}
