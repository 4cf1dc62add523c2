// Cross-checks with readers and writers we did not write: pcap-parser on classic pcap; tshark and
// capinfos on what we write; editcap, mergecap, text2pcap and tcpdump writing what we read.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as pcapParser from 'pcap-parser';
import type { PacketHeader } from 'pcap-parser';
import { afterAll, describe, expect, it } from 'vitest';
import { openSink, openTrace, PcapngWriter, PcapWriter, readBatchesSync, readPacketsSync, type TraceRecord } from '../../src/pcap/index.js';
import { pcapHeader, pcapRecord, udpFrame } from '../helpers/hand.js';
import { epochToNs, have, run, tsharkFields } from '../helpers/tools.js';

const FIX = join(import.meta.dirname, '..', 'fixtures');
const dir = mkdtempSync(join(tmpdir(), 'nmcap-xcheck-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HAVE_TSHARK = have('tshark');
const HAVE_EDITCAP = have('editcap') && have('mergecap') && have('text2pcap');
const HAVE_CAPINFOS = have('capinfos');
const HAVE_TCPDUMP = have('tcpdump');

interface Seen {
  ts: bigint | null;
  capLen: number;
  origLen: number;
  iface: number;
}

function ours(path: string): Seen[] {
  return readPacketsSync(readFileSync(path)).map((p) => ({ ts: p.ts, capLen: p.capLen, origLen: p.origLen, iface: p.interface }));
}

function theirs(path: string): Seen[] {
  const { rows, stderr, status } = tsharkFields(path, ['frame.time_epoch', 'frame.len', 'frame.cap_len', 'frame.interface_id']);
  expect(stderr).toBe('');
  expect(status).toBe(0);
  return rows.map(([t, len, cap, ifx]) => ({ ts: t === '' ? null : epochToNs(t!), capLen: Number(cap), origLen: Number(len), iface: ifx === '' ? 0 : Number(ifx) }));
}

function pcapParserPackets(path: string): Promise<{ header: PacketHeader; data: Buffer }[]> {
  return new Promise((resolve, reject) => {
    const out: { header: PacketHeader; data: Buffer }[] = [];
    const p = pcapParser.parse(path);
    p.on('packet', (pk: { header: PacketHeader; data: Buffer }) => out.push({ header: pk.header, data: Buffer.from(pk.data) }));
    p.on('error', reject);
    p.on('end', () => resolve(out));
  });
}

describe('cross-check with pcap-parser (classic pcap)', () => {
  const cases: [string, () => Buffer][] = [
    ['little-endian file we write', () => Buffer.alloc(0)],
    ['big-endian hand-built file', () => Buffer.concat([pcapHeader('be', false, 65535, 1), ...Array.from({ length: 30 }, (_, i) => pcapRecord('be', 1000 + i, i * 33333, udpFrame(i * 7, 1, 2, i), 1500))])],
  ];
  for (const [name, make] of cases) {
    it(`agrees on every packet of a ${name}`, async () => {
      const path = join(dir, `pp-${name.replace(/\W+/g, '-')}.pcap`);
      if (name.startsWith('little')) {
        const w = new PcapWriter(openSink(path), { linkType: 1, snapLen: 65535 });
        for (let i = 0; i < 40; i++) w.writePacket({ ts: 1_700_000_000_000_000_000n + BigInt(i) * 12_345_000n, data: udpFrame(i * 5, 3, 4, i), origLen: 2000 });
        await w.close();
      } else {
        writeFileSync(path, make());
      }
      const theirsP = await pcapParserPackets(path);
      const oursP = readPacketsSync(readFileSync(path));
      expect(oursP.length).toBe(theirsP.length);
      expect(oursP.length).toBeGreaterThan(0);
      oursP.forEach((p, i) => {
        const h = theirsP[i]!.header;
        expect(p.ts).toBe(BigInt(h.timestampSeconds) * 1_000_000_000n + BigInt(h.timestampMicroseconds) * 1000n);
        expect(p.capLen).toBe(h.capturedLength);
        expect(p.origLen).toBe(h.originalLength);
        expect(Buffer.compare(p.data, theirsP[i]!.data)).toBe(0);
      });
    });
  }

  it("agrees on pcap-parser's own test captures", async () => {
    for (const f of ['be.pcap', 'smtp.pcap']) {
      const path = join(import.meta.dirname, '..', '..', 'node_modules', 'pcap-parser', 'test', f);
      const theirsP = await pcapParserPackets(path);
      const oursP = readPacketsSync(readFileSync(path));
      expect(oursP.map((p) => [p.ts, p.capLen, p.origLen, p.data.toString('hex')])).toEqual(
        theirsP.map(({ header: h, data }) => [BigInt(h.timestampSeconds) * 1_000_000_000n + BigInt(h.timestampMicroseconds) * 1000n, h.capturedLength, h.originalLength, data.toString('hex')]),
      );
    }
  });
});

describe.skipIf(!HAVE_TSHARK)('cross-check with tshark: files we read', () => {
  for (const f of ['classic-us-le.pcap', 'classic-ns-be.pcap', 'multi-section.pcapng', 'simple-packets.pcapng']) {
    it(`sees the same packets as tshark in ${f}`, () => {
      const path = join(FIX, f);
      const a = ours(path);
      const b = theirs(path);
      // tshark numbers interfaces across sections; ours are per section, so compare them only for
      // single-section files.
      const multi = f.startsWith('multi');
      expect(a.map((p) => ({ ...p, iface: multi ? 0 : p.iface }))).toEqual(b.map((p) => ({ ...p, iface: multi ? 0 : p.iface })));
    });
  }

  it.skipIf(!HAVE_EDITCAP)('reads what editcap, mergecap and text2pcap write, as tshark does', () => {
    const src = join(FIX, 'classic-ns-be.pcap');
    const outs: string[] = [];
    const ng = join(dir, 'editcap.pcapng');
    expect(run('editcap', ['-F', 'pcapng', src, ng]).status).toBe(0);
    outs.push(ng);
    const us = join(dir, 'editcap-us.pcap');
    expect(run('editcap', ['-F', 'pcap', src, us]).status).toBe(0);
    outs.push(us);
    const ns = join(dir, 'editcap-ns.pcap');
    expect(run('editcap', ['-F', 'nsecpcap', join(FIX, 'classic-us-le.pcap'), ns]).status).toBe(0);
    outs.push(ns);
    const merged = join(dir, 'merged.pcapng');
    expect(run('mergecap', ['-F', 'pcapng', '-w', merged, join(FIX, 'classic-us-le.pcap'), join(FIX, 'classic-ns-be.pcap')]).status).toBe(0);
    outs.push(merged);
    const hex = '0000  02 00 00 00 00 02 02 00 00 00 00 01 08 00 45 00\n0010  00 1c 00 00 40 00 40 11 00 00 0a 00 00 01 0a 00\n0020  00 02 04 d2 16 2e 00 08 00 00\n';
    const hexPath = join(dir, 'dump.txt');
    writeFileSync(hexPath, hex + hex);
    const t2p = join(dir, 'text2pcap.pcap');
    expect(run('text2pcap', ['-q', hexPath, t2p]).status).toBe(0);
    outs.push(t2p);
    const t2png = join(dir, 'text2pcap.pcapng');
    expect(run('text2pcap', ['-q', '-n', hexPath, t2png]).status).toBe(0);
    outs.push(t2png);
    for (const path of outs) {
      const a = ours(path);
      expect(a.length).toBeGreaterThan(0);
      expect(a).toEqual(theirs(path));
    }
    // mergecap gives each input its own interface: two IDBs in one section.
    const m = readPacketsSync(readFileSync(merged));
    expect(new Set(m.map((p) => p.interface)).size).toBe(2);
  });

  it.skipIf(!HAVE_EDITCAP)('reads the Decryption Secrets Block editcap injects', () => {
    const keys = join(dir, 'keys.txt');
    writeFileSync(keys, 'CLIENT_RANDOM 0011223344556677889900112233445566778899001122334455667788990011 00112233\n');
    const out = join(dir, 'secrets.pcapng');
    const r = run('editcap', ['--inject-secrets', `tls,${keys}`, join(FIX, 'classic-us-le.pcap'), out]);
    expect(r.status).toBe(0);
    const recs: TraceRecord[] = [...readBatchesSync(readFileSync(out))].flatMap((b) => b.records);
    const dsb = recs.find((x) => x.kind === 'dsb');
    expect(dsb).toBeDefined();
    expect(dsb!.kind === 'dsb' && dsb!.secretsType).toBe(0x544c534b);
    expect(dsb!.kind === 'dsb' && Buffer.from(dsb!.data).toString()).toBe(readFileSync(keys, 'utf8'));
    expect(ours(out)).toEqual(theirs(out));
  });

  it.skipIf(!HAVE_TCPDUMP)('reads what tcpdump writes, at microsecond and nanosecond precision', () => {
    for (const prec of ['micro', 'nano']) {
      const out = join(dir, `tcpdump-${prec}.pcap`);
      const r = run('tcpdump', ['-r', join(FIX, 'classic-ns-be.pcap'), `--time-stamp-precision=${prec}`, '-w', out]);
      expect(r.status).toBe(0);
      expect(ours(out)).toEqual(theirs(out));
      expect(readPacketsSync(readFileSync(out))[0]!.section.interfaces[0]!.tsResolution.exponent).toBe(prec === 'nano' ? 9 : 6);
    }
  });
});

describe.skipIf(!HAVE_TSHARK)('cross-check with tshark and capinfos: files we write', () => {
  it('pcapng in both byte orders, several interfaces and resolutions: tshark sees the same timestamps to the ns', async () => {
    for (const byteOrder of ['le', 'be'] as const) {
      const path = join(dir, `ours-${byteOrder}.pcapng`);
      const w = new PcapngWriter(openSink(path), { byteOrder, userAppl: 'nmcap test', comments: ['cross-check'] });
      const a = w.addInterface({ linkType: 1, snapLen: 262144, name: 'eth0', filter: 'udp' });
      const b = w.addInterface({ linkType: 1, snapLen: 128, tsResolution: { base: 10, exponent: 6 }, name: 'eth1' });
      const c = w.addInterface({ linkType: 101, snapLen: 0, tsResolution: { base: 10, exponent: 3 } });
      const expected: Seen[] = [];
      for (let i = 0; i < 60; i++) {
        const iface = [a, b, c][i % 3]!;
        const ts = 1_700_000_000_000_000_000n + BigInt(i) * 1_234_567_891n;
        const data = iface === c ? udpFrame(i).subarray(14) : udpFrame(i);
        w.writePacket(iface, { ts, data, origLen: data.length + (i % 5), flags: i % 2, comments: i === 3 ? ['third'] : [] });
        const step = iface === a ? 1n : iface === b ? 1000n : 1_000_000n;
        expected.push({ ts: ts - (ts % step), capLen: data.length, origLen: data.length + (i % 5), iface });
      }
      w.writeStats(a, { ts: 1_700_000_100_000_000_000n, ifRecv: 20n, ifDrop: null });
      await w.close();
      expect(theirs(path)).toEqual(expected);
      expect(ours(path)).toEqual(expected);
      if (HAVE_CAPINFOS) {
        const ci = run('capinfos', ['-c', '-M', path]);
        expect(ci.status).toBe(0);
        expect(ci.stdout).toMatch(/Number of packets:\s+60\b/);
        expect(ci.stderr).toBe('');
      }
    }
  });

  it('classic pcap at µs and ns in both byte orders', async () => {
    for (const nanos of [false, true]) {
      for (const byteOrder of ['le', 'be'] as const) {
        const path = join(dir, `ours-${nanos}-${byteOrder}.pcap`);
        const w = new PcapWriter(openSink(path), { linkType: 1, snapLen: 65535, nanos, byteOrder });
        const expected: Seen[] = [];
        for (let i = 0; i < 25; i++) {
          const ts = 1_600_000_000_999_999_999n + BigInt(i) * 987_654_321n;
          const data = udpFrame(i * 3);
          w.writePacket({ ts, data });
          expected.push({ ts: nanos ? ts : ts - (ts % 1000n), capLen: data.length, origLen: data.length, iface: 0 });
        }
        await w.close();
        expect(theirs(path)).toEqual(expected);
      }
    }
  });

  it('what the -r -w path writes from every fixture opens cleanly and matches the input', async () => {
    for (const f of ['classic-us-le.pcap', 'classic-ns-be.pcap', 'multi-section.pcapng']) {
      const src = join(FIX, f);
      const out = join(dir, `rw-${f}.pcapng`);
      const reader = openTrace(src);
      const w = new PcapngWriter(openSink(out));
      const maps = new Map<number, number[]>();
      for await (const batch of reader.batches()) {
        const sec = batch.section;
        const m = maps.get(sec.index) ?? [];
        maps.set(sec.index, m);
        w.writeBatch(batch, (i) => (m[i] ??= w.addInterface({ linkType: sec.interfaces[i]!.linkType, snapLen: sec.interfaces[i]!.snapLen })));
      }
      await w.close();
      expect(theirs(out).map((p) => [p.ts, p.capLen, p.origLen])).toEqual(ours(src).map((p) => [p.ts, p.capLen, p.origLen]));
    }
  });
});
