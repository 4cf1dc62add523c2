// The benchmark's precision floor (bench/replay.bench.mjs section 5): an ideal sender that departs
// a schedule on one placed thread and only reads the clock. What it reports must be a schedule's
// departures, measured on the thread placed as asked; how late they were depends on the machine,
// so only the relations between the numbers are checked.
import { describe, expect, it } from 'vitest';
import { allowedCpus } from '../../src/replay/sender-cpus.js';
import { nativeTest } from '../helpers/native-test.js';

describe('spinProbe', () => {
  it('departs at most the schedule of the duration, each at or after its deadline', () => {
    const r = nativeTest.spinProbe({ ratePps: 100_000, durationMs: 50 });
    expect(r.departures).toBeGreaterThan(0);
    expect(r.departures).toBeLessThanOrEqual(100_000 * 0.05 + 1);
    expect(r.p50Ns).toBeLessThanOrEqual(r.p99Ns);
    expect(r.p99Ns).toBeLessThanOrEqual(r.p999Ns);
    expect(r.p999Ns).toBeLessThanOrEqual(r.maxNs);
    expect(r.maxGapNs).toBeGreaterThanOrEqual(0);
    expect(r.stalledNs).toBeGreaterThanOrEqual(r.stalls * 10_000);
    expect(r.policy).toBe('SCHED_OTHER');
  });

  it('runs on the CPU it was given', () => {
    const cpu = (allowedCpus() ?? [0]).at(-1)!;
    const r = nativeTest.spinProbe({ ratePps: 100_000, durationMs: 20, cpu });
    expect(r.cpuError).toBe('');
    expect(r.cpus).toEqual([cpu]);
  });

  it('refuses a rate of zero', () => {
    expect(() => nativeTest.spinProbe({ ratePps: 0, durationMs: 1 })).toThrow(/ratePps/);
  });
});
