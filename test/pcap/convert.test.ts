// Conversion (src/pcap/convert.ts): every valid file converts, including the shapes of the pcapng
// test suite (several interfaces and sections, SPBs, mixed byte order); packets without timestamp
// stay untimed; classic pcap output matches editcap byte for byte where editcap can write it.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { convertTrace, formatForPath, MAX_SNAPLEN, readPacketsSync, UNTIMED_COMMENT, type Packet } from '../../src/pcap/index.js';
import { epb, idb, isb, opt, opts, shb, u64, udpFrame } from '../helpers/hand.js';
import { pipeName, run as runCli, start } from '../helpers/cli.js';
import { have, run, tsharkFields } from '../helpers/tools.js';

const FIX = join(import.meta.dirname, '..', 'fixtures');
const dir = mkdtempSync(join(tmpdir(), 'nmcap-convert-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SUITE = ['suite-100', 'suite-101', 'suite-102', 'suite-201', 'suite-202'];
const HAVE_TSHARK = have('tshark');
const HAVE_EDITCAP = have('editcap');

function packets(path: string): Packet[] {
  return readPacketsSync(readFileSync(path));
}

describe('convertTrace to pcapng', () => {
  for (const name of SUITE) {
    it(`converts ${name} completely: every packet, untimed ones kept untimed`, async () => {
      const src = join(FIX, `${name}.pcapng`);
      const out = join(dir, `${name}.pcapng`);
      const r = await convertTrace(src, out);
      expect(r.error).toBeUndefined();
      const before = packets(src);
      const after = packets(out);
      expect(r.packets).toBe(before.length);
      expect(r.untimedPackets).toBe(before.filter((p) => p.ts === null).length);
      expect(r.untimedPackets).toBeGreaterThan(0);
      expect(after.length).toBe(before.length);
      for (let i = 0; i < before.length; i++) {
        const a = before[i]!;
        const b = after[i]!;
        expect([b.data, b.origLen, b.linkType]).toEqual([a.data, a.origLen, a.linkType]);
        expect(b.section.interfaces[b.interface]!.snapLen).toBe(a.section.interfaces[a.interface]!.snapLen);
        if (a.ts !== null) {
          expect(b.ts).toBe(a.ts);
        } else if (b.blockType === 'spb') {
          // Still an SPB: only legal on output interface 0, with the implied captured length.
          expect([b.ts, b.interface]).toEqual([null, 0]);
        } else {
          expect([b.ts, b.extras?.comments]).toEqual([0n, [UNTIMED_COMMENT]]);
        }
      }
      // One output section, one interface per input (section, interface) used.
      expect(new Set(after.map((p) => p.section)).size).toBe(1);
    });
  }

  it.skipIf(!HAVE_TSHARK)('writes files tshark reads without complaint, with the same packets (tshark missing: skipped)', async () => {
    for (const name of SUITE) {
      const out = join(dir, `${name}-t.pcapng`);
      await convertTrace(join(FIX, `${name}.pcapng`), out);
      const { rows, stderr, status } = tsharkFields(out, ['frame.len', 'frame.cap_len', 'frame.interface_name']);
      expect([status, stderr]).toEqual([0, '']);
      // tshark shows copyable Custom blocks as frames too: keep the packets (they have an interface).
      const seen = rows.filter((r) => r[2] !== '').map((r) => [Number(r[0]), Number(r[1])]);
      expect(seen).toEqual(packets(join(FIX, `${name}.pcapng`)).map((p) => [p.origLen, p.capLen]));
    }
  });
});

describe('convertTrace to classic pcap', () => {
  it.skipIf(!HAVE_EDITCAP)('writes what editcap -F pcap writes, byte for byte, for SPBs on interfaces of different snap lengths (editcap missing: skipped)', async () => {
    for (const name of ['suite-101', 'simple-packets']) {
      const ours = join(dir, `${name}.pcap`);
      const theirs = join(dir, `${name}-editcap.pcap`);
      const r = await convertTrace(join(FIX, `${name}.pcapng`), ours, { format: 'pcap' });
      expect(r.error).toBeUndefined();
      expect(r.untimedPackets).toBeGreaterThan(0);
      expect(run('editcap', ['-F', 'pcap', join(FIX, `${name}.pcapng`), theirs]).status).toBe(0);
      expect(readFileSync(ours)).toEqual(readFileSync(theirs));
    }
  });

  it('puts the largest snap length (at least 262144) in the header when pcapng interfaces differ', async () => {
    const o = 'le';
    const f = udpFrame(200);
    const src = join(dir, 'snaplens.pcapng');
    writeFileSync(src, Buffer.concat([shb(o), idb(o, 1, 64), idb(o, 1, 300000), epb(o, 0, 1n, f.subarray(0, 64), f.length), epb(o, 1, 2n, f)]));
    const out = join(dir, 'snaplens.pcap');
    const r = await convertTrace(src, out, { format: 'pcap' });
    expect(r.error).toBeUndefined();
    const [p] = packets(out);
    expect(p!.section.interfaces[0]!.snapLen).toBe(300000);
    writeFileSync(src, Buffer.concat([shb(o), idb(o, 1, 64), idb(o, 1, 96), epb(o, 1, 2n, f.subarray(0, 96), f.length)]));
    await convertTrace(src, out, { format: 'pcap' });
    expect(packets(out)[0]!.section.interfaces[0]!.snapLen).toBe(MAX_SNAPLEN);
    // A classic pcap input keeps its own.
    await convertTrace(join(FIX, 'classic-ns-be.pcap'), out, { format: 'pcap' });
    expect(packets(out)[0]!.section.interfaces[0]!.snapLen).toBe(65535);
  });

  it('stops at a second link type with the packets before it written and the file valid, as editcap refuses it', async () => {
    const out = join(dir, 'suite-100.pcap');
    const r = await convertTrace(join(FIX, 'suite-100.pcapng'), out, { format: 'pcap' });
    expect(r.error).toMatchObject({ code: 'ERR_PCAP_LINKTYPE_MISMATCH' });
    const got = packets(out);
    expect(got.length).toBe(4);
    expect(got.map((p) => p.ts === 0n)).toEqual([true, false, true, false]);
  });

  it('counts name resolution, secrets and custom blocks left out, but not statistics', async () => {
    const r = await convertTrace(join(FIX, 'suite-101.pcapng'), join(dir, 'x.pcap'), { format: 'pcap' });
    expect(r.blocksLeftOut).toBe(0);
    const m = await convertTrace(join(FIX, 'multi-section.pcapng'), join(dir, 'y.pcap'), { format: 'pcap' });
    // multi-section.pcapng: its NRB comes before the second link type ends the conversion.
    expect(m.blocksLeftOut).toBe(1);
  });
});

describe('nmcap -r IN -w OUT', () => {
  it('converts every suite file with exit 0 and no partial output', async () => {
    for (const name of SUITE) {
      const out = join(dir, `${name}-cli.pcapng`);
      const r = await runCli('nmcap', ['-r', join(FIX, `${name}.pcapng`), '-w', out]);
      const n = packets(join(FIX, `${name}.pcapng`)).length;
      expect([r.code, r.stderr]).toEqual([0, `${n} packets read\n${n} packets written\n`]);
      expect(packets(out).length).toBe(n);
    }
  });

  it("converts nmcap's own kind of capture (EPBs, then an ISB) to pcap without a warning", async () => {
    const o = 'le';
    const src = join(dir, 'own.pcapng');
    writeFileSync(src, Buffer.concat([shb(o), idb(o, 1, 262144), epb(o, 0, 1n, udpFrame(10)), isb(o, 0, 2n, opts(o, opt(4, u64(1n, o), o), opt(8, u64(1n, o), o)))]));
    const r = await runCli('nmcap', ['-r', src, '-w', join(dir, 'own.pcap'), '-F', 'pcap']);
    expect([r.code, r.stderr]).toEqual([0, '1 packet read\n1 packet written\n']);
  });
});

describe('choosing the output format', () => {
  it('takes -F first, then the name (.pcap .cap .dmp: classic pcap), else pcapng', () => {
    expect(formatForPath('x.pcap')).toBe('pcap');
    expect(formatForPath('X.CAP')).toBe('pcap');
    expect(formatForPath('x.pcapng')).toBe('pcapng');
    expect(formatForPath('-')).toBe('pcapng');
    expect(formatForPath('x.pcap', 'pcapng')).toBe('pcapng');
    expect(formatForPath('x.out', 'pcap-ns')).toBe('pcap');
  });

  it('nmcap -r IN -w x.pcap writes classic pcap without -F', async () => {
    const out = join(dir, 'by-name.pcap');
    const r = await runCli('nmcap', ['-r', join(FIX, 'multi-section.pcapng'), '-w', out, '-c', '1', '-q']);
    expect(r.code).toBe(0);
    expect(readFileSync(out).readUInt32LE(0)).toBe(0xa1b23c4d); // ns: the input's first interface is ns
  });

  for (const [args, magic] of [
    [[], 0xa1b2c3d4],
    [['--nano'], 0xa1b23c4d],
    [['-F', 'pcap', '--time-stamp-precision=nano'], 0xa1b23c4d],
  ] as const) {
    it(`a live capture -w x.pcap ${args.join(' ')} writes classic pcap (${magic === 0xa1b2c3d4 ? 'µs' : 'ns'}) with -s as the snap length`, async () => {
      const name = pipeName('fmt');
      const out = join(dir, `${name}.pcap`);
      const c = start('nmcap', ['-i', `pipe:${name}}0`, '-w', out, '-s', '1000', '-c', '4', ...args]);
      await c.waitFor(/^listening on pipe:/);
      const rep = await runCli('nmreplay', ['-i', `pipe:${name}{0`, '--rate', '1000pps', join(FIX, 'classic-us-le.pcap')]);
      const cap = await c.done;
      expect([rep.code, cap.code]).toEqual([0, 0]);
      const bytes = readFileSync(out);
      expect(bytes.readUInt32LE(0)).toBe(magic);
      expect(bytes.readUInt32LE(16)).toBe(1000);
      const got = packets(out);
      expect(got.map((p) => p.data)).toEqual(packets(join(FIX, 'classic-us-le.pcap')).map((p) => p.data));
      expect(got.every((p) => p.ts !== null && p.ts > 0n)).toBe(true);
    });
  }
});
