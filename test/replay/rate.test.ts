import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { formatRate, parseMultiplier, parseRate } from '../../src/replay/rate.js';

describe('parseRate', () => {
  it.each([
    ['1e6', 'pps', 1_000_000, 1],
    ['10MPPS', 'pps', 10_000_000, 1],
    ['10Mpps', 'pps', 10_000_000, 1],
    ['250kpps', 'pps', 250_000, 1],
    ['5000', 'pps', 5000, 1],
    ['2.5kpps', 'pps', 2500, 1],
    ['0.5pps', 'pps', 1, 2],
    ['1Gbps', 'bps', 1_000_000_000, 1],
    ['100Mbps', 'bps', 100_000_000, 1],
    ['1.5Gbps', 'bps', 1_500_000_000, 1],
    ['64kbps', 'bps', 64_000, 1],
    ['10MBps', 'bps', 80_000_000, 1],
    [' 3 Mpps ', 'pps', 3_000_000, 1],
  ])('%s', (text, unit, num, den) => {
    expect(parseRate(text)).toEqual({ unit, num, den });
  });

  it.each(['', 'fast', '10mpps', '-5', '10 Mb', '0', '0pps', '1..2Mpps', '99999999999999999999'])('rejects %j', (text) => {
    expect(() => parseRate(text)).toThrow(UsageError);
  });

  it('formats back', () => {
    expect(formatRate(parseRate('10Mpps'))).toBe('10Mpps');
    expect(formatRate(parseRate('2.5kpps'))).toBe('2.5kpps');
  });
});

describe('parseMultiplier', () => {
  it('keeps decimals exact', () => {
    expect(parseMultiplier('2')).toEqual({ num: 2, den: 1 });
    expect(parseMultiplier('0.5')).toEqual({ num: 1, den: 2 });
    expect(parseMultiplier('1.25')).toEqual({ num: 5, den: 4 });
    expect(parseMultiplier(3)).toEqual({ num: 3, den: 1 });
  });
  it.each(['0', '-1', 'x', ''])('rejects %j', (t) => expect(() => parseMultiplier(t)).toThrow(UsageError));
});
