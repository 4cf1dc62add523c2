// nmreplay's link emulation options (netmap nmreplay's -D, -L, -B), parsed into what the native
// stage (native/loops/link_emu.h) runs: --delay, --loss, --bandwidth and the seed that makes a
// run repeatable. Nothing here runs per packet.
import { UsageError } from '../errors.js';
import type { LinkEmuConfig } from '../ports/binding.js';
import { formatSi, parseRate } from './rate.js';

/** Ethernet's framing per packet on the wire: preamble and SFD (8), FCS (4), inter-frame gap (12). */
export const ETHERNET_OVERHEAD_BYTES = 24;

const TIME_UNITS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, ms: 1e6, s: 1e9 };

/** "10us", "1.5ms", "250ns", "2s" as whole nanoseconds. */
export function parseDuration(option: string, text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)\s*(ns|us|µs|ms|s)\s*$/.exec(text);
  const ns = m ? Math.round(Number(m[1]) * TIME_UNITS[m[2]!]!) : NaN;
  if (!Number.isSafeInteger(ns)) throw new UsageError(`${option}: bad time '${text}': give a number with a unit, e.g. 10us, 1.5ms, 250ns, 2s`);
  return ns;
}

const DELAY_FORMS = "a constant (10us, constant,10us), uniform between two times (10us..50us, uniform,10us,50us) or exponential (exp,MEAN,MIN, e.g. exp,100us,10us)";

/** --delay: constant, uniform MIN..MAX, or exponential with a mean and a minimum. */
export function parseDelay(text: string): NonNullable<LinkEmuConfig['delay']> {
  const t = text.trim();
  const parts = t.split(',').map((s) => s.trim());
  const bad = (why: string) => new UsageError(`--delay '${text}': ${why}; give ${DELAY_FORMS}`);
  const range = /^(.+?)\.\.(.+)$/.exec(t);
  if (range || parts[0] === 'uniform') {
    const [a, b] = range ? [range[1]!, range[2]!] : [parts[1], parts[2]];
    if (a === undefined || b === undefined || (!range && parts.length !== 3)) throw bad('uniform needs a minimum and a maximum');
    const minNs = parseDuration('--delay', a);
    const maxNs = parseDuration('--delay', b);
    if (maxNs < minNs) throw bad('the maximum is below the minimum');
    return { kind: 'uniform', minNs, maxNs };
  }
  if (parts[0] === 'exp' || parts[0] === 'exponential') {
    if (parts.length !== 3) throw bad('exponential needs a mean and a minimum');
    // netmap's nmreplay has taken them in both orders over its versions; the mean is never
    // below the minimum, so the larger one is the mean.
    const x = parseDuration('--delay', parts[1]!);
    const y = parseDuration('--delay', parts[2]!);
    return { kind: 'exponential', meanNs: Math.max(x, y), minNs: Math.min(x, y) };
  }
  if (parts[0] === 'constant' || parts[0] === 'const') {
    if (parts.length !== 2) throw bad('constant takes one time');
    return { kind: 'constant', minNs: parseDuration('--delay', parts[1]!) };
  }
  if (parts.length !== 1) throw bad(`'${parts[0]}' is not a kind of delay`);
  return { kind: 'constant', minNs: parseDuration('--delay', t) };
}

/** --loss: a packet loss rate (0.01, 1%, plr,0.01) or a bit error rate (ber,1e-6). */
export function parseLoss(text: string): NonNullable<LinkEmuConfig['loss']> {
  const parts = text.trim().split(',').map((s) => s.trim());
  const kind = parts.length === 2 ? parts[0] : 'plr';
  const value = parts.length === 2 ? parts[1]! : parts[0]!;
  const bad = (why: string) =>
    new UsageError(`--loss '${text}': ${why}; give a packet loss rate (0.01, 1%, plr,0.01) or a bit error rate (ber,1e-6)`);
  if (parts.length > 2 || (kind !== 'plr' && kind !== 'ber')) throw bad(`'${kind}' is not plr or ber`);
  const m = /^(\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)(%?)$/.exec(value);
  if (!m) throw bad(`'${value}' is not a number`);
  const rate = Number(m[1]) / (m[2] ? 100 : 1);
  if (!(rate >= 0 && rate <= 1)) throw bad('a rate is between 0 and 1 (0% and 100%)');
  return { kind: kind === 'ber' ? 'bit' : 'packet', rate };
}

/** --bandwidth: bits per second (1Gbps), with ",eth" (or nmreplay's "ether,") for Ethernet's 24 bytes of framing. */
export function parseBandwidth(text: string): NonNullable<LinkEmuConfig['bandwidth']> {
  const parts = text.trim().split(',').map((s) => s.trim());
  const bad = (why: string) =>
    new UsageError(`--bandwidth '${text}': ${why}; give bits per second (1Gbps, 100Mbps), with ',eth' to count Ethernet framing (1Gbps,eth)`);
  let eth = false;
  let rateText: string;
  if (parts.length === 1) rateText = parts[0]!;
  else if (parts.length === 2 && (parts[0] === 'ether' || parts[0] === 'eth')) (eth = true), (rateText = parts[1]!);
  else if (parts.length === 2 && (parts[0] === 'constant' || parts[0] === 'const')) rateText = parts[1]!;
  else if (parts.length === 2 && (parts[1] === 'eth' || parts[1] === 'ether')) (eth = true), (rateText = parts[0]!);
  else throw bad('unknown form');
  let rate;
  try {
    rate = parseRate(rateText);
  } catch (e) {
    throw bad((e as Error).message);
  }
  if (rate.unit !== 'bps') throw bad(`'${rateText}' is a packet rate, not bits per second`);
  return { num: rate.num, den: rate.den, overheadBytes: eth ? ETHERNET_OVERHEAD_BYTES : 0 };
}

export interface LinkEmuOptions {
  delay?: string;
  loss?: string;
  bandwidth?: string;
  seed?: number;
}

/** The native stage's config, or undefined when no option asks for emulation. A seed is drawn when none is given. */
export function linkEmuConfig(o: LinkEmuOptions): LinkEmuConfig | undefined {
  if (o.seed !== undefined && !(Number.isSafeInteger(o.seed) && o.seed >= 0)) {
    throw new UsageError(`--seed needs a whole number from 0 to ${Number.MAX_SAFE_INTEGER}, got ${String(o.seed)}`);
  }
  if (o.delay === undefined && o.loss === undefined && o.bandwidth === undefined) return undefined;
  const c: LinkEmuConfig = { seed: o.seed ?? randomSeed() };
  if (o.delay !== undefined) c.delay = parseDelay(o.delay);
  if (o.loss !== undefined) c.loss = parseLoss(o.loss);
  if (o.bandwidth !== undefined) c.bandwidth = parseBandwidth(o.bandwidth);
  return c;
}

/** A random 48-bit seed (Web Crypto, loaded only when a run needs one: nmreplay's start-up stays lean). */
function randomSeed(): number {
  const w = globalThis.crypto.getRandomValues(new Uint32Array(2));
  return w[0]! * 0x10000 + (w[1]! & 0xffff);
}

function time(ns: number): string {
  if (ns < 1e3) return `${ns}ns`;
  if (ns < 1e6) return `${Number((ns / 1e3).toPrecision(6))}us`;
  if (ns < 1e9) return `${Number((ns / 1e6).toPrecision(6))}ms`;
  return `${Number((ns / 1e9).toPrecision(6))}s`;
}

/** One line for the report: what the emulated link did. */
export function describeLinkEmu(c: LinkEmuConfig): string {
  const parts: string[] = [];
  if (c.bandwidth) parts.push(`bandwidth ${formatSi(c.bandwidth.num / c.bandwidth.den)}bps${c.bandwidth.overheadBytes ? ` (+${c.bandwidth.overheadBytes} bytes Ethernet framing per packet)` : ''}`);
  if (c.loss) parts.push(c.loss.kind === 'packet' ? `packet loss rate ${c.loss.rate}` : `bit error rate ${c.loss.rate}`);
  const d = c.delay;
  if (d?.kind === 'constant') parts.push(`delay ${time(d.minNs)}`);
  if (d?.kind === 'uniform') parts.push(`delay uniform ${time(d.minNs)}..${time(d.maxNs!)}`);
  if (d?.kind === 'exponential') parts.push(`delay exponential, mean ${time(d.meanNs!)}, minimum ${time(d.minNs)}`);
  return `${parts.join(', ')}; seed ${c.seed}`;
}
