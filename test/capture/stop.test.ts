import { describe, expect, it } from 'vitest';

import { StopConditionError, parseStopConditions } from '../../src/capture/stop.js';

describe('stop conditions (-c, -a as dumpcap)', () => {
  it('reads every -a form', () => {
    expect(parseStopConditions(['duration:2.5', 'packets:10', 'filesize:100', 'files:3'])).toEqual({
      duration: 2.5,
      packets: 10,
      filesizeKB: 100,
      files: 3,
    });
  });

  it('-c and -a packets both limit: the smaller wins; the last of a repeated key counts', () => {
    expect(parseStopConditions(['packets:50'], 20)).toEqual({ packets: 20 });
    expect(parseStopConditions(['packets:5'], 20)).toEqual({ packets: 5 });
    expect(parseStopConditions(['duration:9', 'duration:3'])).toEqual({ duration: 3 });
    expect(parseStopConditions([], undefined, 4)).toEqual({ duration: 4 });
    expect(parseStopConditions([])).toEqual({});
  });

  it.each([
    ['packets:0', /packets: needs a positive whole number, got "0"/],
    ['packets:1.5', /whole number/],
    ['duration:-1', /duration: needs a positive number/],
    ['duration:', /got ""/],
    ['filesize:lots', /filesize/],
    ['size:10', /use duration:S, packets:N, filesize:KB or files:N/],
    ['duration', /duration/],
  ])('refuses %s with one line', (cond, why) => {
    expect(() => parseStopConditions([cond])).toThrow(StopConditionError);
    expect(() => parseStopConditions([cond])).toThrow(why);
  });
});
