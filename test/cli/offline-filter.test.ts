// nmcap -r FILE EXPR against tcpdump -r FILE -w - EXPR on the same traces: the same packets (count,
// bytes, order) for every expression, by the batch interpreter in process and through the CLI
// (-w pcapng and pcap, printing, --json, -c), the expression in each output IDB's if_filter.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { SavedPacketFilter } from '../../src/capture/filter.js';
import { openTrace, PcapngWriter, openSink, readPacketsSync } from '../../src/pcap/index.js';
import { EXPRESSIONS, makeFrames } from '../capture/frames.js';
import { classicPcap } from '../helpers/classic-pcap.js';
import { have } from '../helpers/tools.js';

const ROOT = join(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'nmcap');
const dir = mkdtempSync(join(tmpdir(), 'nmcap-offline-filter-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const fixtureFrames = ['demo.pcapng', 'classic-us-le.pcap', 'simple-packets.pcapng'].flatMap((n) =>
  readPacketsSync(readFileSync(join(ROOT, 'test', 'fixtures', n))).filter((p) => p.linkType === 1).map((p) => Buffer.from(p.data)),
);
const frames = [...fixtureFrames, ...makeFrames(3000, 7)];
const TRACE = join(dir, 'mixed.pcap');
const SHORT = join(dir, 'snap64.pcap');
writeFileSync(TRACE, classicPcap(frames));
writeFileSync(SHORT, classicPcap(frames, 64));

/** What tcpdump keeps: the packets' bytes, in order. */
function tcpdumpKeeps(file: string, expr: string): Buffer[] {
  const r = spawnSync('tcpdump', ['-r', file, '-w', '-', expr], { maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`tcpdump ${expr}: ${r.stderr.toString()}`);
  return readPacketsSync(r.stdout).map((p) => Buffer.from(p.data));
}

function nmcap(args: string[]): { status: number | null; stdout: Buffer; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { env: { ...process.env, TZ: 'UTC' }, maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString('utf8') };
}

const noTcpdump = !have('tcpdump');

beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist', 'cli', 'nmcap.js'))) throw new Error('dist/ is missing: run `npm test` (it compiles first) or `npm run build:ts`');
});

describe.skipIf(noTcpdump)('the batch filter keeps what tcpdump keeps (tcpdump not installed: skipped)', () => {
  it.each([TRACE, SHORT])('every expression on %s', async (file) => {
    for (const expr of EXPRESSIONS) {
      const want = tcpdumpKeeps(file, expr);
      const filter = new SavedPacketFilter(expr);
      const got: Buffer[] = [];
      const reader = openTrace(file, { chunkSize: 16 << 10 }); // small chunks: many batches
      for await (const b of filter.batches(reader.batches())) for (let i = 0; i < b.count; i++) got.push(Buffer.from(b.data(i)));
      await reader.close();
      expect(got.length, expr).toBe(want.length);
      expect(Buffer.concat(got).equals(Buffer.concat(want)), `${expr}: the same bytes`).toBe(true);
      expect(filter.read).toBe(frames.length);
      expect(filter.accepted).toBe(want.length);
    }
  });

  it('stops judging at the limit: read counts up to the last packet accepted', async () => {
    const want = tcpdumpKeeps(TRACE, 'udp port 53');
    expect(want.length).toBeGreaterThan(5);
    const filter = new SavedPacketFilter('udp port 53', 5);
    const reader = openTrace(TRACE);
    let n = 0;
    for await (const b of filter.batches(reader.batches())) n += b.count;
    await reader.close();
    expect(n).toBe(5);
    const fifth = frames.findIndex((f) => f.equals(want[4]!));
    expect(filter.read).toBe(fifth + 1);
  });
});

describe.skipIf(noTcpdump)('nmcap -r FILE EXPR (tcpdump not installed: skipped)', () => {
  const CLI_EXPRESSIONS = ['udp port 53', 'tcp[tcpflags] & tcp-syn != 0', 'vlan and udp'];

  it.each(CLI_EXPRESSIONS)('-w pcapng and pcap: the packets tcpdump writes, the expression in if_filter (%s)', (expr) => {
    const want = tcpdumpKeeps(TRACE, expr);
    for (const out of [join(dir, 'f.pcapng'), join(dir, 'f.pcap')]) {
      const r = nmcap(['-r', TRACE, '-w', out, ...expr.split(' ')]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toContain(`${frames.length} packets read\n${want.length} packets written`);
      const got = readPacketsSync(readFileSync(out));
      expect(got.length).toBe(want.length);
      expect(Buffer.concat(got.map((p) => p.data)).equals(Buffer.concat(want))).toBe(true);
      if (out.endsWith('.pcapng')) expect(got[0]!.section.interfaces[0]!.filter?.text).toBe(expr);
    }
  });

  it('prints only what the filter accepts (--json lines, -c), and -f is the same as the words', () => {
    const want = tcpdumpKeeps(TRACE, 'tcp dst port 80');
    const r = nmcap(['-r', TRACE, '--json', 'tcp', 'dst', 'port', '80']);
    expect(r.status, r.stderr).toBe(0);
    const rows = r.stdout.toString().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { caplen: number });
    expect(rows.map((x) => x.caplen)).toEqual(want.map((p) => p.length));
    const c = nmcap(['-r', TRACE, '-c', '3', '-f', 'tcp dst port 80']);
    expect(c.status, c.stderr).toBe(0);
    expect(c.stdout.toString().split('\n').filter((l) => l !== '')).toHaveLength(3);
  });

  it('-c counts accepted packets; --json says read, written and the filter', () => {
    const out = join(dir, 'c.pcapng');
    const r = nmcap(['-r', TRACE, '-w', out, '-c', '4', '--json', 'icmp']);
    expect(r.status, r.stderr).toBe(0);
    const stats = JSON.parse(r.stdout.toString()) as { read: number; written: number; accepted: number; filter: string };
    expect(stats).toMatchObject({ written: 4, accepted: 4, filter: 'icmp' });
    const want = tcpdumpKeeps(TRACE, 'icmp');
    expect(stats.read).toBe(frames.findIndex((f) => f.equals(want[3]!)) + 1);
    expect(readPacketsSync(readFileSync(out))).toHaveLength(4);
  });

  it('a filter that does not compile: one line, exit 1, no output file', () => {
    const out = join(dir, 'never.pcapng');
    const r = nmcap(['-r', TRACE, '-w', out, 'udp', 'port', 'banana']);
    expect(r.status).toBe(1);
    const l = r.stderr.split('\n').filter((x) => x !== '');
    expect(l).toHaveLength(1);
    expect(l[0]).toMatch(/^nmcap: cannot compile filter "udp port banana": /);
    expect(existsSync(out)).toBe(false);
  });
});

describe.skipIf(noTcpdump)('a pcapng with interfaces of different link types (tcpdump not installed: skipped)', () => {
  it('compiles the expression for each interface: udp over raw IP and over Ethernet', async () => {
    const file = join(dir, 'two-links.pcapng');
    const w = new PcapngWriter(openSink(file));
    const eth = w.addInterface({ linkType: 1, snapLen: 0 });
    const raw = w.addInterface({ linkType: 101, snapLen: 0 });
    const ip = frames.filter((f) => f.length > 34 && f.readUInt16BE(12) === 0x0800).slice(0, 400);
    ip.forEach((f, i) => {
      w.writePacket(eth, { ts: BigInt(i) * 1000n, data: f });
      w.writePacket(raw, { ts: BigInt(i) * 1000n + 1n, data: f.subarray(14) });
    });
    await w.close();
    const ethOnly = join(dir, 'eth-only.pcap');
    writeFileSync(ethOnly, classicPcap(ip));
    const want = tcpdumpKeeps(ethOnly, 'udp').length;
    const filter = new SavedPacketFilter('udp');
    const reader = openTrace(file);
    const perIface = [0, 0];
    for await (const b of filter.batches(reader.batches())) for (let i = 0; i < b.count; i++) perIface[b.iface[i]!]!++;
    await reader.close();
    expect(want).toBeGreaterThan(0);
    expect(perIface).toEqual([want, want]);
  });
});
