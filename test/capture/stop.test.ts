import { describe, expect, it } from 'vitest';

import { KB, fileStopPlan, parseStopConditions, positiveValue } from '../../src/capture/stop.js';
import { UsageError } from '../../src/errors.js';
import { parseFileArgs } from '../../src/cli/capture-files-args.js';
import type { NmcapArgs } from '../../src/cli/common.js';

describe('stop conditions (-c, -a as dumpcap)', () => {
  it('reads every -a form', () => {
    expect(parseStopConditions(['duration:2.5', 'packets:10', 'filesize:100', 'files:3'])).toEqual({
      duration: 2.5,
      packets: 10,
      filesizeKB: 100,
      files: 3,
    });
  });

  it('-c and -a packets both limit: the smaller wins; so do --duration and -a duration; the last of a repeated key counts', () => {
    expect(parseStopConditions(['packets:50'], 20)).toEqual({ packets: 20 });
    expect(parseStopConditions(['packets:5'], 20)).toEqual({ packets: 5 });
    expect(parseStopConditions(['duration:9', 'duration:3'])).toEqual({ duration: 3 });
    expect(parseStopConditions([], undefined, 4)).toEqual({ duration: 4 });
    expect(parseStopConditions(['duration:2'], undefined, 4)).toEqual({ duration: 2 });
    expect(parseStopConditions([])).toEqual({});
  });

  it.each([
    ['packets:0', /^-a packets: needs a positive whole number, got "0"$/],
    ['packets:1.5', /whole number/],
    ['duration:-1', /duration: needs a positive number/],
    ['duration:', /got ""/],
    ['filesize:lots', /filesize/],
    ['files: ', /-a files: needs a positive whole number, got " "/],
    ['size:10', /^-a "size:10": use duration:S, packets:N, filesize:KB or files:N$/],
    ['duration', /duration/],
  ])('refuses %s with one usage line (ERR_USAGE)', (cond, why) => {
    expect(() => parseStopConditions([cond])).toThrow(UsageError);
    expect(() => parseStopConditions([cond])).toThrow(why);
    try {
      parseStopConditions([cond]);
    } catch (e) {
      expect((e as UsageError).code).toBe('ERR_USAGE');
    }
  });

  it('-b values use the same number rule and wording as -a', () => {
    expect(positiveValue('-b', 'interval', '60', true)).toBe(60);
    expect(() => positiveValue('-b', 'filesize', '1e400', true)).toThrow(/^-b filesize: needs a positive whole number, got "1e400"$/);
  });
});

describe('file stops (-a filesize, -a files) for the file writer', () => {
  it('filesize is in kB of 1000 bytes, as dumpcap; none gives no plan', () => {
    expect(KB).toBe(1000);
    expect(fileStopPlan(parseStopConditions(['filesize:20']), true, false)).toEqual({ filesize: 20_000 });
    expect(fileStopPlan(parseStopConditions(['files:2', 'filesize:5']), true, true)).toEqual({ files: 2, filesize: 5000 });
    expect(fileStopPlan(parseStopConditions(['packets:3', 'duration:1']), false, false)).toBeUndefined();
  });

  it('needs a file by name, and -b for files:N', () => {
    expect(() => fileStopPlan({ filesizeKB: 1 }, false, false)).toThrow(/are about files: give -w FILE/);
    expect(() => fileStopPlan({ files: 2 }, true, false)).toThrow(/^-a files:N stops after N files of a rotation: give -b too$/);
  });

  it('the CLI reads -a once: parseFileArgs takes the parsed conditions, -b beside them', () => {
    const a = { write: 'out.pcapng', ringBuffer: ['packets:100'], autostop: ['files:3', 'duration:9'] } as NmcapArgs;
    const stop = parseStopConditions(a.autostop, undefined, 5);
    expect(stop).toEqual({ files: 3, duration: 5 });
    expect(parseFileArgs(a, stop)).toEqual({ rotation: { packets: 100 }, fileStop: { files: 3 } });
    expect(parseFileArgs({ write: '-' } as NmcapArgs, parseStopConditions(['packets:4']))).toEqual({});
    expect(() => parseFileArgs({ write: '-' } as NmcapArgs, parseStopConditions(['filesize:4']))).toThrow(UsageError);
  });
});
