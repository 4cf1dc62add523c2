// One definition per error code: every code the addon or src/ can raise is in src/errors.ts's
// table, and errors coming out of the addon become the NmcapError subclass the table names.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, NmcapError, PortError, UsageError, fromNative, isErrorCode } from '../../src/errors.js';
import { native } from '../../src/ports/binding.js';
import { parseMultiplier, parseRate } from '../../src/replay/rate.js';

const ROOT = join(import.meta.dirname, '..', '..');

function filesUnder(dir: string, ext: RegExp): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => ext.test(f))
    .map((f) => join(ROOT, dir, f));
}

/** Every quoted ERR_... literal in the files, with where it was found. */
function codesIn(files: string[]): Map<string, string> {
  const found = new Map<string, string>();
  for (const f of files) {
    for (const m of readFileSync(f, 'utf8').matchAll(/["'`](ERR_[A-Z0-9_]+)["'`]/g)) found.set(m[1]!, f.slice(ROOT.length + 1));
  }
  return found;
}

describe('the error code table', () => {
  it('holds every code the native addon can throw (grep native/ for ERR_)', () => {
    const native = codesIn(filesUnder('native', /\.(cc|h)$/));
    expect(native.size).toBeGreaterThan(10);
    const missing = [...native].filter(([c]) => !isErrorCode(c)).map(([c, f]) => `${c} (${f})`);
    expect(missing).toEqual([]);
  });

  it('holds every code src/ spells', () => {
    const src = codesIn(filesUnder('src', /\.ts$/).filter((f) => !f.endsWith('errors.ts')));
    const missing = [...src].filter(([c]) => !isErrorCode(c)).map(([c, f]) => `${c} (${f})`);
    expect(missing).toEqual([]);
  });

  it('gives each code a class and a meaning', () => {
    for (const [code, e] of Object.entries(ERROR_CODES)) {
      expect(code).toMatch(/^ERR_[A-Z0-9_]+$/);
      expect(e.meaning.length, code).toBeGreaterThan(10);
      const wrapped = fromNative(Object.assign(new Error('m'), { code }));
      expect(wrapped, code).toBeInstanceOf(NmcapError);
      expect((wrapped as NmcapError).code).toBe(code);
      if (e.class === 'PortError') expect(wrapped, code).toBeInstanceOf(PortError);
    }
  });
});

describe('errors from the addon', () => {
  it('a bad port name and a closed port come out as PortErrors with their codes', () => {
    let err: unknown;
    try {
      new native.Port('pipe:x');
    } catch (e) {
      err = fromNative(e);
    }
    expect(err).toBeInstanceOf(PortError);
    expect((err as PortError).code).toBe('ERR_PORT_BAD_NAME');

    const port = new native.Port(`pipe:codes${process.pid}{0`);
    port.close();
    try {
      port.info();
      err = undefined;
    } catch (e) {
      err = fromNative(e);
    }
    expect(err).toBeInstanceOf(PortError);
    expect((err as PortError).code).toBe('ERR_PORT_CLOSED');
  });

  it('leaves errors without a known code alone', () => {
    const plain = new TypeError('x');
    expect(fromNative(plain)).toBe(plain);
    const other = Object.assign(new Error('y'), { code: 'ENOENT' });
    expect(fromNative(other)).toBe(other);
  });
});

describe('parsers throw UsageErrors, not RangeErrors', () => {
  it.each([['fast'], ['0'], ['10mpps'], ['-5']])('parseRate(%j)', (text) => {
    expect(() => parseRate(text)).toThrow(UsageError);
    expect(() => parseRate(text)).toThrow(expect.objectContaining({ code: 'ERR_USAGE_BAD_RATE' }));
  });

  it.each([['0'], ['x'], ['-1']])('parseMultiplier(%j)', (text) => {
    expect(() => parseMultiplier(text)).toThrow(expect.objectContaining({ code: 'ERR_USAGE_BAD_MULTIPLIER', name: 'UsageError' }));
  });
});
