// Capture filters: libpcap compiles (through our run-time binding), our interpreter decides. Its
// verdict must be libpcap's own (pcap_offline_filter) on every packet, and no program, however
// hostile, may make it read outside the packet or loop.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { compileFilter, filterImage } from '../../src/capture/filter.js';
import { FilterError } from '../../src/errors.js';
import { readPacketsSync } from '../../src/pcap/index.js';
import { native } from '../../src/ports/binding.js';
import { EXPRESSIONS, makeFrames } from './frames.js';

const f = native.filter;
const fixtures = ['demo.pcapng', 'classic-us-le.pcap', 'simple-packets.pcapng'].flatMap((n) =>
  readPacketsSync(readFileSync(new URL(`../fixtures/${n}`, import.meta.url))).map((p) => ({ data: Buffer.from(p.data), wire: p.origLen })),
);
const frames = [...fixtures, ...makeFrames(600).map((d) => ({ data: d, wire: d.length }))];

/** Encodes instructions as the 8-byte host-order records the binding takes. */
function prog(insns: [code: number, jt: number, jf: number, k: number][]): Buffer {
  const b = Buffer.alloc(insns.length * 8);
  insns.forEach(([code, jt, jf, k], i) => {
    b.writeUInt16LE(code, i * 8);
    b.writeUInt8(jt, i * 8 + 2);
    b.writeUInt8(jf, i * 8 + 3);
    b.writeUInt32LE(k >>> 0, i * 8 + 4);
  });
  return b;
}

describe('interpreter against libpcap', () => {
  it.each(EXPRESSIONS)('%s: same verdict as pcap_offline_filter on every packet', (expr) => {
    const { program } = compileFilter(expr, 1, 262144);
    expect(f.check(program)).toBeNull();
    let kept = 0;
    for (const p of frames) {
      const want = f.libpcapVerdict(program, p.data, p.wire);
      expect(f.run(program, p.data, p.wire)).toBe(want);
      if (want) kept++;
    }
    // Each expression must tell packets apart on this set (or the test would prove little).
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(frames.length);
  });

  it('returns the snap length the program was compiled for, on a cut-short packet too', () => {
    const { program } = compileFilter('udp', 1, 96);
    const udp = frames.find((p) => f.libpcapVerdict(program, p.data, p.wire) !== 0)!;
    expect(f.run(program, udp.data, udp.wire)).toBe(96);
    expect(f.run(program, udp.data.subarray(0, 20), udp.wire)).toBe(0); // the protocol byte is gone
  });

  it('agrees with libpcap on random programs that pass the checks (no scratch memory reads)', () => {
    const codes = [
      0x00, 0x20, 0x28, 0x30, 0x40, 0x48, 0x50, 0x80, 0x01, 0x81, 0xb1, 0x04, 0x14, 0x24, 0x34, 0x44, 0x54, 0x64, 0x74, 0x84,
      0x94, 0xa4, 0x0c, 0x1c, 0x2c, 0x3c, 0x4c, 0x5c, 0x6c, 0x7c, 0x9c, 0xac, 0x05, 0x15, 0x25, 0x35, 0x45, 0x1d, 0x2d, 0x3d,
      0x4d, 0x07, 0x87, 0x02, 0x03, 0x06, 0x16,
    ];
    const insn = fc.tuple(fc.constantFrom(...codes), fc.nat(6), fc.nat(6), fc.oneof(fc.nat(80), fc.nat(15), fc.integer({ min: 0, max: 0xffffffff })));
    let ran = 0;
    fc.assert(
      fc.property(fc.array(insn, { minLength: 1, maxLength: 24 }), fc.nat(frames.length - 1), (body, pi) => {
        const p = prog([...body, [0x16, 0, 0, 0]]);
        if (f.check(p) !== null) return;
        ran++;
        const pkt = frames[pi]!;
        expect(f.run(p, pkt.data, pkt.wire)).toBe(f.libpcapVerdict(p, pkt.data, pkt.wire));
      }),
      { numRuns: 4000 },
    );
    expect(ran).toBeGreaterThan(200);
  });

  it('never reads outside the packet: loads past the end drop, whatever the offsets', () => {
    const pkt = Buffer.from([1, 2, 3, 4, 5, 6]);
    // ld [k] at every offset near the end, and ld [x + k] with X + k wrapping around 2^32
    for (let k = 0; k < 10; k++) {
      expect(f.run(prog([[0x20, 0, 0, k], [0x16, 0, 0, 0]]), pkt, 6)).toBe(k <= 2 ? (pkt.readUInt32BE(k) >>> 0) : 0);
      expect(f.run(prog([[0x28, 0, 0, k], [0x16, 0, 0, 0]]), pkt, 6)).toBe(k <= 4 ? pkt.readUInt16BE(k) : 0);
      expect(f.run(prog([[0x30, 0, 0, k], [0x16, 0, 0, 0]]), pkt, 6)).toBe(k <= 5 ? pkt[k] : 0);
    }
    const wrap = prog([[0x01, 0, 0, 0xffffffff], [0x50, 0, 0, 2], [0x16, 0, 0, 0]]); // X = -1; ldb [x + 2]
    expect(f.run(wrap, pkt, 6)).toBe(0);
    const msh = prog([[0xb1, 0, 0, 6], [0x06, 0, 0, 1]]); // ldxb 4*([6]&0xf) past the end
    expect(f.run(msh, pkt, 6)).toBe(0);
    expect(f.run(prog([[0x87, 0, 0, 0], [0x3c, 0, 0, 0], [0x06, 0, 0, 1]]), pkt, 6)).toBe(0); // A /= X, X = 0
  });
});

describe('program checks (as the kernel makes them)', () => {
  const bad: [string, [number, number, number, number][], RegExp][] = [
    ['empty', [], /empty/],
    ['no return at the end', [[0x00, 0, 0, 1]], /last instruction/],
    ['a jump past the end', [[0x15, 0, 1, 0], [0x06, 0, 0, 0]], /past the end/],
    ['ja past the end', [[0x05, 0, 0, 1], [0x06, 0, 0, 0]], /past the end/],
    ['a constant division by zero', [[0x34, 0, 0, 0], [0x06, 0, 0, 0]], /division by zero/],
    ['a constant modulo by zero', [[0x94, 0, 0, 0], [0x06, 0, 0, 0]], /division by zero/],
    ['a shift by 32', [[0x64, 0, 0, 32], [0x06, 0, 0, 0]], /shift/],
    ['scratch memory 16', [[0x60, 0, 0, 16], [0x06, 0, 0, 0]], /scratch/],
    ['a store to scratch memory 16', [[0x02, 0, 0, 16], [0x06, 0, 0, 0]], /scratch/],
    ['an unknown opcode', [[0xff, 0, 0, 0], [0x06, 0, 0, 0]], /unknown/],
    ['an unknown load mode', [[0xe0, 0, 0, 0], [0x06, 0, 0, 0]], /unknown/],
    ['a return of X', [[0x0e, 0, 0, 0]], /unknown return/],
    ['a Linux ancillary load', [[0x20, 0, 0, 0xfffff000 + 4], [0x06, 0, 0, 0]], /ancillary/],
  ];
  it.each(bad)('refuses %s', (_name, insns, why) => {
    expect(f.check(prog(insns))).toMatch(why);
    expect(() => f.run(prog(insns), Buffer.alloc(64), 64)).toThrow(expect.objectContaining({ code: 'ERR_FILTER_INVALID' }));
  });

  it('refuses more than 4096 instructions and takes exactly 4096', () => {
    const many = (n: number): [number, number, number, number][] => [...Array(n - 1).fill([0x00, 0, 0, 1]), [0x06, 0, 0, 1]];
    expect(f.check(prog(many(4096)))).toBeNull();
    expect(f.check(prog(many(4097)))).toMatch(/more than 4096/);
  });

  it('refuses a program that is not a whole number of instructions', () => {
    expect(() => f.check(Buffer.alloc(12))).toThrow(/multiple of 8/);
  });
});

describe('compiling and printing', () => {
  it('reports a bad expression as one line with a stable code', () => {
    let err: unknown;
    try {
      compileFilter('udp prot 53', 1, 262144);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FilterError);
    expect((err as FilterError).code).toBe('ERR_FILTER_SYNTAX');
    expect((err as FilterError).message).toMatch(/^cannot compile filter "udp prot 53": .*syntax error/);
    expect((err as FilterError).message).not.toMatch(/\n/);
  });

  it.each(['udp port 53', 'tcp[tcpflags] & tcp-syn != 0', 'ip6 or arp', ''])('-d output of "%s" is tcpdump -d output', (expr) => {
    const fixture = new URL('../fixtures/demo.pcapng', import.meta.url).pathname;
    const want = execFileSync('tcpdump', ['-r', fixture, '-d', ...(expr ? [expr] : [])], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const { program } = compileFilter(expr, 1, 262144);
    expect(`${filterImage(program).join('\n')}\n`).toBe(want);
  });
});
