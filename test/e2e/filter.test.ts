// Capture filters end to end: nmreplay -> pipe -> nmcap 'expr' (our interpreter on the capture
// thread, no privileges) and nmreplay -> veth -> nmcap 'expr' (AF_PACKET, the kernel runs the
// program). The oracle is tcpdump reading the same trace with the same expression.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { PcapWriter, openSink, readPacketsSync, type Packet } from '../../src/pcap/index.js';
import { makeFrames } from '../capture/frames.js';
import { pipeName, run, start, tempDir } from '../helpers/cli.js';
import { createVethBed, netnsUnavailable, type VethBed } from '../helpers/netns.js';

const tmp = tempDir();
let trace: string;
let untagged: string; // the same frames without the 802.1Q-tagged ones

function packetsOf(file: string): Packet[] {
  return readPacketsSync(readFileSync(file));
}

/** What tcpdump keeps of the trace with this expression. */
function tcpdumpKeeps(expr: string, from = trace): Buffer[] {
  const out = tmp.path(`ref-${Math.random().toString(36).slice(2)}.pcap`);
  execFileSync('tcpdump', ['-r', from, '-w', out, expr], { stdio: 'ignore' });
  return packetsOf(out).map((p) => Buffer.from(p.data));
}

function sameFrames(got: Packet[], want: Buffer[]): void {
  expect(got.length).toBe(want.length);
  got.forEach((p, i) => expect(Buffer.compare(p.data, want[i]!)).toBe(0));
}

beforeAll(async () => {
  trace = tmp.path('mixed.pcap');
  const w = new PcapWriter(openSink(trace), { linkType: 1, snapLen: 65535 });
  // Runts (< 14 bytes) cannot be sent on veth: the test frames are at least 14 bytes.
  const frames = makeFrames(1500, 3);
  frames.forEach((d, i) => w.writePacket({ ts: 1_700_000_000_000_000_000n + BigInt(i) * 1000n, data: d }));
  await w.close();
  // On Linux the kernel takes 802.1Q tags off before socket filters run, so a kernel filter sees
  // a tagged frame as untagged (libpcap's known difference between live and saved captures);
  // the kernel test compares on frames without tags.
  untagged = tmp.path('untagged.pcap');
  const u = new PcapWriter(openSink(untagged), { linkType: 1, snapLen: 65535 });
  frames.filter((d) => d.readUInt16BE(12) !== 0x8100).forEach((d, i) => u.writePacket({ ts: 1_700_000_000_000_000_000n + BigInt(i) * 1000n, data: d }));
  await u.close();
});

afterAll(() => tmp.cleanup());

describe('filters over a pipe (capture-thread interpreter)', () => {
  async function capture(captureArgs: string[]): Promise<{ code: number | null; stderr: string; json: Record<string, unknown>; out: string }> {
    const name = pipeName('f');
    const out = tmp.path(`${name}.pcapng`);
    const c = start('nmcap', ['-i', `pipe:${name}}0`, '-w', out, '--json', ...captureArgs]);
    await c.waitFor(/^listening on pipe:/);
    const rep = await run('nmreplay', ['-i', `pipe:${name}{0`, '-t', trace]);
    expect(rep.code, rep.stderr).toBe(0);
    const cap = await c.done;
    return { code: cap.code, stderr: cap.stderr, json: JSON.parse(cap.stdout) as Record<string, unknown>, out };
  }

  it.each(['udp port 53', 'tcp and not port 80', 'vlan and udp', 'arp or icmp6', 'ip[6:2] & 0x1fff != 0'])(
    'keeps what tcpdump keeps: %s',
    async (expr) => {
      const want = tcpdumpKeeps(expr);
      expect(want.length).toBeGreaterThan(0);
      const r = await capture([expr]);
      expect(r.code, r.stderr).toBe(0);
      const got = packetsOf(r.out);
      sameFrames(got, want);
      expect(r.json).toMatchObject({ captured: want.length, filtered: 1500 - want.length, filterIn: 'capture-thread' });
      // The IDB records the expression (if_filter, libpcap string kind).
      expect(got[0]!.section.interfaces[0]!.filter).toMatchObject({ kind: 0, text: expr });
    },
  );

  it('judges a jumbo frame spread over several pipe slots as a whole (and keeps the snap length)', async () => {
    const jumbo = tmp.path('jumbo.pcap');
    const w = new PcapWriter(openSink(jumbo), { linkType: 1, snapLen: 65535 });
    const frames = makeFrames(300, 9).filter((d) => d.length >= 34 && d.readUInt16BE(12) === 0x0800);
    frames.forEach((d, i) => {
      // Every third frame grows to 9000 bytes: several 2048-byte slots; its ports sit in the first one.
      const big = i % 3 === 0 ? Buffer.concat([d, Buffer.alloc(9000 - d.length, i & 0xff)]) : d;
      w.writePacket({ ts: BigInt(i) * 1000n, data: big });
    });
    await w.close();
    const expr = 'udp and greater 5000';
    const out = tmp.path('ref-jumbo.pcap');
    execFileSync('tcpdump', ['-r', jumbo, '-w', out, expr], { stdio: 'ignore' });
    const want = packetsOf(out).map((p) => Buffer.from(p.data));
    expect(want.length).toBeGreaterThan(0);
    const name = pipeName('j');
    const got = tmp.path(`${name}.pcapng`);
    const c = start('nmcap', ['-i', `pipe:${name}}0`, '-w', got, '-s', '4000', expr]);
    await c.waitFor(/^listening on pipe:/);
    expect((await run('nmreplay', ['-i', `pipe:${name}{0`, '-t', jumbo])).code).toBe(0);
    expect((await c.done).code).toBe(0);
    const pk = packetsOf(got);
    expect(pk.map((p) => p.origLen)).toEqual(want.map((d) => d.length));
    pk.forEach((p, i) => expect(Buffer.compare(p.data, want[i]!.subarray(0, 4000))).toBe(0));
  });

  it('takes the expression with -f as dumpcap does, in several words as tcpdump does', async () => {
    const want = tcpdumpKeeps('udp and port 5353');
    const a = await capture(['-f', 'udp and port 5353']);
    const b = await capture(['udp', 'and', 'port', '5353']);
    sameFrames(packetsOf(a.out), want);
    sameFrames(packetsOf(b.out), want);
  });

  it('refuses a bad expression with one line and exit 1, before capturing anything', async () => {
    const r = await run('nmcap', ['-i', `pipe:${pipeName('f')}}0`, '-w', tmp.path('bad.pcapng'), 'udp prot 53']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^nmcap: cannot compile filter "udp prot 53": .*syntax error/)]);
  });

  it('-d prints the program as tcpdump -d does', async () => {
    for (const expr of ['udp port 53', 'ip6 and tcp port 22 or icmp']) {
      const demo = new URL('../fixtures/demo.pcapng', import.meta.url).pathname; // snap length 262144, as ours
      const want = execFileSync('tcpdump', ['-r', demo, '-d', expr], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      const r = await run('nmcap', ['-i', `pipe:${pipeName('d')}}0`, '-d', expr]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(want);
    }
  });

  it('-r FILE -d prints the program for the file\'s link type and snap length, as tcpdump -r FILE -d does', async () => {
    for (const fixture of ['demo.pcapng', 'classic-ns-be.pcap', 'print-zoo.pcap']) {
      const file = new URL(`../fixtures/${fixture}`, import.meta.url).pathname;
      for (const expr of ['udp port 53', 'ip6 and tcp port 22 or icmp', '']) {
        const want = execFileSync('tcpdump', ['-r', file, '-d', ...(expr ? [expr] : [])], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
        const r = await run('nmcap', ['-r', file, '-d', ...(expr ? [expr] : [])]);
        expect(r.code, `${fixture} ${expr}: ${r.stderr}`).toBe(0);
        expect(r.stdout, `${fixture} ${expr}`).toBe(want);
      }
    }
  });
});

const why = netnsUnavailable();
describe.skipIf(why !== null)(`filters on veth (AF_PACKET, in the kernel)${why ? ` (skipped: ${why})` : ''}`, () => {
  let bed: VethBed;
  beforeAll(() => {
    bed = createVethBed();
  });
  afterAll(() => bed?.destroy());

  it.each(['udp port 53', 'tcp and not port 80', 'ether broadcast or arp'])('keeps what tcpdump keeps: %s', async (expr) => {
    const ns = ['ip', 'netns', 'exec', bed.ns];
    const out = tmp.path(`veth-${Math.random().toString(36).slice(2)}.pcapng`);
    const want = tcpdumpKeeps(expr, untagged);
    // Stops at the count tcpdump keeps: a leaky filter fills it with the wrong frames, a filter
    // that drops too much runs into the duration limit, and either shows in the comparison.
    const c = start('nmcap', ['-i', 'af_packet:vb', '-w', out, '--json', '-c', String(want.length), '-a', 'duration:60', expr], {
      prefix: ns,
    });
    await c.waitFor(/^listening on/);
    const rep = await run('nmreplay', ['-i', 'af_packet:va', '--rate', '20kpps', untagged], { prefix: ns });
    expect(rep.code, rep.stderr).toBe(0);
    const cap = await c.done;
    expect(cap.code, cap.stderr).toBe(0);
    const j = JSON.parse(cap.stdout) as Record<string, unknown>;
    expect(j).toMatchObject({ filterIn: 'kernel', filtered: 0 });
    sameFrames(packetsOf(out), want);
  });
});

const asRoot = process.getuid?.() === 0;
describe.skipIf(!asRoot)(`without libpcap${asRoot ? '' : ' (skipped: needs root to hide libpcap in a mount namespace)'}`, () => {
  it('a filter fails with one line naming the package to install; capture without one still works', async () => {
    // A private mount namespace where the libpcap file reads as empty: dlopen fails as if absent.
    const real = execFileSync('readlink', ['-f', '/usr/lib/x86_64-linux-gnu/libpcap.so.0.8'], { encoding: 'utf8' }).trim();
    const script = 'mount --bind /dev/null "$0" && exec "$@"';
    const prefix = ['unshare', '-m', '--propagation', 'private', 'sh', '-c', script, real];
    const name = pipeName('n');
    const r = await run('nmcap', ['-i', `pipe:${name}}0`, '-w', tmp.path('nolib.pcapng'), 'udp'], { prefix });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^nmcap: capture filters need libpcap, .*apt-get install libpcap0\.8/)]);
    const c = start('nmcap', ['-i', `pipe:${name}}0`, '-w', tmp.path('nolib2.pcapng'), '-c', '3', '--json'], { prefix });
    await c.waitFor(/^listening on pipe:/);
    await run('nmreplay', ['-i', `pipe:${name}{0`, '-t', trace]);
    const done = await c.done;
    expect(done.code, done.stderr).toBe(0);
    expect(JSON.parse(done.stdout)).toMatchObject({ captured: 3, filterIn: null });
  });
});
