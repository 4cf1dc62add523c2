// nmreplay -> veth -> nmcap through the Linux backends, as users run them: every combination of
// AF_PACKET and AF_XDP, bare names, oversize packets, faults, and nothing left configured after.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PcapWriter, openSink, readPacketsSync, type Packet } from '../../src/pcap/index.js';
import { netmapAvailable } from '../../src/ports/names.js';
import { SO_FAR, run, start, tempDir, untilCount } from '../helpers/cli.js';
import { netnsUnavailable, vethBedPerTest, type VethBed } from '../helpers/netns.js';
import { eventually } from '../helpers/slowness.mjs';

const why = netnsUnavailable();
const tmp = tempDir();
let trace: string; // 600 frames of 60..1514 bytes, VLAN-tagged ones among them
let oversize: string; // 10 frames, two of them larger than the MTU
const COUNT = 600;

function packetsOf(file: string): Packet[] {
  return readPacketsSync(readFileSync(file));
}

function frame(i: number, size: number, vlan = false): Buffer {
  const f = Buffer.alloc(size, i & 0xff);
  Buffer.from([0x02, 0, 0, 0, 0, 0x0b, 0x02, 0, 0, 0, 0, 0x0a]).copy(f, 0);
  if (vlan) {
    f.writeUInt16BE(0x8100, 12);
    f.writeUInt16BE(100, 14);
    f.writeUInt16BE(0x88b5, 16); // local experimental ethertype: nothing in the kernel reacts
    f.writeUInt32BE(i, 18);
  } else {
    f.writeUInt16BE(0x88b5, 12);
    f.writeUInt32BE(i, 14);
  }
  return f;
}

async function writeTrace(path: string, frames: Buffer[]): Promise<void> {
  const w = new PcapWriter(openSink(path), { linkType: 1, snapLen: 65535 });
  frames.forEach((f, i) => w.writePacket({ ts: 1_700_000_000_000_000_000n + BigInt(i) * 1000n, data: f }));
  await w.close();
}

function promiscuity(bed: VethBed, dev: string): number {
  return Number(/promiscuity (\d+)/.exec(bed.exec('ip', ['-d', 'link', 'show', dev]))?.[1]);
}

function xdpAttached(bed: VethBed, dev: string): boolean {
  return /\bxdp/.test(bed.exec('ip', ['link', 'show', dev]));
}

beforeAll(async () => {
  trace = tmp.path('veth.pcap');
  const frames: Buffer[] = [];
  for (let i = 0; i < COUNT; i++) frames.push(frame(i, 60 + ((i * 977) % 1455), i % 10 === 3));
  await writeTrace(trace, frames);
  oversize = tmp.path('oversize.pcap');
  await writeTrace(oversize, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => frame(i, i === 4 || i === 7 ? 3000 : 100)));
});

afterAll(() => tmp.cleanup());

describe.skipIf(why !== null)(`replay -> veth -> capture${why ? ` (skipped: ${why})` : ''}`, () => {
  const t = vethBedPerTest();

  async function across(tx: string, rx: string, replayArgs: string[], captureArgs: string[] = []) {
    const out = tmp.path(`${t.bed.ns}-${tx.replace(/\W/g, '')}-${rx.replace(/\W/g, '')}.pcapng`);
    const divert = rx.startsWith('af_xdp:') ? ['--divert'] : []; // AF_XDP receive takes the frames from the host stack
    const c = start('nmcap', ['-i', rx, ...divert, '-w', out, '--json', ...captureArgs], { prefix: t.ns });
    await c.waitFor(/^listening on/);
    const rep = await run('nmreplay', ['-i', tx, '--json', ...replayArgs], { prefix: t.ns });
    // Every frame that left has crossed once the capture counted it.
    if (rep.code === 0) await untilCount(c, SO_FAR.nmcap, (JSON.parse(rep.stdout) as { packets: number }).packets);
    c.child.kill('SIGTERM');
    const cap = await c.done;
    return { rep, cap, out };
  }

  for (const tx of ['af_packet', 'af_xdp']) {
    for (const rx of ['af_packet', 'af_xdp']) {
      it(`${tx} -> ${rx}: every frame byte-exact and in order`, async () => {
        const { rep, cap, out } = await across(`${tx}:va`, `${rx}:vb`, ['--rate', '20kpps', trace]);
        expect(rep.code, rep.stderr).toBe(0);
        expect(cap.code, cap.stderr).toBe(0); // ended by SIGTERM, cleanly, as tcpdump
        const r = JSON.parse(rep.stdout);
        const c = JSON.parse(cap.stdout);
        expect(r).toMatchObject({ packets: COUNT, failed: 0, pending: 0, backend: tx });
        expect(c).toMatchObject({ captured: COUNT, dropped: 0, backend: rx });
        const got = packetsOf(out);
        const want = packetsOf(trace);
        expect(got.length).toBe(want.length);
        got.forEach((p, i) => expect(Buffer.compare(p.data, want[i]!.data), `frame ${i}`).toBe(0));
      });
    }
  }

  it('bare names: the best backend for each direction, said on stderr', async () => {
    const { rep, cap } = await across('va', 'vb', ['-t', trace]);
    if (netmapAvailable()) {
      // Sending: netmap goes first; where it cannot take the interface the Linux backends follow, and say so.
      expect(rep.stderr).toMatch(/^nmreplay: using (netmap:va |af_xdp:va .*skipped netmap:va: |af_packet:va .*skipped netmap:va: )/m);
    } else {
      expect(rep.stderr).toMatch(/^nmreplay: using af_xdp:va /m);
    }
    // Capturing a bare name is passive on every host: AF_PACKET only (netmap and AF_XDP would take
    // the interface's traffic away from the host stack; they need --divert and an explicit name).
    expect(cap.stderr).toMatch(/^nmcap: using af_packet:vb /m);
    expect(JSON.parse(cap.stdout).captured).toBe(COUNT);
  });

  it('frames larger than the MTU are counted as failed and the replay goes on; --truncate sends their start', async () => {
    const skip = await across('af_packet:va', 'af_packet:vb', ['-t', oversize]);
    expect(skip.rep.code, skip.rep.stderr).toBe(0);
    expect(JSON.parse(skip.rep.stdout)).toMatchObject({ packets: 8, failed: 2, truncated: 0 });
    expect(skip.rep.stderr).toMatch(/2 packets were not sent/);
    const got = packetsOf(skip.out).map((p) => p.data.readUInt32BE(14));
    expect(got).toEqual([0, 1, 2, 3, 5, 6, 8, 9]);

    const cut = await across('af_xdp:va', 'af_packet:vb', ['-t', '--truncate', oversize]);
    expect(JSON.parse(cut.rep.stdout)).toMatchObject({ packets: 10, failed: 0, truncated: 2 });
    const sizes = packetsOf(cut.out).map((p) => p.data.length);
    expect(sizes[4]).toBe(1514);
    expect(sizes[7]).toBe(1514);
  });

  it('leaves nothing configured: promiscuous mode and the XDP program go away with the capture', async () => {
    expect(promiscuity(t.bed, 'vb')).toBe(0);
    const c = start('nmcap', ['-i', 'af_xdp:vb', '--divert', '-w', tmp.path('x.pcapng')], { prefix: t.ns });
    await c.waitFor(/^listening on/);
    expect(xdpAttached(t.bed, 'vb')).toBe(true);
    expect(promiscuity(t.bed, 'vb')).toBe(1);
    c.child.kill('SIGINT');
    expect((await c.done).code).toBe(0);
    expect(xdpAttached(t.bed, 'vb')).toBe(false);
    expect(promiscuity(t.bed, 'vb')).toBe(0);

    const k = start('nmcap', ['-i', 'af_xdp:vb', '--divert', '-w', tmp.path('y.pcapng')], { prefix: t.ns });
    await k.waitFor(/^listening on/);
    k.child.kill('SIGKILL');
    await k.done;
    // The kernel releases what a killed process held: BPF link, packet socket membership (soon after).
    await eventually(() => !xdpAttached(t.bed, 'vb'), 'the killed capture\'s XDP program to be released');
    expect(promiscuity(t.bed, 'vb')).toBe(0);

    const p = start('nmcap', ['-i', 'af_packet:vb', '-p', '-w', tmp.path('z.pcapng')], { prefix: t.ns });
    await p.waitFor(/^listening on/);
    expect(promiscuity(t.bed, 'vb')).toBe(0); // -p: stay out of promiscuous mode, as tcpdump
    p.child.kill('SIGINT');
    await p.done;
  });

  it('refuses politely when another XDP program is attached', async () => {
    const first = start('nmcap', ['-i', 'af_xdp:vb', '--divert', '-w', tmp.path('a.pcapng')], { prefix: t.ns });
    await first.waitFor(/^listening on/);
    const second = await run('nmcap', ['-i', 'af_xdp:vb', '--divert', '-w', tmp.path('b.pcapng'), '-c', '1', '--duration', '1'], { prefix: t.ns });
    expect(second.code).toBe(1);
    expect(second.stderr.trim().split('\n')).toHaveLength(1);
    expect(second.stderr).toMatch(/already has an XDP program attached/);
    first.child.kill('SIGINT');
    await first.done;
  });

  it('bad ports: unknown interface, interface down: one line, exit 1', async () => {
    const unknown = await run('nmreplay', ['-i', 'eth9', '-t', trace], { prefix: t.ns });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr.trim()).toMatch(/^nmreplay: no interface 'eth9'/);
    t.bed.exec('ip', ['link', 'set', 'vb', 'down']);
    for (const port of ['af_packet:vb', 'af_xdp:vb']) {
      const down = await run('nmcap', ['-i', port, '--divert', '-w', tmp.path('d.pcapng')], { prefix: t.ns });
      expect(down.code, down.stderr).toBe(1);
      expect(down.stderr.trim().split('\n')).toHaveLength(1);
      expect(down.stderr).toMatch(/vb is down/);
    }
  });

  it('the interface vanishing mid-run: both sides stop with a clear line, the capture file stays valid', async () => {
    const out = tmp.path(`${t.bed.ns}-vanish.pcapng`);
    const c = start('nmcap', ['-i', 'af_packet:vb', '-w', out, '--json'], { prefix: t.ns });
    await c.waitFor(/^listening on/);
    const r = start('nmreplay', ['-i', 'af_xdp:va', '--rate', '2kpps', '-l', '0', '--json', trace], { prefix: t.ns });
    await untilCount(c, SO_FAR.nmcap, 200);
    t.bed.exec('ip', ['link', 'del', 'va']); // takes vb with it
    const [rep, cap] = await Promise.all([r.done, c.done]);
    expect(rep.code).toBe(1);
    expect(rep.stderr).toMatch(/va.*(vanished|went down|gone|down)/);
    expect(cap.code).toBe(1);
    expect(cap.stderr).toMatch(/vb.*(vanished|went down|gone|down|deleted)/);
    const stats = JSON.parse(cap.stdout);
    const got = packetsOf(out);
    expect(got.length).toBe(stats.captured);
    expect(got.length).toBeGreaterThan(100);
    const want = packetsOf(trace);
    got.forEach((p, i) => expect(Buffer.compare(p.data, want[i % COUNT]!.data)).toBe(0));
    expect(() => execFileSync('tshark', ['-r', out, '-q'], { stdio: 'ignore' })).not.toThrow();
  });
});
