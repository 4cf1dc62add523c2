// The link emulation stage (native/loops/link_emu.h) on its own, through the test addon: one
// seed gives one schedule, the delays and losses follow their distributions (bounds from N, at
// five standard errors), packets never reorder, and bandwidth serialisation times are exact.
// No clock is involved: offer times go in, departure times come out.
import { describe, expect, it } from 'vitest';
import type { LinkEmuConfig } from '../../src/ports/binding.js';
import { linkEmuConfig, parseBandwidth, parseDelay, parseDuration, parseLoss } from '../../src/replay/link-emu.js';
import { linkEmuSchedule } from '../helpers/link-emu-test.js';

const N = 100_000;

/** n packets of len bytes, offered every gapNs ns from 0. */
function offers(n: number, gapNs: number, len = 100): { at: BigUint64Array; len: Uint32Array } {
  const at = new BigUint64Array(n);
  for (let i = 0; i < n; i++) at[i] = BigInt(i) * BigInt(gapNs);
  return { at, len: new Uint32Array(n).fill(len) };
}

/** The delay each packet got (departure minus offer), packets far enough apart never to be held back by the one before. */
function delays(config: LinkEmuConfig, n = N): number[] {
  const o = offers(n, 1e9); // 1 s apart: no delay below reaches the next packet
  const s = linkEmuSchedule(config, o.at, o.len);
  return Array.from(s.at, (t, i) => Number(t - o.at[i]!));
}

const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;

describe('one seed, one schedule', () => {
  const config: LinkEmuConfig = { seed: 42, delay: { kind: 'uniform', minNs: 1000, maxNs: 90_000 }, loss: { kind: 'packet', rate: 0.1 } };
  const o = offers(10_000, 5000);

  it('the same seed gives the same departures and the same losses', () => {
    const a = linkEmuSchedule(config, o.at, o.len);
    const b = linkEmuSchedule(config, o.at, o.len);
    expect(b.at).toEqual(a.at);
    expect(b.lost).toEqual(a.lost);
    expect(a.lostCount).toBe(a.lost.reduce((s, x) => s + x, 0));
  });

  it('another seed gives another schedule', () => {
    const a = linkEmuSchedule(config, o.at, o.len);
    const b = linkEmuSchedule({ ...config, seed: 43 }, o.at, o.len);
    expect(b.lost).not.toEqual(a.lost);
    expect(b.at).not.toEqual(a.at);
  });
});

describe('delay', () => {
  it('constant: every packet exactly that much later', () => {
    const d = delays({ seed: 1, delay: { kind: 'constant', minNs: 12_345 } }, 1000);
    expect(new Set(d)).toEqual(new Set([12_345]));
  });

  it('uniform: within [min, max], mean and spread as a uniform distribution', () => {
    const min = 10_000, max = 50_000;
    const d = delays({ seed: 7, delay: { kind: 'uniform', minNs: min, maxNs: max } });
    expect(Math.min(...d)).toBeGreaterThanOrEqual(min);
    expect(Math.max(...d)).toBeLessThanOrEqual(max);
    const sigma = (max - min) / Math.sqrt(12);
    expect(Math.abs(mean(d) - (min + max) / 2)).toBeLessThan((5 * sigma) / Math.sqrt(N));
    // Each quarter of the range holds a quarter of the packets.
    for (let q = 0; q < 4; q++) {
      const lo = min + ((max - min) * q) / 4, hi = min + ((max - min) * (q + 1)) / 4;
      const f = d.filter((x) => x >= lo && (q === 3 ? x <= hi : x < hi)).length / N;
      expect(Math.abs(f - 0.25)).toBeLessThan(5 * Math.sqrt((0.25 * 0.75) / N));
    }
  });

  it('exponential: never below the minimum, mean as asked, median at min + (mean - min) ln 2', () => {
    const min = 20_000, avg = 120_000;
    const d = delays({ seed: 9, delay: { kind: 'exponential', minNs: min, meanNs: avg } });
    expect(Math.min(...d)).toBeGreaterThanOrEqual(min);
    const scale = avg - min; // the exponential's standard deviation
    expect(Math.abs(mean(d) - avg)).toBeLessThan((5 * scale) / Math.sqrt(N));
    const below = d.filter((x) => x < min + scale * Math.LN2).length / N;
    expect(Math.abs(below - 0.5)).toBeLessThan(5 * Math.sqrt(0.25 / N));
  });

  it('never reorders: a packet offered right after a long-delayed one leaves after it', () => {
    const o = offers(N, 100); // 100 ns apart, delays up to 1 ms
    const s = linkEmuSchedule({ seed: 3, delay: { kind: 'uniform', minNs: 0, maxNs: 1_000_000 } }, o.at, o.len);
    let held = 0, reordered = 0, early = 0;
    for (let i = 0; i < N; i++) {
      if (i > 0 && s.at[i]! < s.at[i - 1]!) reordered++;
      if (i > 0 && s.at[i] === s.at[i - 1]) held++;
      if (s.at[i]! < o.at[i]!) early++;
    }
    expect({ reordered, early }).toEqual({ reordered: 0, early: 0 });
    expect(held).toBeGreaterThan(0); // the clamp really acted
  });

  it('never reorders around lost packets either (a lost packet holds nothing back)', () => {
    const o = offers(N, 100);
    const s = linkEmuSchedule({ seed: 4, delay: { kind: 'exponential', minNs: 0, meanNs: 50_000 }, loss: { kind: 'packet', rate: 0.3 } }, o.at, o.len);
    let last = 0n, reordered = 0;
    for (let i = 0; i < N; i++) {
      if (s.lost[i]) continue;
      if (s.at[i]! < last) reordered++;
      last = s.at[i]!;
    }
    expect(reordered).toBe(0);
    expect(s.lostCount).toBeGreaterThan(0);
  });
});

describe('loss', () => {
  it('packet loss rate: the fraction lost is the rate', () => {
    const p = 0.05;
    const o = offers(N, 1000);
    const s = linkEmuSchedule({ seed: 11, loss: { kind: 'packet', rate: p } }, o.at, o.len);
    expect(Math.abs(s.lostCount / N - p)).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / N));
  });

  it('bit error rate: a packet is lost if any of its bits is hit, p = 1 - (1 - ber)^(8 len)', () => {
    const ber = 2e-5;
    const o = offers(N, 1000);
    for (let i = 0; i < N; i++) o.len[i] = i % 2 ? 1500 : 64;
    const s = linkEmuSchedule({ seed: 12, loss: { kind: 'bit', rate: ber } }, o.at, o.len);
    for (const len of [64, 1500]) {
      const p = 1 - (1 - ber) ** (8 * len);
      let lost = 0;
      for (let i = len === 64 ? 0 : 1; i < N; i += 2) lost += s.lost[i]!;
      const n = N / 2;
      expect(Math.abs(lost / n - p), `len ${len}`).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / n));
    }
  });

  it('rates 0 and 1: nothing lost, everything lost', () => {
    const o = offers(1000, 1000);
    expect(linkEmuSchedule({ seed: 1, loss: { kind: 'packet', rate: 0 } }, o.at, o.len).lostCount).toBe(0);
    expect(linkEmuSchedule({ seed: 1, loss: { kind: 'packet', rate: 1 } }, o.at, o.len).lostCount).toBe(1000);
  });
});

describe('bandwidth', () => {
  it('back-to-back packets leave at exact multiples of the serialisation time (no rounding drift)', () => {
    // 3 Mbit/s, 125 bytes + 24 framing: 1192 bits = 397333.33.. ns each, never a whole number.
    const n = 50_000, len = 125;
    const o = offers(n, 0, len);
    const s = linkEmuSchedule({ seed: 1, bandwidth: { num: 3_000_000, den: 1, overheadBytes: 24 } }, o.at, o.len);
    let off = 0;
    for (let k = 0; k < n; k++) {
      const exact = (BigInt(k + 1) * BigInt((len + 24) * 8) * 1_000_000_000n + 2_999_999n) / 3_000_000n; // ceil
      if (s.at[k] !== exact) off++;
    }
    expect(off).toBe(0);
    expect(s.at[n - 1]).toBe(19_866_666_667n); // 50000 x 397333.33 ns, rounded up once
  });

  it('a fractional rate (num/den bit/s) is exact too', () => {
    const o = offers(1000, 0, 1);
    const s = linkEmuSchedule({ seed: 1, bandwidth: { num: 25, den: 10, overheadBytes: 0 } }, o.at, o.len); // 2.5 bit/s
    expect(Array.from(s.at)).toEqual(Array.from({ length: 1000 }, (_, k) => (BigInt(k + 1) * 8n * 1_000_000_000n * 10n) / 25n));
  });

  it('an idle link starts a packet when it is offered; a busy one when it is free', () => {
    // 1 Gbit/s, 1000 bytes: 8000 ns each. Offers at 0, 1000 (link busy), 100000 (idle again).
    const at = BigUint64Array.from([0n, 1000n, 100_000n]);
    const s = linkEmuSchedule({ seed: 1, bandwidth: { num: 1e9, den: 1, overheadBytes: 0 } }, at, new Uint32Array([1000, 1000, 1000]));
    expect(Array.from(s.at)).toEqual([8000n, 16_000n, 108_000n]);
  });

  it('a lost packet still took its time on the link; the delay comes after the link', () => {
    const at = new BigUint64Array(1000);
    const s = linkEmuSchedule(
      { seed: 5, bandwidth: { num: 1e9, den: 1, overheadBytes: 0 }, loss: { kind: 'packet', rate: 0.5 }, delay: { kind: 'constant', minNs: 1e6 } },
      at,
      new Uint32Array(1000).fill(125), // 1000 ns each
    );
    const want = Array.from({ length: 1000 }, (_, k) => BigInt(k + 1) * 1000n + 1_000_000n);
    expect(Array.from(s.at)).toEqual(want);
    expect(s.lostCount).toBeGreaterThan(0);
  });
});

describe('option forms', () => {
  it('--delay: constant, uniform (two spellings), exponential (mean and minimum in either order)', () => {
    expect(parseDelay('10us')).toEqual({ kind: 'constant', minNs: 10_000 });
    expect(parseDelay('constant,1.5ms')).toEqual({ kind: 'constant', minNs: 1_500_000 });
    expect(parseDelay('10us..50us')).toEqual({ kind: 'uniform', minNs: 10_000, maxNs: 50_000 });
    expect(parseDelay('uniform,250ns,1us')).toEqual({ kind: 'uniform', minNs: 250, maxNs: 1000 });
    expect(parseDelay('exp,100us,10us')).toEqual({ kind: 'exponential', meanNs: 100_000, minNs: 10_000 });
    expect(parseDelay('exp,10us,100us')).toEqual({ kind: 'exponential', meanNs: 100_000, minNs: 10_000 });
    for (const bad of ['10', '10 parsecs', 'uniform,10us', '50us..10us', 'gauss,1us', 'exp,1us']) {
      expect(() => parseDelay(bad), bad).toThrow(expect.objectContaining({ code: 'ERR_USAGE', message: expect.stringMatching(/^--delay/) }));
    }
  });

  it('--loss: a packet loss rate (plain, percent, plr,) or a bit error rate (ber,)', () => {
    expect(parseLoss('0.01')).toEqual({ kind: 'packet', rate: 0.01 });
    expect(parseLoss('2%')).toEqual({ kind: 'packet', rate: 0.02 });
    expect(parseLoss('plr,0.5')).toEqual({ kind: 'packet', rate: 0.5 });
    expect(parseLoss('ber,1e-6')).toEqual({ kind: 'bit', rate: 1e-6 });
    for (const bad of ['1.5', '120%', 'xyz,0.1', 'ber', '-0.1']) expect(() => parseLoss(bad), bad).toThrow(/^--loss/);
  });

  it('--bandwidth: bits per second, with Ethernet framing on request', () => {
    expect(parseBandwidth('1Gbps')).toEqual({ num: 1e9, den: 1, overheadBytes: 0 });
    expect(parseBandwidth('1Gbps,eth')).toEqual({ num: 1e9, den: 1, overheadBytes: 24 });
    expect(parseBandwidth('ether,100Mbps')).toEqual({ num: 1e8, den: 1, overheadBytes: 24 });
    expect(parseBandwidth('2.5kbps')).toEqual({ num: 2500, den: 1, overheadBytes: 0 });
    for (const bad of ['10Mpps', '1Gbps,fddi', 'fast']) expect(() => parseBandwidth(bad), bad).toThrow(/^--bandwidth/);
  });

  it('times take a unit; the seed is a whole number, drawn at random when not given', () => {
    expect(parseDuration('--delay', '2s')).toBe(2e9);
    expect(() => parseDuration('--delay', '2')).toThrow(/give a number with a unit/);
    expect(linkEmuConfig({})).toBeUndefined();
    expect(linkEmuConfig({ loss: '0.1', seed: 5 })).toEqual({ seed: 5, loss: { kind: 'packet', rate: 0.1 } });
    const drawn = new Set(Array.from({ length: 5 }, () => linkEmuConfig({ loss: '0.1' })!.seed));
    expect(drawn.size).toBeGreaterThan(1);
    expect(() => linkEmuConfig({ loss: '0.1', seed: -1 })).toThrow(/--seed/);
  });
});
