// The replay schedule: every deadline is k * 1e9 * den / num exactly (floor), however long the run,
// whatever the rate; computed incrementally in the loop, checked here against BigInt arithmetic.
import fc from 'fast-check';
import { expect, it } from 'vitest';
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
