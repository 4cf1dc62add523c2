// nmcap/harness by example. Each test is a runnable recipe: open named ports, send built packets,
// let the harness decide when traffic has settled, and judge what came out of every port.
// (In your own tests: import { HarnessSession, buildPacket, ... } from 'nmcap/harness'.)
import { existsSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { readPacketsSync, PcapWriter, openSink } from '../../src/pcap/index.js';
import {
  HarnessSession,
  buildPacket,
  buildStream,
  noise,
  readInterfaceStats,
  type Expectation,
} from '../../src/harness/index.js';
import { pipeName, tempDir } from '../helpers/cli.js';
import { createVethBed, netnsUnavailable } from '../helpers/netns.js';

const tmp = tempDir('nmcap-examples-');
const sessions: HarnessSession[] = [];
afterEach(() => {
  for (const s of sessions.splice(0)) s.close();
});

/** A pipe is a two-port "wire": what one end sends the other end receives. */
function wire(): HarnessSession {
  const n = pipeName('ex');
  const s = HarnessSession.open({ a: `pipe:${n}{0`, b: `pipe:${n}}0` });
  sessions.push(s);
  return s;
}

const udp = { ipv4: { src: '192.0.2.1', dst: '198.51.100.7', ttl: 64 }, udp: { sport: 4000, dport: 53 } };

describe('nmcap/harness examples (pipes)', () => {
  it('sends built packets and expects them, in order, on the other port, and nowhere else', async () => {
    const h = wire();
    const packets = buildStream(20, 1, udp, (i) => ({ ipv4: { ...udp.ipv4, id: i } }));
    const r = await h.test({
      send: [{ port: 'a', packets }],
      expect: packets.map((packet): Expectation => ({ packet, ports: 'b' })),
    });
    expect(r.ok, r.report()).toBe(true);
    expect(r.settle.rule).toBe('pipe-drained');
    expect(r.settle.ms).toBeGreaterThanOrEqual(0);
    expect(r.match.total).toMatchObject({ matched: 20, missing: 0, extra: 0 });
    expect(r.deliveries).toMatchObject({ sent: 20, delivered: 20, dropped: 0, duplicated: 0, reordered: 0 });
    // Pipes stamp every rxsync with the realtime clock: latency is known.
    expect(r.deliveries.latencyNs).not.toBeNull();
    // Send times are taken just before the txsync that publishes a packet, from Node's clock
    // (performance.timeOrigin + now), which agrees with the kernel's realtime clock to about 1 ms.
    expect(r.deliveries.latencyNs!.min).toBeGreaterThanOrEqual(-1_000_000n);
  });

  it('a missing packet fails the test with a report saying which and what came closest', async () => {
    const h = wire();
    const sent = buildPacket({ ...udp, tag: { stream: 2, seq: 0 } });
    const never = buildPacket({ ...udp, udp: { sport: 4001, dport: 53 } });
    const r = await h.test({ send: [{ port: 'a', packets: [sent] }], expect: [{ packet: sent, ports: 'b' }, { packet: never, ports: 'b', name: 'the reply' }] });
    expect(r.ok).toBe(false);
    expect(r.match.total.missing).toBe(1);
    expect(r.report()).toMatch(/MISSING: 1 of 1 the reply missing on b/);
    expect(r.report()).toMatch(/l4\.sport +4001 -> 4000/);
  });

  it('flushes stale packets when arming, so an earlier test cannot leak into this one', async () => {
    const h = wire();
    h.port('a').send(buildPacket({ ...udp, payload: 'stale' }));
    h.port('a').txsync();
    h.arm();
    expect(h.flushed['b']).toBe(1);
    const fresh = buildPacket(udp);
    const r = await h.test({ send: [{ port: 'a', packets: [fresh] }], expect: [{ packet: fresh, ports: 'b' }] });
    expect(r.ok, r.report()).toBe(true);
  });

  it('sends a trace file at a rate, and writes a pcapng artifact with one interface per port and role', async () => {
    const h = wire();
    const trace = tmp.path('trace.pcap');
    const w = new PcapWriter(openSink(trace), { linkType: 1, snapLen: 65535 });
    const frames = buildStream(10, 3, udp);
    frames.forEach((data, i) => w.writePacket({ ts: BigInt(i) * 1000n, data }));
    await w.close();
    const artifact = tmp.path('example.pcapng');
    const t0 = performance.now();
    const r = await h.test({ send: [{ port: 'a', file: trace, pps: 1000 }], expect: frames.map((packet) => ({ packet, ports: 'b' })), artifact });
    expect(r.ok, r.report()).toBe(true);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(8); // 10 packets at 1000 pps span 9 ms
    const pkts = readPacketsSync(readFileSync(artifact));
    const names = pkts[0]!.section.interfaces.map((i) => i.name);
    expect(names).toEqual(['a sent', 'a received', 'a unmatched', 'b sent', 'b received', 'b unmatched']);
    expect(pkts.filter((p) => names[p.interface] === 'a sent')).toHaveLength(10);
    expect(pkts.filter((p) => names[p.interface] === 'b received')).toHaveLength(10);
  });

  it('a capture that overflows fails loudly with the count', async () => {
    const n = pipeName('ex');
    const h = HarnessSession.open({ a: `pipe:${n}{0`, b: `pipe:${n}}0` }, { captureLimit: 5 });
    sessions.push(h);
    const packets = buildStream(8, 4, udp);
    const r = await h.test({ send: [{ port: 'a', packets }], expect: packets.map((packet) => ({ packet, ports: 'b' })) });
    expect(r.ok).toBe(false);
    expect(r.loss).toEqual([{ port: 'b', overflow: 3, backendDrops: 0n }]);
    expect(r.report()).toMatch(/CAPTURE LOSS on b: 3 over the capture limit/);
  });

  it('counts port counters around a test', async () => {
    const h = wire();
    const r = await h.test({ send: [{ port: 'a', packets: buildStream(4, 5, udp) }], expect: buildStream(4, 5, udp).map((packet) => ({ packet, ports: 'b' })) });
    expect(r.counters.interfaces['port:b']).toMatchObject({ rx_received: 4n });
    expect(r.counters.interfaces['port:b']!['rx_ring_full']).toBeNull(); // unknown on pipes, not 0
  });
});

const why = netnsUnavailable();
describe.skipIf(why !== null)(`nmcap/harness examples (veth in a namespace)${why ? `: skipped, ${why}` : ''}`, () => {
  it('settles on quiet interface counters and judges a veth pair, noise rules applied', async () => {
    const script = new URL('./scripts/veth-example.mjs', import.meta.url).pathname;
    expect(existsSync(new URL('../../dist/harness/index.js', import.meta.url))).toBe(true);
    const bed = createVethBed();
    try {
      const child = bed.spawn(process.execPath, [script, bed.a, bed.b]);
      let out = '';
      let err = '';
      child.stdout!.on('data', (d: Buffer) => (out += d));
      child.stderr!.on('data', (d: Buffer) => (err += d));
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      expect(code, err).toBe(0);
      const r = JSON.parse(out);
      expect(r.ok, r.report).toBe(true);
      expect(r.rule).toBe('counters-idle');
      // A bare name opens as the CLIs open it (a receiver's choice: AF_PACKET), and says so.
      expect(r.ports.a).toMatchObject({ backend: 'af_packet', ifnames: [bed.a], choice: expect.stringMatching(/^using af_packet:/) });
      expect(r.ports.b).toMatchObject({ backend: 'af_packet', ifnames: [bed.b], choice: null });
      expect(r.total).toMatchObject({ matched: 30, missing: 0, extra: 0 });
      expect(r.deliveries).toMatchObject({ sent: 30, delivered: 30, dropped: 0 });
      expect(r.counters[bed.b].rx_packets).toBeGreaterThanOrEqual(30);
      expect(r.latencyKnown).toBe(true); // AF_PACKET stamps each packet
    } finally {
      bed.destroy();
    }
    expect(readInterfaceStats('lo')).not.toBeNull();
    expect(noise.lldp.name).toBe('LLDP');
  });
});
