// The matcher on its own: ordering modes, masks and named fields, padding and trailers,
// predicates, counts, "no other packets" with noise rules, any-port and distribution, and the
// sent-to-received accounting (tags, hash fallback, drops, duplicates, reordering, latency).
import { describe, expect, it } from 'vitest';
import {
  buildPacket,
  buildStream,
  checksumsValid,
  fieldIs,
  matchPackets,
  noise,
  nonDecreasingRun,
  trackDeliveries,
  ttlDecremented,
  type CapturedPacket,
  type Expectation,
  type PacketSpec,
} from '../../src/harness/index.js';

const base: PacketSpec = { ipv4: { src: '10.0.0.1', dst: '10.0.0.2', ttl: 64 }, udp: { sport: 1000, dport: 2000 }, payload: 'x'.repeat(40) };
const udp = (sport: number, extra: Partial<PacketSpec> = {}): Buffer => buildPacket({ ...base, udp: { sport, dport: 2000 }, ...extra });
const cap = (...ps: Uint8Array[]): CapturedPacket[] => ps.map((data, i) => ({ data, ts: BigInt(i) * 1000n }));
const on = (port: string, ...ps: Uint8Array[]): Expectation[] => ps.map((packet) => ({ packet, ports: port }));

describe('order', () => {
  it('keeps a longest non-decreasing run, so one late packet counts once', () => {
    expect(nonDecreasingRun([0, 1, 2, 3])).toEqual([true, true, true, true]);
    expect(nonDecreasingRun([1, 2, 3, 0]).filter((k) => !k)).toHaveLength(1);
    expect(nonDecreasingRun([0, 2, 1, 3]).filter((k) => !k)).toHaveLength(1);
    expect(nonDecreasingRun([0, 0, 1, 1])).toEqual([true, true, true, true]);
  });
});

describe('matchPackets: ordering modes', () => {
  const a = udp(1), b = udp(2), c = udp(3);
  it('strict: a swap is one reordered packet, still matched', () => {
    const r = matchPackets(on('p1', a, b, c), { p1: cap(a, c, b) });
    expect(r.ok).toBe(false);
    expect(r.total).toMatchObject({ matched: 3, reordered: 1, missing: 0, extra: 0 });
    expect(r.failures[0]).toMatchObject({ kind: 'reordered', port: 'p1' });
  });
  it('per-flow: order across flows does not matter, within a flow it does', () => {
    const a2 = udp(1, { ipv4: { ...base.ipv4!, id: 2 } });
    const ok = matchPackets(on('p1', a, a2, b), { p1: cap(b, a, a2) }, { order: 'per-flow' });
    expect(ok.ok).toBe(true);
    const bad = matchPackets(on('p1', a, a2, b), { p1: cap(a2, b, a) }, { order: 'per-flow' });
    expect(bad.total.reordered).toBe(1);
  });
  it('unordered: a multiset', () => {
    expect(matchPackets(on('p1', a, b, c), { p1: cap(c, b, a) }, { order: 'unordered' }).ok).toBe(true);
    const r = matchPackets(on('p1', a, a, b), { p1: cap(a, b, b) }, { order: 'unordered' });
    expect(r.total).toMatchObject({ matched: 2, missing: 1, extra: 1, changed: 0 }); // other flows: not a changed a
  });
});

describe('matchPackets: masks, fields, padding, trailers', () => {
  it('ignores named fields', () => {
    const sent = udp(1);
    const got = udp(1, { eth: { src: '02:99:99:99:99:99' }, ipv4: { ...base.ipv4!, id: 77 } });
    expect(matchPackets(on('p', sent), { p: cap(got) }).ok).toBe(false);
    expect(matchPackets([{ packet: sent, ports: 'p', ignore: ['eth.src', 'ip.id', 'ip.checksum', 'l4.checksum'] }], { p: cap(got) }).ok).toBe(true);
  });
  it('takes a byte mask of don\'t-care bits', () => {
    const sent = udp(1);
    const got = Buffer.from(sent);
    got[0] ^= 0x0f; // low nibble of the first destination MAC byte
    const mask = new Uint8Array(1).fill(0xf0);
    expect(matchPackets([{ packet: sent, ports: 'p', mask }], { p: cap(got) }).ok).toBe(true);
    got[0] ^= 0x10;
    expect(matchPackets([{ packet: sent, ports: 'p', mask }], { p: cap(got) }).ok).toBe(false);
  });
  it('accepts Ethernet padding to 60 bytes, and a trailer only when asked', () => {
    const short = buildPacket({ ...base, payload: '', padTo: 0 }); // 42 bytes
    const padded = Buffer.concat([short, Buffer.alloc(18)]);
    expect(matchPackets(on('p', short), { p: cap(padded) }).ok).toBe(true);
    const long = udp(1);
    const trailer = Buffer.concat([long, Buffer.from('FCS!')]);
    expect(matchPackets(on('p', long), { p: cap(trailer) }).ok).toBe(false);
    expect(matchPackets([{ packet: long, ports: 'p', ignoreTrailing: true }], { p: cap(trailer) }).ok).toBe(true);
    const raw = buildPacket({ eth: { type: 0x88b5 }, payload: 'r'.repeat(60) });
    expect(matchPackets([{ packet: raw, ports: 'p', ignoreTrailing: true }], { p: cap(Buffer.concat([raw, Buffer.from('tail')])) }).ok).toBe(true);
  });
});

describe('matchPackets: predicates', () => {
  const sent = udp(1);
  const routed = udp(1, { ipv4: { ...base.ipv4!, ttl: 63 } });
  it('TTL decremented by one, checksums valid', () => {
    const e: Expectation = { packet: sent, ports: 'p', predicates: [ttlDecremented(1), checksumsValid()] };
    expect(matchPackets([e], { p: cap(routed) }).ok).toBe(true);
    const r = matchPackets([e], { p: cap(sent) });
    expect(r.total).toMatchObject({ changed: 1, matched: 0 });
    expect(r.failures[0]!.message).toMatch(/ip\.ttl is 64, expected 64 - 1 = 63/);
    const badSum = Buffer.from(routed);
    badSum[24] ^= 0xff; // the IPv4 header checksum
    const r2 = matchPackets([e], { p: cap(badSum) });
    expect(r2.failures[0]!.message).toMatch(/IPv4 header checksum invalid/);
  });
  it('fieldIs checks a value and leaves the field out of the comparison', () => {
    const tagged = buildPacket({ ...base, vlan: { id: 5 } });
    const retagged = buildPacket({ ...base, vlan: { id: 9 } });
    expect(matchPackets([{ packet: tagged, ports: 'p', predicates: [fieldIs('vlan.id', 9)] }], { p: cap(retagged) }).ok).toBe(true);
    expect(() => fieldIs('vlan.idd', 1)).toThrow(/unknown field "vlan.idd"/);
  });
});

describe('matchPackets: counts, no other packets, noise, any port, distribution', () => {
  const a = udp(1);
  it('exact counts and min..max', () => {
    expect(matchPackets([{ packet: a, ports: 'p', count: 3 }], { p: cap(a, a, a) }).ok).toBe(true);
    const two = matchPackets([{ packet: a, ports: 'p', count: 3 }], { p: cap(a, a) });
    expect(two.total.missing).toBe(1);
    const four = matchPackets([{ packet: a, ports: 'p', count: 3 }], { p: cap(a, a, a, a) });
    expect(four.total.extra).toBe(1);
    expect(matchPackets([{ packet: a, ports: 'p', count: { min: 1, max: 5 } }], { p: cap(a, a, a, a) }).ok).toBe(true);
    expect(matchPackets([{ packet: a, ports: 'p', count: { min: 1, max: Infinity } }], { p: cap() }).total.missing).toBe(1);
    expect(matchPackets([{ packet: a, ports: 'p', count: 0 }], { p: cap() }).ok).toBe(true);
  });
  it('fails on any other packet, on any port, unless it is declared noise', () => {
    const nd = buildPacket({ ipv6: { src: 'fe80::1', dst: 'ff02::1:ff00:1', hopLimit: 255 }, icmp: { type: 135 } });
    const lldp = buildPacket({ eth: { dst: '01:80:c2:00:00:0e', type: 0x88cc }, payload: 'chassis' });
    const r = matchPackets(on('p1', a), { p1: cap(nd, a), p2: cap(lldp) });
    expect(r.total).toMatchObject({ matched: 1, extra: 2 });
    expect(r.ports['p2']!.extra).toBe(1);
    const quiet = matchPackets(on('p1', a), { p1: cap(nd, a), p2: cap(lldp) }, { noise: [noise.ipv6NeighborDiscovery, noise.lldp] });
    expect(quiet.ok).toBe(true);
    expect(quiet.total.noise).toBe(2);
    expect(matchPackets([], { p2: cap(lldp) }, { allowOther: ['p2'] }).ok).toBe(true);
  });
  it('"on any of these ports" says which port it came out of', () => {
    const r = matchPackets([{ packet: a, ports: ['p1', 'p2', 'p3'], name: 'ecmp' }], { p1: cap(), p2: cap(a), p3: cap() });
    expect(r.ok).toBe(true);
    expect(r.expectations[0]!.on).toEqual([{ port: 'p2', index: 0 }]);
    const dup = matchPackets([{ packet: a, ports: ['p1', 'p2'] }], { p1: cap(a), p2: cap(a) });
    expect(dup.total.extra).toBe(1); // once on any one port, not on two
  });
  it('checks how packets spread over ports', () => {
    const flows = Array.from({ length: 10 }, (_, i) => udp(100 + i));
    const spread = (p1: number[], p2: number[]) =>
      matchPackets(flows.map((packet) => ({ packet, ports: ['p1', 'p2'] })).concat([]), { p1: cap(...p1.map((i) => flows[i]!)), p2: cap(...p2.map((i) => flows[i]!)) }, { order: 'unordered' });
    expect(spread([0, 1, 2, 3, 4], [5, 6, 7, 8, 9]).ok).toBe(true);
    const lag: Expectation = { packet: a, ports: ['p1', 'p2'], count: 10, distribution: { min: 3 } };
    expect(matchPackets([lag], { p1: cap(a, a, a, a, a, a), p2: cap(a, a, a, a) }).ok).toBe(true);
    const skew = matchPackets([lag], { p1: cap(a, a, a, a, a, a, a, a, a), p2: cap(a) });
    expect(skew.ok).toBe(false);
    expect(skew.failures.find((f) => f.kind === 'distribution')!.message).toMatch(/1 on p2, wanted 3\.\.∞ \(spread p1=9 p2=1\)/);
  });
});

describe('trackDeliveries', () => {
  const sent = buildStream(6, 1, base, (i) => ({ udp: { sport: 5000 + i, dport: 2000 } })).map((data, i) => ({ data, ts: 1000n * BigInt(i) }));
  it('per packet: delivered where, dropped, duplicated, reordered, latency', () => {
    const d = (i: number, ts: bigint): CapturedPacket => ({ data: sent[i]!.data, ts });
    const r = trackDeliveries(sent, { p1: [d(0, 500n), d(2, 2600n), d(4, 4700n), d(1, 4800n), d(2, 4900n)], p2: [d(3, 3100n)] });
    expect(r).toMatchObject({ sent: 6, delivered: 5, dropped: 1, duplicated: 1, reordered: 1 });
    expect(r.packets[5]!.dropped).toBe(true);
    expect(r.packets[2]!.duplicated).toBe(true);
    expect(r.packets[1]!.reordered).toBe(true);
    expect(r.packets[3]!.deliveries[0]).toMatchObject({ port: 'p2', by: 'tag', latencyNs: 100n });
    expect(r.latencyNs).toEqual({ min: 100n, p50: 600n, max: 3800n });
    expect(r.packets.filter((f) => f.reordered).map((f) => f.sent)).toEqual([1]);
  });
  it('falls back to a header hash when the payload (and its tag) was rewritten', () => {
    const rewritten = Buffer.from(sent[4]!.data);
    rewritten.fill(0x55, 14 + 20 + 8); // the tag and payload overwritten
    const r = trackDeliveries(sent, { p1: [{ data: rewritten, ts: null }] });
    expect(r.packets[4]!.deliveries[0]).toMatchObject({ port: 'p1', by: 'hash', latencyNs: null });
    expect(r.unknown).toEqual([]);
    expect(trackDeliveries(sent, { p1: [{ data: udp(9), ts: null }] }).unknown).toEqual([{ port: 'p1', index: 0 }]);
  });
});
