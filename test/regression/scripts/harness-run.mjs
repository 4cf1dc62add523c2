// Runs one harness test described in JSON and prints its outcome as one JSON line:
//   node harness-run.mjs SPEC.json
// It exists so a test can run the harness inside a network namespace (ip netns exec NS node ...),
// where the bridge-backed VALE switch it opens lives; on a netmap host it runs the same test on
// netmap's VALE. SPEC: { ports: {label: name}, portOptions?, send: [{port, hex?: [..], file?, pps?,
// via?, settleAfter?}], expect: [{hex, ports, count?, ignore?}], order?, timeoutMs? }.
import { readFileSync } from 'node:fs';
import { HarnessSession } from '../../../dist/harness/index.js';

const spec = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const fromHex = (h) => Buffer.from(h, 'hex');
const h = HarnessSession.open(spec.ports, { portOptions: spec.portOptions });
try {
  const ports = Object.fromEntries(h.portNames.map((l) => {
    const p = h.port(l);
    return [l, { backend: p.backend, rule: p.rule, ifnames: p.ifnames, valeSwitch: p.valeSwitch ?? null, valeBackend: p.valeBackend ?? null, choice: p.choice ?? null }];
  }));
  const r = await h.test({
    send: spec.send.map((s) => ({ ...s, packets: s.hex?.map(fromHex) })),
    expect: spec.expect.map((e) => ({ ...e, packet: fromHex(e.hex) })),
    match: { order: spec.order ?? 'strict' },
    settle: { timeoutMs: spec.timeoutMs ?? 30_000 },
  });
  const captured = Object.fromEntries(Object.entries(r.captures).map(([l, c]) => [l, c.length]));
  process.stdout.write(JSON.stringify({
    ok: r.ok,
    ports,
    settle: { rule: r.settle.rule, ms: r.settle.ms, detail: r.settle.detail },
    steps: r.steps.map((s) => s.rule),
    total: r.match.total,
    perPort: r.match.ports,
    captured,
    sent: Object.fromEntries(Object.entries(r.sent).map(([l, s]) => [l, s.length])),
    switchLoss: r.switchLoss,
    loss: r.loss.map((l) => ({ ...l, backendDrops: l.backendDrops === null ? null : Number(l.backendDrops) })),
    report: r.report(),
  }) + '\n');
} finally {
  h.close();
}
