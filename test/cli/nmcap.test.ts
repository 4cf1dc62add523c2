// nmcap -r as a user runs it: a child process on the built CLI (npm test compiles dist/ first).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPacketsSync } from '../../src/pcap/index.js';
import { have, run, tsharkFields, epochToNs } from '../helpers/tools.js';

const ROOT = join(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'nmcap');
const FIX = join(ROOT, 'test', 'fixtures');
const dir = mkdtempSync(join(tmpdir(), 'nmcap-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist', 'cli', 'nmcap.js'))) throw new Error('dist/ is missing: run `npm test` (it compiles first) or `npm run build:ts`');
});

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
  out: Buffer;
}

function nmcap(args: string[], input?: Buffer): Result {
  const r = spawnSync(process.execPath, [BIN, ...args], { input, env: { ...process.env, TZ: 'UTC' }, maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8'), out: r.stdout };
}

const fx = (name: string): string => join(FIX, name);
const lines = (s: string): string[] => s.split('\n').filter((l) => l !== '');
/** stderr without tcpdump's "reading from file X, link-type ..., snapshot length N" first line. */
const READING = /^reading from file .+, link-type \S+ \(.+\), snapshot length \d+$/;
const after = (s: string): string[] => lines(s).filter((l, i) => !(i === 0 && READING.test(l)));

function expectOneErrorLine(r: Result, status: number, pattern: RegExp): void {
  expect(r.status).toBe(status);
  const l = after(r.stderr);
  expect(l).toHaveLength(1);
  expect(l[0]).toMatch(/^nmcap: /);
  expect(l[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe('nmcap -r (printing)', () => {
  it.skipIf(!have('tcpdump'))('prints one line per packet, as tcpdump -n -S does', () => {
    for (const f of ['classic-us-le.pcap', 'classic-ns-be.pcap']) {
      const ours = nmcap(['-r', fx(f)]);
      expect(ours.status).toBe(0);
      expect(lines(ours.stderr)).toEqual([`reading from file ${fx(f)}, link-type EN10MB (Ethernet), snapshot length ${f.includes('ns') ? 65535 : 262144}`]);
      const theirs = run('tcpdump', ['-n', '-S', '-r', fx(f)], { env: { TZ: 'UTC' } });
      expect(lines(ours.stdout)).toEqual(lines(theirs.stdout));
      expect(lines(ours.stdout)).toHaveLength(4);
    }
  });

  it.skipIf(!have('tcpdump'))('prints nanoseconds, epoch seconds and the link header on request, as tcpdump does', () => {
    const cases: [string[], string[]][] = [
      [['--nano'], ['--nano']],
      [['--time-stamp-precision', 'nano'], ['--time-stamp-precision=nano']],
      [['-tt'], ['-tt']],
      [['-t'], ['-t']],
      [['-e'], ['-e']],
      [['-q'], ['-q']],
    ];
    for (const [ourArgs, theirArgs] of cases) {
      const ours = nmcap(['-r', fx('classic-ns-be.pcap'), ...ourArgs]);
      const theirs = run('tcpdump', ['-n', '-S', ...theirArgs, '-r', fx('classic-ns-be.pcap')], { env: { TZ: 'UTC' } });
      expect(lines(ours.stdout), ourArgs.join(' ')).toEqual(lines(theirs.stdout));
    }
  });

  it('prints JSON objects with the fields the issue names', () => {
    const r = nmcap(['-r', fx('multi-section.pcapng'), '--json']);
    expect(r.status).toBe(0);
    const objs = lines(r.stdout).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(objs).toHaveLength(5);
    expect(objs[0]).toMatchObject({ ts: '1700000000123456789', caplen: 60, len: 60, interface: 0, linktype: 1, section: 0 });
    expect(objs[1]).toMatchObject({ ts: '1700000000223456000', interface: 1, linktype: 101 });
    expect(objs[3]).toMatchObject({ ts: '1700000005000000000', interface: 0, section: 1 });
    expect(typeof objs[0]!['summary']).toBe('string');
    const spb = lines(nmcap(['-r', fx('simple-packets.pcapng'), '--json']).stdout).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(spb[1]).toMatchObject({ ts: null, caplen: 64, len: 74 });
  });

  it('stops after -c packets', () => {
    expect(lines(nmcap(['-r', fx('classic-us-le.pcap'), '-c', '2']).stdout)).toHaveLength(2);
    expect(lines(nmcap(['-r', fx('multi-section.pcapng'), '-c', '4', '--json']).stdout)).toHaveLength(4);
  });

  it('reads stdin with -r -', () => {
    const r = nmcap(['-r', '-', '--json'], readFileSync(fx('classic-ns-be.pcap')));
    expect(r.status).toBe(0);
    expect(lines(r.stdout).map((l) => (JSON.parse(l) as { ts: string }).ts)).toEqual(['1700000000123456789', '1700000001123456790', '1700000002123456791', '1700000003123456792']);
  });

  it('prints every complete packet and one warning for a last record cut short, and exits 1 as tcpdump', () => {
    for (const f of ['cut-short.pcapng', 'cut-short.pcap']) {
      const r = nmcap(['-r', fx(f)]);
      expect(r.status).toBe(1);
      expect(lines(r.stdout)).toHaveLength(3);
      const err = after(r.stderr);
      expect(err).toHaveLength(1);
      expect(err[0]).toMatch(/^nmcap: warning: the last record is cut short/);
    }
  });

  it('fails with one line and exit 1 on bad input, after printing what came before', () => {
    expectOneErrorLine(nmcap(['-r', fx('bad-magic.pcap')]), 1, /not a pcap or pcapng file/);
    const r = nmcap(['-r', fx('bad-block-length.pcapng')]);
    expectOneErrorLine(r, 1, /block length \d+ is not a multiple of 4 \(block type 0x00000006\) \(at byte offset \d+\)/);
    expect(lines(r.stdout)).toHaveLength(2);
    expectOneErrorLine(nmcap(['-r', join(dir, 'missing.pcap')]), 1, /missing\.pcap: No such file or directory/);
  });
});

describe('nmcap -r -w (rewriting)', () => {
  function packets(path: string): [bigint | null, number, number, string][] {
    return readPacketsSync(readFileSync(path)).map((p) => [p.ts, p.capLen, p.origLen, p.data.toString('hex')]);
  }

  it('writes pcapng by default, with the same packets, and prints statistics on stderr', () => {
    for (const f of ['classic-us-le.pcap', 'classic-ns-be.pcap', 'multi-section.pcapng', 'simple-packets.pcapng']) {
      const out = join(dir, `${f}.out.pcapng`);
      const r = nmcap(['-r', fx(f), '-w', out]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toBe('');
      const n = packets(fx(f)).length;
      expect(lines(r.stderr)).toEqual([`${n} packets read`, `${n} packets written`]);
      expect(readFileSync(out).readUInt32LE(0)).toBe(0x0a0d0d0a);
      expect(packets(out)).toEqual(packets(fx(f)));
      if (have('tshark') && !f.startsWith('simple')) {
        const t = tsharkFields(out, ['frame.time_epoch', 'frame.cap_len']);
        expect(t.stderr).toBe('');
        expect(t.rows.map(([ts, cap]) => [epochToNs(ts!), Number(cap)])).toEqual(packets(fx(f)).map((p) => [p[0], p[1]]));
      }
    }
  });

  it('keeps interfaces, their names and the timestamp resolution of the input', () => {
    const out = join(dir, 'multi.out.pcapng');
    expect(nmcap(['-r', fx('multi-section.pcapng'), '-w', out, '-q']).status).toBe(0);
    const pk = readPacketsSync(readFileSync(out));
    const s = pk[0]!.section;
    expect(s.interfaces.map((i) => [i.linkType, i.name, i.tsResolution.exponent])).toEqual([
      [1, 'eth0', 9],
      [101, 'tun0', 6],
      [1, undefined, 3],
    ]);
    expect(pk.map((p) => p.interface)).toEqual([0, 1, 0, 2, 2]);
    expect(s.userAppl).toBe('nmcap');
  });

  it('writes classic pcap with -F pcap (ns when the input is finer than µs) and -F pcap-ns', () => {
    const a = join(dir, 'a.pcap');
    expect(nmcap(['-r', fx('classic-ns-be.pcap'), '-w', a, '-F', 'pcap']).status).toBe(0);
    expect(readFileSync(a).readUInt32LE(0)).toBe(0xa1b23c4d);
    expect(packets(a)).toEqual(packets(fx('classic-ns-be.pcap')));
    const b = join(dir, 'b.pcap');
    expect(nmcap(['-r', fx('classic-ns-be.pcap'), '-w', b, '-F', 'pcap', '--time-stamp-precision=micro']).status).toBe(0);
    expect(readFileSync(b).readUInt32LE(0)).toBe(0xa1b2c3d4);
    expect(packets(b).map((p) => p[0])).toEqual(packets(fx('classic-ns-be.pcap')).map((p) => p[0]! - (p[0]! % 1000n)));
    const c = join(dir, 'c.pcap');
    expect(nmcap(['-r', fx('classic-us-le.pcap'), '-w', c, '-F', 'pcap-ns']).status).toBe(0);
    expect(readFileSync(c).readUInt32LE(0)).toBe(0xa1b23c4d);
  });

  it('refuses to put two link types into classic pcap, keeping a valid file of what came before', () => {
    const out = join(dir, 'two-links.pcap');
    const r = nmcap(['-r', fx('multi-section.pcapng'), '-w', out, '-F', 'pcap']);
    expectOneErrorLine(r, 1, /classic pcap holds one link type \(1\) but a packet has link type 101; write pcapng instead/);
    // A valid file (it parses) with the Ethernet packet that came before the second link type.
    expect(readPacketsSync(readFileSync(out))).toHaveLength(1);
  });

  it('stops after -c packets', () => {
    const out = join(dir, 'c2.pcapng');
    const r = nmcap(['-r', fx('multi-section.pcapng'), '-w', out, '-c', '2']);
    expect(r.status).toBe(0);
    expect(packets(out)).toEqual(packets(fx('multi-section.pcapng')).slice(0, 2));
  });

  it('writes every complete packet of a file cut short, warns once and exits 0', () => {
    const out = join(dir, 'cut.pcapng');
    const r = nmcap(['-r', fx('cut-short.pcapng'), '-w', out, '-q']);
    expect(r.status).toBe(0);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(lines(r.stderr)[0]).toMatch(/^nmcap: warning: /);
    expect(packets(out)).toHaveLength(3);
  });

  it('on a format error keeps a valid output with the packets before it, one line, exit 1', () => {
    const out = join(dir, 'bad.pcapng');
    const r = nmcap(['-r', fx('bad-block-length.pcapng'), '-w', out]);
    expectOneErrorLine(r, 1, /ERR|block length/);
    expect(packets(out)).toHaveLength(2);
    const bad = join(dir, 'bad-magic-out.pcapng');
    expectOneErrorLine(nmcap(['-r', fx('bad-magic.pcap'), '-w', bad]), 1, /not a pcap or pcapng file/);
    expect(packets(bad)).toHaveLength(0);
  });

  it('writes to stdout with -w - and reads stdin with -r -', () => {
    const r = nmcap(['-r', '-', '-w', '-', '-q'], readFileSync(fx('classic-us-le.pcap')));
    expect(r.status).toBe(0);
    expect(readPacketsSync(r.out).map((p) => p.ts)).toEqual(packets(fx('classic-us-le.pcap')).map((p) => p[0]));
  });

  it('prints the statistics as one JSON object with --json (on stderr when -w -)', () => {
    const out = join(dir, 'j.pcapng');
    const r = nmcap(['-r', fx('cut-short.pcap'), '-w', out, '--json']);
    expect(r.status).toBe(0);
    const stats = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(stats).toMatchObject({ read: 3, written: 3, format: 'pcapng', output: out, error: null, interrupted: false });
    expect((stats['warnings'] as string[])[0]).toMatch(/cut short/);
    const s = nmcap(['-r', fx('classic-us-le.pcap'), '-w', '-', '--json']);
    expect(JSON.parse(s.stderr)).toMatchObject({ read: 4, written: 4 });
    expect(readPacketsSync(s.out)).toHaveLength(4);
  });

  it('reports an output it cannot create in one line', () => {
    expectOneErrorLine(nmcap(['-r', fx('classic-us-le.pcap'), '-w', join(dir, 'nodir', 'x.pcapng')]), 1, /No such file or directory/);
  });
});

describe('nmcap usage', () => {
  it('exits 2 with one line on usage errors', () => {
    expectOneErrorLine(nmcap([]), 2, /give -i PORT to capture live or -r FILE/);
    expectOneErrorLine(nmcap(['-r', fx('classic-us-le.pcap'), '-c', '0']), 2, /-c needs a positive whole number/);
    expectOneErrorLine(nmcap(['-r', fx('classic-us-le.pcap'), '-c', 'many']), 2, /-c needs a positive whole number|Invalid|number/i);
    expectOneErrorLine(nmcap(['-r', fx('classic-us-le.pcap'), '-w', join(dir, 'x'), '-F', 'pcapx']), 2, /-F takes pcapng, pcap, pcap-ns, not 'pcapx'/);
    expectOneErrorLine(nmcap(['-r', fx('classic-us-le.pcap'), '--bogus']), 2, /unknown option '--bogus' \(see nmcap --help\)/);
    expectOneErrorLine(nmcap(['-r', fx('classic-us-le.pcap'), '-Z', 'nobody', 'tcp']), 2, /-Z is for live capture \(-i PORT\)/);
    expectOneErrorLine(nmcap(['-r', fx('classic-us-le.pcap'), '-F', 'pcap']), 2, /-F chooses the format of -w output/);
    expectOneErrorLine(nmcap(['-r']), 2, /Not enough arguments|requires|-r/);
  });

  it('prints help and the version with exit 0', () => {
    const h = nmcap(['--help']);
    expect(h.status).toBe(0);
    expect(h.stdout).toMatch(/Usage: nmcap -i PORT.*\n\s*nmcap -r FILE/);
    expect(h.stdout).toMatch(/--read/);
    const v = nmcap(['--version']);
    expect(v.status).toBe(0);
    expect(v.stdout.trim()).toBe((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
  });
});

describe('nmcap and a reader that goes away (| head)', () => {
  function bigCapture(): string {
    const path = join(dir, 'big.pcap');
    if (!existsSync(path)) {
      const rec = Buffer.concat([Buffer.alloc(16), readFileSync(fx('classic-us-le.pcap')).subarray(40, 100)]);
      rec.writeUInt32LE(60, 8);
      rec.writeUInt32LE(60, 12);
      writeFileSync(path, Buffer.concat([readFileSync(fx('classic-us-le.pcap')).subarray(0, 24), ...Array.from({ length: 60000 }, () => rec)]));
    }
    return path;
  }

  async function runUntilPipeCloses(args: string[]): Promise<{ code: number | null; stderr: string }> {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // Take the first piece of output, then close the pipe as `head` does.
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    child.stdout.destroy();
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    return { code, stderr };
  }

  it('stops printing quietly with exit 0', async () => {
    const r = await runUntilPipeCloses(['-r', bigCapture()]);
    expect(r.code).toBe(0);
    expect(after(r.stderr)).toEqual([]);
  });

  it('with -w - reports the broken pipe in one line, exit 1', async () => {
    const r = await runUntilPipeCloses(['-r', bigCapture(), '-w', '-', '-q']);
    expect(r.code).toBe(1);
    expect(lines(r.stderr)).toEqual(['nmcap: cannot write stdout: Broken pipe']);
  });
});

describe('nmcap Ctrl-C', () => {
  it('first SIGINT stops cleanly with exit 130 and a valid output holding what was read', async () => {
    const out = join(dir, 'sigint.pcapng');
    const child = spawn(process.execPath, [BIN, '-r', '-', '-w', out, '--json'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const fixture = readFileSync(fx('classic-us-le.pcap'));
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    // The header and all four packets, then the pipe stays open as a live capture's would.
    child.stdin.write(fixture);
    // The output file is created after the SIGINT handler is installed: wait for it (no fixed
    // delay), then interrupt while the open pipe keeps nmcap waiting for more data.
    while (!existsSync(out)) {
      if (child.exitCode !== null) throw new Error(`nmcap exited (${child.exitCode}) before creating its output`);
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(code).toBe(130);
    const stats = JSON.parse(stdout) as { read: number; interrupted: boolean };
    expect(stats.interrupted).toBe(true);
    expect(readPacketsSync(readFileSync(out))).toHaveLength(stats.read);
    child.stdin.destroy();
  });
});
