// The addon builds on CPUs other than x86: spin-waits use cpu_relax() (native/ring/cpu_relax.h),
// the only place that may name an architecture's pause instruction, and its fallback compiles
// when no known architecture is defined. The EPB writer's byte order is explicit on any host.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const nativeDir = new URL('../../native', import.meta.url).pathname;

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : /\.(cc|h)$/.test(f) ? [p] : [];
  });
}

const compiles = (code: string, flags: string[]) =>
  execFileSync('g++', ['-std=c++20', '-fsyntax-only', `-I${nativeDir}`, ...flags, '-x', 'c++', '-'], { input: code });

describe('portable native code', () => {
  it('names no x86 intrinsic outside cpu_relax.h', () => {
    const offenders = sources(nativeDir).filter(
      (p) => !p.endsWith('ring/cpu_relax.h') && /_mm_pause|__builtin_ia32_|\basm\s*\(|__asm__/.test(readFileSync(p, 'utf8')),
    );
    expect(offenders).toEqual([]);
  });

  it('cpu_relax() compiles for an unknown architecture (the compiler-barrier fallback)', () => {
    const code = '#include "ring/cpu_relax.h"\nvoid f() { nmc::cpu_relax(); }\n';
    expect(() => compiles(code, [])).not.toThrow();
    expect(() => compiles(code, ['-U__x86_64__', '-U__i386__', '-U__amd64__', '-U__amd64'])).not.toThrow();
  });

  it('the EPB writer compiles for a big-endian host, and refuses an unknown byte order', () => {
    const code = '#include "loops/pcapng_epb.h"\nvoid f(unsigned char* p) { nmc::store_le32(p, 1); }\n';
    expect(() => compiles(code, ['-U__BYTE_ORDER__', '-D__BYTE_ORDER__=__ORDER_BIG_ENDIAN__'])).not.toThrow();
    expect(() => compiles(code, ['-U__BYTE_ORDER__', '-D__BYTE_ORDER__=1234567', '-w'])).toThrow(/unknown host byte order/);
  });
});
