// nmreplay --threads N: one sending thread per TX queue of a veth pair created with 2 queues each
// way; the peer captures with nmcap. Every packet arrives exactly once, the packets of each flow
// in trace order, the totals and the per-ring counts add up, and pacing is over all rings (the
// total never runs faster than the rate asked for). A port with fewer queues says so on one line.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { buildPacket } from '../../src/harness/build.js';
import { PcapWriter, openSink, openTrace } from '../../src/pcap/index.js';
import { netnsUnavailable, vethBedPerTest } from '../helpers/netns.js';
import { pipeName, run, start, tempDir } from '../helpers/cli.js';

const FLOWS = 8;
const PER_FLOW = 250;
const TOTAL = FLOWS * PER_FLOW;
const tmp = tempDir();
let trace: string;
/** 12 MB: more than the native reader's 8 chunks of 1 MiB, and several batches of the JS reader */
let bigTrace: string;
const BIG_PER_FLOW = 2500;
const noNetns = netnsUnavailable();

/** FLOWS UDP flows (source ports 1000+f; flow 7 in an 802.1Q tag), interleaved; each payload is (flow, seq). */
async function flowTrace(path: string, perFlow = PER_FLOW, padTo?: number): Promise<string> {
  const w = new PcapWriter(openSink(path), { linkType: 1, snapLen: 65535 });
  let t = 0n;
  for (let i = 0; i < perFlow; i++) {
    for (let f = 0; f < FLOWS; f++) {
      const payload = Buffer.alloc(8);
      payload.writeUInt32BE(f, 0);
      payload.writeUInt32BE(i, 4);
      const data = buildPacket({
        ...(f === 7 ? { vlan: { id: 7 } } : {}),
        ipv4: { src: '10.0.0.1', dst: '10.0.0.2' },
        udp: { sport: 1000 + f, dport: 9 },
        payload,
        ...(padTo ? { padTo } : {}),
      });
      w.writePacket({ ts: 1_700_000_000_000_000_000n + t++ * 1000n, data });
    }
  }
  await w.close();
  return path;
}

/** (flow, seq) of every captured frame of the trace, in capture order, and whether it came tagged. */
async function captured(path: string): Promise<{ flow: number; seq: number; tagged: boolean }[]> {
  const out: { flow: number; seq: number; tagged: boolean }[] = [];
  const r = openTrace(path);
  for await (const b of r.batches()) {
    for (let i = 0; i < b.count; i++) {
      const d = Buffer.from(b.buffer.buffer, b.buffer.byteOffset + b.dataOffset[i]!, b.capLen[i]!);
      const tagged = d.readUInt16BE(12) === 0x8100;
      const at = 14 + (tagged ? 4 : 0) + 20 + 8;
      if (d.length < at + 8) continue;
      out.push({ flow: d.readUInt32BE(at), seq: d.readUInt32BE(at + 4), tagged });
    }
  }
  await r.close();
  return out;
}

beforeAll(async () => {
  trace = await flowTrace(tmp.path('flows.pcap'));
  bigTrace = await flowTrace(tmp.path('big.pcap'), BIG_PER_FLOW, 600);
});
afterAll(() => tmp.cleanup());

describe.skipIf(noNetns !== null)(`--threads on a veth pair with 2 queues${noNetns ? ` (skipped: ${noNetns})` : ''}`, () => {
  const v = vethBedPerTest({ queues: 2 });

  /** nmreplay on va with `args`, captured by nmcap on vb until every packet is in. */
  async function replayCaptured(port: string, args: string[], passes = 1, file = trace, count = TOTAL, env?: NodeJS.ProcessEnv) {
    const out = tmp.path(`cap-${port.replace(/\W/g, '')}-${Date.now()}.pcap`);
    const cap = start('nmcap', ['-i', 'af_packet:vb', '-c', String(count * passes), '-w', out], { prefix: v.ns });
    await cap.waitFor(/^listening on/);
    const r = await run('nmreplay', ['-i', port, file, '--threads', '2', '--json', '-q', ...args], { prefix: v.ns, env: { ...process.env, ...env } });
    expect(r.code, r.stderr).toBe(0);
    const c = await cap.done;
    expect(c.code, c.stderr).toBe(0);
    return { json: JSON.parse(r.stdout), got: await captured(out) };
  }

  function expectEveryPacketOnceInFlowOrder(got: { flow: number; seq: number }[], passes = 1, perFlow = PER_FLOW): void {
    expect(got).toHaveLength(FLOWS * perFlow * passes);
    const next = new Array<number>(FLOWS).fill(0);
    for (const p of got) {
      expect(p.seq, `flow ${p.flow}`).toBe(next[p.flow]! % perFlow); // once each per pass, in trace order within its flow
      next[p.flow]!++;
    }
    expect(next).toEqual(new Array<number>(FLOWS).fill(perFlow * passes));
  }

  function expectRingsAddUp(json: { packets: number; rings: { ring: number; sent: number; queued: number; pending: number }[] }, passes = 1): void {
    expect(json.packets).toBe(TOTAL * passes);
    expect(json.rings.map((r) => r.ring)).toEqual([0, 1]);
    expect(json.rings.reduce((n, r) => n + r.sent, 0)).toBe(TOTAL * passes);
    expect(json.rings.every((r) => r.pending === 0 && r.queued === r.sent)).toBe(true);
    // 8 flows: both rings carry some, and each ring carries whole flows only (checked by order above)
    expect(json.rings.every((r) => r.sent > 0 && r.sent % PER_FLOW === 0)).toBe(true);
  }

  it('af_xdp at topspeed: every packet once, each flow in order, per-ring counts add up', async () => {
    const { json, got } = await replayCaptured('af_xdp:va', ['-t']);
    expectEveryPacketOnceInFlowOrder(got);
    expectRingsAddUp(json);
    expect(json.rings[0].sender.tid).not.toBe(json.rings[1].sender.tid);
  });

  it('af_xdp at --rate: one schedule over both rings, so the total never runs faster than the rate', async () => {
    const { json, got } = await replayCaptured('af_xdp:va', ['--rate', '40kpps']);
    expectEveryPacketOnceInFlowOrder(got);
    expectRingsAddUp(json);
    expect(json.target).toBe(40000);
    // Deadlines are never early: TOTAL packets take at least (TOTAL-1)/rate (two rings each paced
    // at the full rate would take half that). Late starts only make it slower.
    expect(json.pacedRate).toBeLessThanOrEqual(40000 * 1.001);
    expect(json.pacedRate).toBeGreaterThan(40000 * 0.3);
    expect(json.departure.count).toBe(TOTAL);
    expect(json.pps).toBeCloseTo(json.packets / json.seconds, 3);
  });

  it('--vlan-pop over both rings: flow 7 leaves untagged, every packet once, each flow in order', async () => {
    const { json, got } = await replayCaptured('af_packet:va', ['-t', '--vlan-pop']);
    expectEveryPacketOnceInFlowOrder(got);
    expectRingsAddUp(json);
    expect(got.filter((p) => p.tagged)).toEqual([]);
    expect(json.queuedBytes).toBe(TOTAL * 60 - PER_FLOW * 4); // 60 bytes each (padded), but flow 7's: 56 once its tag is off
  });

  it('af_packet, preloaded and looped: every packet once per pass, each flow in order', async () => {
    const { json, got } = await replayCaptured('af_packet:va', ['-t', '-K', '-l', '3', '--cpu', '0,0'], 3);
    expectEveryPacketOnceInFlowOrder(got, 3);
    expectRingsAddUp(json, 3);
    expect(json.loops).toBe(3);
    expect(json.rings.map((r: { sender: { cpus: number[] } }) => r.sender.cpus)).toEqual([[0], [0]]);
  });

  // A parent batch goes back to its reader only once both rings are done with it: a chunk reused
  // too early would show here as packets lost, doubled or out of order.
  for (const [reader, env] of [['native reader', {}], ['JS reader (src/pcap)', { NMCAP_JS_READER: '1' }]] as const) {
    it(`a trace bigger than the ${reader}'s buffers: every packet once, each flow in order`, async () => {
      const count = FLOWS * BIG_PER_FLOW;
      const { json, got } = await replayCaptured('af_xdp:va', ['--rate', '40kpps'], 1, bigTrace, count, env);
      expectEveryPacketOnceInFlowOrder(got, 1, BIG_PER_FLOW);
      expect(json.packets).toBe(count);
      expect(json.rings.reduce((n: number, g: { sent: number }) => n + g.sent, 0)).toBe(count);
    });
  }

  it('-L over both rings: exactly the limit leaves, and the report says why it ended', async () => {
    const r = await run('nmreplay', ['-i', 'af_xdp:va', trace, '-t', '--threads', '2', '-L', '777', '--json', '-q'], { prefix: v.ns });
    expect(r.code, r.stderr).toBe(0);
    const json = JSON.parse(r.stdout);
    expect(json).toMatchObject({ packets: 777, queued: 777, pending: 0, reason: 'limit' });
    expect(json.rings.reduce((n: number, g: { sent: number }) => n + g.sent, 0)).toBe(777);
  });

  it('Ctrl-C stops every ring: exit 130, the totals are the rings\' sums, nothing left pending', async () => {
    const rep = start('nmreplay', ['-i', 'af_xdp:va', trace, '--rate', '5000', '-l', '0', '--threads', '2', '--json', '--stats', '0.05'], { prefix: v.ns });
    await rep.waitFor(/progress: [1-9]\d* packets sent/);
    rep.child.kill('SIGINT');
    const done = await rep.done;
    expect(done.code, done.stderr).toBe(130);
    const json = JSON.parse(done.stdout);
    expect(json.reason).toBe('stopped');
    expect(json.packets).toBeGreaterThan(0);
    expect(json.rings.reduce((n: number, g: { sent: number }) => n + g.sent, 0)).toBe(json.packets);
    expect(json.pending).toBe(0);
  });

  it('more threads than the interface has TX queues: one line saying how many it has and what to do', async () => {
    const r = await run('nmreplay', ['-i', 'af_xdp:va', trace, '-t', '--threads', '3'], { prefix: v.ns });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([
      'nmreplay: --threads 3: af_xdp:va has 2 TX queues; use --threads 2 or fewer, or give va more queues (ethtool -L va tx 3; a veth pair: ip link add ... numtxqueues 3)',
    ]);
  });
});

describe('--threads on ports without several TX queues, and its usage errors', () => {
  it('a pipe has one ring: --threads 2 is one clear line, exit 1, nothing sent', async () => {
    const name = pipeName('thr');
    const r = await run('nmreplay', ['-i', `pipe:${name}{0`, trace, '-t', '--threads', '2']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([`nmreplay: --threads 2: pipe:${name}{0 has 1 TX queue; a pipe port has one TX ring: use --threads 1`]);
  });

  it('bad values are usage errors (exit 2, one line)', async () => {
    const cases: [string[], RegExp][] = [
      [['--threads', '0'], /^nmreplay: --threads needs a whole number of at least 1, got 0$/],
      [['--threads', '1.5'], /^nmreplay: --threads needs a whole number of at least 1, got 1\.5$/],
      [['--cpu', '0,1'], /^nmreplay: --cpu 0,1: a list of CPUs is for --threads N/],
      [['--threads', '2', '--cpu', '0,x'], /^nmreplay: --cpu needs a number \(N\) or, with --threads, a list \(0,1\), got '0,x'$/],
      [['--threads', '2', '--queue', '1'], /^nmreplay: --threads 2 sends on queues 0 to 1: drop --queue, or use --threads 1 --queue Q$/],
    ];
    for (const [args, re] of cases) {
      const r = await run('nmreplay', ['-i', 'pipe:nobody{0', trace, '-t', ...args]);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr.trim(), args.join(' ')).toMatch(re);
    }
  });
});
