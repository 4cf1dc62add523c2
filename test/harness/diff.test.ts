// `nmcap --diff EXPECTED ACTUAL` as users run it: exit codes, --ignore, --unordered, --per-flow,
// --timing and --json, on files written with src/pcap (classic pcap and pcapng).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PcapngWriter, PcapWriter, openSink } from '../../src/pcap/index.js';
import { buildPacket } from '../../src/harness/index.js';
import { run, tempDir } from '../helpers/cli.js';

const tmp = tempDir('nmcap-diff-');
afterAll(() => tmp.cleanup());

const pkt = (i: number, ttl = 64, sport = 1000 + (i % 3)) => buildPacket({ ipv4: { src: '10.0.0.1', dst: '10.0.0.2', ttl, id: i }, udp: { sport, dport: 53 }, tag: { stream: 1, seq: i } });

async function pcap(name: string, frames: Buffer[], gapNs = 1000n): Promise<string> {
  const path = tmp.path(name);
  const w = new PcapWriter(openSink(path), { linkType: 1, snapLen: 65535, nanos: true });
  frames.forEach((data, i) => w.writePacket({ ts: 1_700_000_000_000_000_000n + BigInt(i) * gapNs, data }));
  await w.close();
  return path;
}

const base = Array.from({ length: 12 }, (_, i) => pkt(i));
let same: string, copy: string, ttl: string, swapped: string, late: string, ng: string;
beforeAll(async () => {
  same = await pcap('same.pcap', base);
  copy = await pcap('copy.pcap', base);
  ttl = await pcap('ttl.pcap', base.map((b, i) => (i === 4 ? pkt(4, 63) : b)));
  swapped = await pcap('swapped.pcap', [base[0]!, base[2]!, base[1]!, ...base.slice(3)]); // 1 and 2 are different flows
  late = await pcap('late.pcap', base, 5000n);
  ng = tmp.path('same.pcapng');
  const w = new PcapngWriter(openSink(ng));
  const i0 = w.addInterface({ linkType: 1, snapLen: 65535 });
  base.forEach((data, i) => w.writePacket(i0, { ts: BigInt(i), data }));
  await w.close();
});

describe('nmcap --diff', () => {
  it('exits 0 when the files match (pcap against pcapng too), timestamps ignored', async () => {
    for (const other of [copy, ng, late]) {
      const r = await run('nmcap', ['--diff', same, other]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/MATCH \(strict order\): 12 matched, 0 missing, 0 extra, 0 reordered, 0 changed/);
    }
  });
  it('exits 1 and describes the difference; --ignore makes it match', async () => {
    const r = await run('nmcap', ['--diff', same, ttl]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/CHANGED: packet 4 on if0/);
    expect(r.stdout).toMatch(/ip\.ttl +64 -> 63/);
    expect(r.stdout).toMatch(/\^\^ first/);
    expect((await run('nmcap', ['--diff', same, ttl, '--ignore', 'ip.ttl,ip.checksum'])).code).toBe(0);
    expect((await run('nmcap', ['--diff', same, ttl, '--ignore', 'ip.ttl', '--ignore', 'ip.checksum'])).code).toBe(0);
  });
  it('strict order fails a swap across flows; --per-flow and --unordered accept it', async () => {
    const strict = await run('nmcap', ['--diff', same, swapped, '--json']);
    expect(strict.code).toBe(1);
    expect(JSON.parse(strict.stdout)).toMatchObject({ match: false, matched: 12, missing: 0, extra: 0, reordered: 1, changed: 0 });
    expect((await run('nmcap', ['--diff', same, swapped, '--per-flow'])).code).toBe(0);
    expect((await run('nmcap', ['--diff', same, swapped, '--unordered'])).code).toBe(0);
  });
  it('--timing bounds how far packets may move in time', async () => {
    expect((await run('nmcap', ['--diff', same, late, '--timing', '100us'])).code).toBe(0);
    const r = await run('nmcap', ['--diff', same, late, '--timing', '10us', '--json']);
    expect(r.code).toBe(1);
    const j = JSON.parse(r.stdout);
    expect(j.differences[0]).toMatchObject({ kind: 'timing', port: 'if0' });
  });
  it('--json has the counts and the first differences with their fields', async () => {
    const r = await run('nmcap', ['--diff', same, ttl, '--json']);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ expected: { packets: 12 }, actual: { packets: 12 }, matched: 11, missing: 0, extra: 0, reordered: 0, changed: 1 });
    expect(j.differences[0]).toMatchObject({ kind: 'changed', firstDifferingByte: 22, fields: [{ field: 'ip.ttl', expected: 64, actual: 63 }, { field: 'ip.checksum' }] });
  });
  it('reads one side from standard input ("-")', async () => {
    const { spawnSync } = await import('node:child_process');
    const { readFileSync } = await import('node:fs');
    const bin = new URL('../../bin/nmcap', import.meta.url).pathname;
    const r = spawnSync(process.execPath, [bin, '--diff', same, '-'], { input: readFileSync(ttl), encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/1 changed/);
  });

  it('exits 2 with one line on usage and file errors', async () => {
    for (const [args, msg] of [
      [['--diff', same], /needs two capture files/],
      [['--diff', same, tmp.path('nope.pcap')], /nope\.pcap: No such file or directory/],
      [['--diff', same, copy, '--ignore', 'ip.tll'], /--ignore: unknown field "ip\.tll"/],
      [['--diff', same, copy, '--timing', 'soon'], /--timing needs a duration/],
      [['--diff', same, copy, '--unordered', '--per-flow'], /not both/],
      [['--diff', same, copy, '--bogus'], /Unknown option '--bogus'/],
      [['--diff', same, tmp.dir], /EISDIR|Is a directory/],
      [['--diff', '-', '-'], /only one of EXPECTED and ACTUAL/],
    ] as [string[], RegExp][]) {
      const r = await run('nmcap', args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^nmcap: /);
    }
  });
});
