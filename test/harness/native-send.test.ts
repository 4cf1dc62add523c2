// Sending through the native replay session (nmreplay's loop) from the harness: a rate is held by
// the native thread, volumes beyond JS_SEND_LIMIT go there by default, and every packet is still
// accounted for at the receiving port.
import { afterEach, describe, expect, it } from 'vitest';
import { HarnessSession, JS_SEND_LIMIT, buildStream } from '../../src/harness/index.js';
import { pipeName } from '../helpers/cli.js';

const sessions: HarnessSession[] = [];
afterEach(() => {
  for (const s of sessions.splice(0)) s.close();
});

const flow = { ipv4: { src: '10.1.0.1', dst: '10.1.0.2' }, udp: { sport: 1000, dport: 2000 } };

describe('native sending', () => {
  it(`more than JS_SEND_LIMIT packets go through the native session and all arrive, in order`, async () => {
    const n = pipeName('ns');
    const h = HarnessSession.open({ a: `pipe:${n}{0`, b: `pipe:${n}}0` });
    sessions.push(h);
    const packets = buildStream(JS_SEND_LIMIT * 5, 3, flow);
    const r = await h.test({ send: [{ port: 'a', packets }], expect: packets.map((packet) => ({ packet, ports: 'b' })) });
    expect(r.ok, r.report()).toBe(true);
    expect(r.match.total).toMatchObject({ matched: packets.length, missing: 0, extra: 0, reordered: 0 });
    expect(r.deliveries.delivered).toBe(packets.length);
    // Native departures carry no per-packet send time: latency is unknown, not invented.
    expect(r.deliveries.latencyNs).toBeNull();
    expect(r.sent['a']!.length).toBe(packets.length);
  });

  it('a rate is paced by the native loop (the span is at least what the rate implies)', async () => {
    const n = pipeName('ns');
    const h = HarnessSession.open({ a: `pipe:${n}{0`, b: `pipe:${n}}0` });
    sessions.push(h);
    const packets = buildStream(200, 4, flow);
    const t0 = performance.now();
    const r = await h.test({ send: [{ port: 'a', packets, pps: 20_000 }], expect: packets.map((packet) => ({ packet, ports: 'b' })) });
    const ms = performance.now() - t0;
    expect(r.ok, r.report()).toBe(true);
    expect(ms).toBeGreaterThanOrEqual(9); // 200 packets at 20 kpps span 199/20000 s; a lower bound only
  });

  it("via: 'js' keeps per-packet send times, so latency is known", async () => {
    const n = pipeName('ns');
    const h = HarnessSession.open({ a: `pipe:${n}{0`, b: `pipe:${n}}0` });
    sessions.push(h);
    const packets = buildStream(20, 5, flow);
    const r = await h.test({ send: [{ port: 'a', packets, via: 'js' }], expect: packets.map((packet) => ({ packet, ports: 'b' })) });
    expect(r.ok, r.report()).toBe(true);
    expect(r.sent['a']!.every((s) => s.ts !== null)).toBe(true);
  });
});
