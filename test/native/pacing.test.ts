// The replay schedule: every deadline is k * 1e9 * den / num exactly (floor), however long the run,
// whatever the rate; computed incrementally in the loop, checked here against BigInt arithmetic.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { PacerSimConfig } from '../../src/ports/binding.js';
import { nativeTest as native } from '../helpers/native-test.js';

const exact = (k: bigint, num: bigint, den: bigint) => (k * 1_000_000_000n * den) / num;

it('fixed packet rates: exact deadlines from the start, no drift', () => {
  fc.assert(
    fc.property(
      fc.bigInt({ min: 1n, max: 100_000_000_000n }),
      fc.bigInt({ min: 1n, max: 1_000_000n }),
      fc.bigInt({ min: 0n, max: 1n << 40n }),
      (num, den, first) => {
        fc.pre(exact(first + 500n, num, den) < 1n << 63n); // deadlines are u64 ns: ~292 years of replay
        const got = native.ppsDeadlines(num, den, first, 500);
        for (let i = 0; i < 500; i++) expect(got[i]).toBe(exact(first + BigInt(i), num, den));
      },
    ),
    { numRuns: 300 },
  );
});

it('stays exact over billions of packets (k * 1e9 beyond 2^64 is computed in 128 bits)', () => {
  const k = 50_000_000_000n; // ~4.6 hours at 3 Mpps; k * 1e9 = 5e19 > 2^64
  const got = native.ppsDeadlines(3_000_000n, 1n, k, 3);
  expect([...got]).toEqual([exact(k, 3_000_000n, 1n), exact(k + 1n, 3_000_000n, 1n), exact(k + 2n, 3_000_000n, 1n)]);
  const many = 9_000_000_000_000n; // 9e12 packets at 10 Mpps: 10.4 days; k * 1e9 = 9e21
  expect(native.ppsDeadlines(10_000_000n, 1n, many, 2)[1]).toBe(exact(many + 1n, 10_000_000n, 1n));
});

// --- the pacer: the policy between "due time" and "put", driven by a simulated sender ------------

const NO_TS = 0xffffffff;

interface SimPackets {
  len?: number[];
  /** trace timestamps, ns since the epoch (null = the record carries none) */
  ts?: (bigint | null)[];
  /** indices of records that start a new pass over the trace */
  passStarts?: number[];
}

function sim(config: PacerSimConfig, n: number, p: SimPackets = {}) {
  const len = new Uint32Array(n).fill(64);
  const sec = new Float64Array(n);
  const nsec = new Uint32Array(n);
  const pass = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    if (p.len) len[i] = p.len[i]!;
    const t = p.ts?.[i];
    if (t === null) nsec[i] = NO_TS;
    else if (t !== undefined) {
      sec[i] = Number(t / 1_000_000_000n);
      nsec[i] = Number(t % 1_000_000_000n);
    }
  }
  pass[0] = 1;
  for (const i of p.passStarts ?? []) pass[i] = 1;
  const r = native.pacerSimulate(config, len, sec, nsec, pass);
  const err = [...r.departed].map((d, i) => d - r.due[i]!);
  return { ...r, err, maxErr: err.reduce((a, b) => Math.max(a, b), -Infinity), minErr: err.reduce((a, b) => Math.min(a, b), Infinity) };
}

describe('pacer', () => {
  it('pps: deadlines k * 1e9 / rate; a sender that keeps up syncs each packet as it falls due', () => {
    const r = sim({ mode: 'pps', rateNum: 3, rateDen: 1, perPacketNs: 100, syncNs: 500 }, 10);
    for (let k = 0; k < 10; k++) expect(r.due[k]).toBe(Number(exact(BigInt(k), 3n, 1n)));
    expect(r.syncs).toBe(10);
    // waited until due, put (100 ns), synced (500 ns): nothing later than that
    expect(r.err).toEqual(new Array(10).fill(600));
  });

  it('bps: a packet is due when the bits before it have had their time', () => {
    const len = [100, 200, 50, 1500, 64];
    const r = sim({ mode: 'bps', rateNum: 1_000_000, rateDen: 1 }, len.length, { len });
    let bits = 0n;
    for (let i = 0; i < len.length; i++) {
      expect(r.due[i]).toBe(Number((bits * 1_000_000_000n) / 1_000_000n));
      bits += BigInt(len[i]! * 8);
    }
    expect(r.due[3]).toBe(2_800_000); // 350 bytes before it at 1 Mbit/s
  });

  it('bps with a fractional rate stays exact (2.5 kbit/s as 5/2)', () => {
    const r = sim({ mode: 'bps', rateNum: 5000, rateDen: 2 }, 3, { len: [10, 10, 10] });
    expect([...r.due]).toEqual([0, 32_000_000, 64_000_000]);
  });

  it('trace timing times x: relative to the first record; stamps out of order or missing never reorder', () => {
    const t0 = 1_700_000_000_000_000_000n;
    const ts = [t0, t0 + 1_000_000_000n, t0 + 1_500_000_000n, t0 + 1_200_000_000n, null, t0 + 3_000_000_001n];
    const x2 = sim({ mode: 'multiplier', multNum: 2, multDen: 1 }, ts.length, { ts });
    expect([...x2.due]).toEqual([0, 500_000_000, 750_000_000, 750_000_000, 750_000_000, 1_500_000_000]);
    const half = sim({ mode: 'multiplier', multNum: 1, multDen: 2 }, 2, { ts });
    expect([...half.due]).toEqual([0, 2_000_000_000]);
  });

  it('trace timing across loop passes: each pass starts one average gap after the last one ended', () => {
    const t0 = 1_000_000_000n;
    const one = [t0, t0 + 1_000_000_000n, t0 + 2_000_000_000n];
    const r = sim({ mode: 'multiplier', multNum: 1, multDen: 1 }, 6, { ts: [...one, ...one], passStarts: [3] });
    expect([...r.due]).toEqual([0, 1e9, 2e9, 3e9, 4e9, 5e9]);
  });

  it('above 4 Mpps: sleeps in quanta and sends what is due as one burst, reading the clock per burst', () => {
    const n = 200_000;
    const r = sim({ mode: 'pps', rateNum: 10_000_000, perPacketNs: 30, syncNs: 1000, wakeNs: 5000 }, n);
    expect(r.clockReads / n).toBeLessThan(0.02);
    expect(n / r.syncs).toBeGreaterThan(100);
    expect(r.burstMax).toBeLessThanOrEqual(512);
    // the rate holds: the last packet leaves within a quantum, a wake-up and a burst of its deadline
    expect(r.err[n - 1]).toBeLessThan(50_000 + 5000 + 512 * 30 + 1000);
    expect(r.minErr).toBeGreaterThanOrEqual(0);
  });

  it('above 4 Mpps: what fell due while a burst went out is sent on, except what is only just due: that waits for the next quantum', () => {
    // At 30-60 ns a packet, a 500-packet burst takes 15-30 us, and 150-300 more fall due meanwhile.
    // Those are sent on; the few due less than 3 us (kJustDueNs) wait for the next quantum,
    // where chasing them a few at a time cost a clock reading (and a trip through the general
    // path) per handful: 4.5-5.6 readings a sync before, under 3.5 now.
    const n = 200_000;
    for (const perPacketNs of [30, 60]) {
      const r = sim({ mode: 'pps', rateNum: 10_000_000, perPacketNs, syncNs: 1000, wakeNs: 5000 }, n);
      expect(r.clockReads / r.syncs).toBeLessThan(3.5);
      // nothing leaves early, and nothing later than two quanta, a wake-up and a burst
      expect(r.minErr).toBeGreaterThanOrEqual(0);
      expect(r.maxErr).toBeLessThan(2 * 50_000 + 5000 + 512 * perPacketNs);
      // the rate holds
      expect(r.err[n - 1]).toBeLessThan(50_000 + 5000 + 512 * perPacketNs + 1000);
    }
  });

  it('a sender that cannot keep up: bursts grow to the topspeed size, without a clock read per packet', () => {
    const n = 20_000;
    const r = sim({ mode: 'pps', rateNum: 1_000_000, perPacketNs: 2000, syncNs: 1000 }, n);
    expect(r.burstMax).toBe(512);
    expect(r.clockReads).toBeLessThan(n / 100);
  });

  it('--burst fixes the burst size whatever the lateness', () => {
    const r = sim({ mode: 'pps', rateNum: 10_000_000, burst: 8, perPacketNs: 30, syncNs: 1000, wakeNs: 5000 }, 10_000);
    expect(r.burstMax).toBe(8);
    const slow = sim({ mode: 'pps', rateNum: 1_000_000, burst: 8, perPacketNs: 2000 }, 2000);
    expect(slow.burstMax).toBe(8);
  });

  it('syncs dearer than the gap: a late sender holds packets to share a sync, never longer than the hold limit', () => {
    const n = 5000;
    // 100 kpps (10 us apart) with a 30 us sync: syncing each packet would fall behind for good
    const r = sim({ mode: 'pps', rateNum: 100_000, perPacketNs: 100, syncNs: 30_000 }, n);
    expect(n / r.syncs).toBeGreaterThan(2);
    // nothing waits for its sync longer than the hold limit (20 us) plus a gap, a sync and the puts
    expect(r.maxErr).toBeLessThan(20_000 + 10_000 + 30_000 + 10_000);
    expect(r.err[n - 1]).toBeLessThan(70_000); // still on schedule at the end
  });

  it('topspeed: everything due at once, full bursts, no clock read but the syncs', () => {
    const n = 5120;
    const r = sim({ mode: 'topspeed' }, n);
    expect([...new Set(r.due)]).toEqual([0]);
    expect(r.syncs).toBe(10);
    expect(r.clockReads).toBe(10);
  });
});
