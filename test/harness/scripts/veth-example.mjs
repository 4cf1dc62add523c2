// Run inside a network namespace (ip netns exec NS node veth-example.mjs A B): a harness test over
// a veth pair, A by its bare name (the harness picks the backend as the CLIs do) and B as
// af_packet:B; prints the outcome as one JSON line.
import { HarnessSession, buildStream, noise } from '../../../dist/harness/index.js';

const [a, b] = process.argv.slice(2);
const h = HarnessSession.open({ a, b: `af_packet:${b}` });
try {
  const packets = buildStream(30, 9, { ipv4: { src: '10.9.0.1', dst: '10.9.0.2' }, udp: { sport: 999, dport: 7 } }, (i) => ({ ipv4: { src: '10.9.0.1', dst: '10.9.0.2', id: i } }));
  const r = await h.test({
    send: [{ port: 'a', packets }],
    expect: packets.map((packet) => ({ packet, ports: 'b' })),
    match: { noise: [noise.ipv6NeighborDiscovery, noise.mld, noise.lldp] },
  });
  const counters = Object.fromEntries(Object.entries(r.counters.interfaces).map(([k, v]) => [k, Object.fromEntries(Object.entries(v).map(([x, y]) => [x, y === null ? null : Number(y)]))]));
  const ports = Object.fromEntries(['a', 'b'].map((l) => [l, { backend: h.port(l).backend, ifnames: h.port(l).ifnames, choice: h.port(l).choice ?? null }]));
  process.stdout.write(JSON.stringify({ ports, ok: r.ok, rule: r.settle.rule, ms: r.settle.ms, total: r.match.total, deliveries: { sent: r.deliveries.sent, delivered: r.deliveries.delivered, dropped: r.deliveries.dropped }, counters, latencyKnown: r.deliveries.latencyNs !== null, report: r.report() }) + '\n');
} finally {
  h.close();
}
