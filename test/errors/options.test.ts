// Plain JavaScript callers get no type check: options objects are checked at run time, and a
// misspelt or mistyped option is an error with a code, never silently ignored.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Capture, Replay, parseRate } from '../../src/index.js';
import { OptionError, OutOfRangeError } from '../../src/errors.js';
import { openTrace } from '../../src/pcap/index.js';
import { pipeName } from '../helpers/cli.js';

const demo = new URL('../fixtures/demo.pcapng', import.meta.url).pathname;
const js = <T>(o: Record<string, unknown>): T => o as T; // what an untyped caller can pass

describe('Replay options', () => {
  it("refuses rate: '10Mpps' (a string where a Rate is wanted) with ERR_OPTION_TYPE and the way out", () => {
    const make = (): Replay => new Replay(js({ port: 'pipe:x{0', files: [demo], rate: '10Mpps' }));
    expect(make).toThrow(OptionError);
    expect(make).toThrow(expect.objectContaining({ code: 'ERR_OPTION_TYPE', message: expect.stringMatching(/'rate' must be a Rate object .*parseRate\('10Mpps'\).*got the string '10Mpps'/) }));
  });

  it.each([
    [{ port: 'pipe:x{0', files: [demo], rte: parseRate('1kpps') }, 'ERR_OPTION_UNKNOWN', /unknown option 'rte'/],
    [{ port: 'pipe:x{0', files: demo }, 'ERR_OPTION_TYPE', /'files' must be an array of strings/],
    [{ port: 'pipe:x{0', files: [demo], loop: -1 }, 'ERR_OPTION_TYPE', /'loop' must be a non-negative whole number, got number -1/],
    [{ port: 'pipe:x{0', files: [demo], topspeed: 'yes' }, 'ERR_OPTION_TYPE', /'topspeed' must be true or false/],
    [{ port: 'pipe:x{0', files: [demo], portOptions: { txslots: 64 } }, 'ERR_OPTION_UNKNOWN', /Replay options.portOptions: unknown option 'txslots'/],
    [{ files: [demo] }, 'ERR_OPTION_TYPE', /'port' is required/],
    [{ port: 'pipe:x{0', files: [demo], vlanPush: '5' }, 'ERR_OPTION_TYPE', /'vlanPush' must be a non-negative whole number, got the string '5'/],
  ])('%j', (opts, code, re) => {
    expect(() => new Replay(js(opts))).toThrow(expect.objectContaining({ code, message: expect.stringMatching(re) }));
  });

  it.each([
    [{ vlanPush: 4096 }, /VLAN ID from 0 to 4095, got 4096/],
    [{ vlanPush: 1, vlanPcp: 8 }, /priority from 0 to 7, got 8/],
    [{ vlanPcp: 1 }, /priority of a pushed tag/],
    [{ vlanPush: 1, vlanPop: true }, /use one of them/],
  ])('VLAN edits %j: ERR_USAGE before anything is opened', async (vlan, re) => {
    await expect(new Replay({ port: 'pipe:x{0', files: [demo], topspeed: true, ...vlan }).run()).rejects.toMatchObject({ code: 'ERR_USAGE', message: expect.stringMatching(re) });
  });

  it('takes a well-formed options object and runs', async () => {
    const name = pipeName('o');
    const capture = new Capture({ port: `pipe:${name}}0`, output: '/dev/null' });
    const captured = capture.run();
    const r = await new Replay({ port: `pipe:${name}{0`, files: [demo], rate: parseRate('10Mpps'), portOptions: { txSlots: 256 } }).run();
    expect((await captured).captured).toBe(r.packets);
  });
});

describe('Capture options', () => {
  it.each([
    [{ port: 'pipe:x}0', output: 'x.pcapng', snaplen: '128' }, 'ERR_OPTION_TYPE', /'snaplen' must be a non-negative whole number, got the string '128'/],
    [{ port: 'pipe:x}0', output: 'x.pcapng', promiscuous: false }, 'ERR_OPTION_UNKNOWN', /unknown option 'promiscuous'/],
    [{ port: 'pipe:x}0', output: {} }, 'ERR_OPTION_TYPE', /'output' must be a path, a file descriptor or a Writable/],
    [{ port: 'pipe:x}0' }, 'ERR_OPTION_TYPE', /'output' is required/],
  ])('%j', (opts, code, re) => {
    expect(() => new Capture(js(opts))).toThrow(expect.objectContaining({ code, message: expect.stringMatching(re) }));
  });
});

describe('PacketBatch', () => {
  it('an index past the end is an OutOfRangeError (ERR_OUT_OF_RANGE), not a TypeError', async () => {
    const reader = openTrace(readFileSync(demo));
    for await (const b of reader.batches()) {
      if (b.count === 0) continue;
      for (const i of [b.count, 99 + b.count, -1, 0.5]) {
        expect(() => b.ts(i)).toThrow(OutOfRangeError);
        expect(() => b.data(i)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
      }
      expect(b.data(b.count - 1).length).toBe(b.capLen[b.count - 1]);
      break;
    }
  });
});
