// Usage errors and failures as users meet them: one line in the tool's own words (never the
// argument parser's), the right exit code, the path named; repeated options take the last value.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pipeName, run, start, type Finished } from '../helpers/cli.js';

const demo = new URL('../fixtures/demo.pcapng', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'nmcap-msg-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function oneLine(r: Finished, tool: string, code: number, re: RegExp): void {
  expect(r.code, r.stderr).toBe(code);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^${tool}: `));
  expect(lines[0]).toMatch(re);
  // None of yargs' own phrases, no NaN, no stack.
  expect(lines[0]).not.toMatch(/Unknown argument|Missing required argument|Not enough arguments|Invalid values|NaN|Premature close|\bat \S+:\d+/);
}

describe('usage errors, in the tool’s words (exit 2)', () => {
  it.each([
    ['nmcap', ['--list-ifaces'], /unknown option '--list-ifaces' \(see nmcap --help\)/],
    ['nmcap', ['-r', demo, '-Y'], /unknown option '-Y'/],
    ['nmcap', ['-r', demo, '-c', 'abc'], /-c needs a number \(N\), got 'abc'/],
    ['nmcap', ['-r', demo, '--count=x'], /--count needs a number/],
    ['nmcap', ['-r', demo, '-c', '0'], /-c needs a positive whole number of packets, got 0/],
    ['nmcap', ['-r'], /-r needs a value \(-r FILE\)/],
    ['nmcap', ['-r', demo, '-w', join(dir, 'x'), '-F', 'pcapx'], /-F takes pcapng, pcap, pcap-ns, not 'pcapx'/],
    ['nmcap', ['-r', demo, '-p', 'tcp'], /-p is for live capture \(-i PORT\)/],
    ['nmreplay', [demo], /give the port to send on with -i PORT/],
    ['nmreplay', ['-i'], /-i needs a value/],
    ['nmreplay', ['-i', 'pipe:a{0', '--limit', 'abc', demo], /--limit needs a number \(N\), got 'abc'/],
    ['nmreplay', ['-i', 'pipe:a{0', '--bogus', demo], /unknown option '--bogus' \(see nmreplay --help\)/],
    ['nmreplay', ['-i', 'pipe:a{0', '--rate', '10mpps', demo], /bad rate '10mpps'/],
    ['nmreplay', ['-i', 'pipe:a{0', '-p', '5', '-t', demo], /-p and -t both choose the speed/],
  ])('%s %j', async (tool, args, re) => {
    oneLine(await run(tool, args as string[]), tool, 2, re as RegExp);
  });
});

describe('run-time failures: one line, exit 1, the path named', () => {
  it('nmcap -r DIR names the directory', async () => {
    oneLine(await run('nmcap', ['-r', dir]), 'nmcap', 1, new RegExp(`^nmcap: ${dir}: Is a directory$`));
  });

  it('nmcap -r MISSING names the file', async () => {
    oneLine(await run('nmcap', ['-r', join(dir, 'nope.pcap')]), 'nmcap', 1, /nope\.pcap: No such file or directory$/);
  });

  it.each([['nosuch0'], ['pipe:zz'], ['af_packet:nosuch0']])('a failed live open in print mode (-i %s) is one line', async (port) => {
    oneLine(await run('nmcap', ['-i', port]), 'nmcap', 1, /nosuch0|bad pipe name/);
  });
});

describe('repeated options and rate spellings', () => {
  it('-c 2 -c 3 takes the last, as tcpdump', async () => {
    const r = await run('nmcap', ['-r', demo, '-c', '2', '-c', '3']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(3);
  });

  it.each([['10MPPS', '10Mpps'], ['1e6', '1Mpps'], ['2.5E3kpps', '2.5Mpps']])('--rate %s is accepted', async (rate, shown) => {
    const name = pipeName('m');
    const c = start('nmcap', ['-i', `pipe:${name}}0`, '-w', join(dir, `${name}.pcapng`), '--json']);
    await c.waitFor(/^listening on/);
    const rep = await run('nmreplay', ['-i', `pipe:${name}{0`, '--rate', rate, '--json', demo]);
    expect(rep.code, rep.stderr).toBe(0);
    expect(rep.stderr).toMatch(new RegExp(`^nmreplay: sending on pipe:\\S+ at ${shown.replace('.', '\\.')}$`, 'm'));
    const cap = await c.done;
    expect(JSON.parse(cap.stdout).captured).toBe(JSON.parse(rep.stdout).packets);
  });
});

describe('a pipe capture ended by its sender', () => {
  it('is a normal end: exit 0, said with the statistics, no error line', async () => {
    const name = pipeName('m');
    const c = start('nmcap', ['-i', `pipe:${name}}0`, '-w', join(dir, `${name}.pcapng`)]);
    await c.waitFor(/^listening on/);
    expect((await run('nmreplay', ['-i', `pipe:${name}{0`, '-t', '-q', demo])).code).toBe(0);
    const cap = await c.done;
    expect(cap.code, cap.stderr).toBe(0);
    expect(cap.stderr).toMatch(/^the other end of pipe:\S+ closed$/m);
    expect(cap.stderr.replace(/^nmcap: writing .*\n/m, "")).not.toMatch(/^nmcap: /m); // the write-mode line is no error
  });
});
