// A deliberately broken switch (scripts/broken-switch.mjs, its own process between two pipes)
// drops, duplicates, reorders and rewrites TTL wrongly; the harness must catch and describe each.
import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { HarnessSession, buildStream, checksumsValid, ttlDecremented, type Expectation, type TestResult } from '../../src/harness/index.js';
import { pipeName } from '../helpers/cli.js';

const script = new URL('./scripts/broken-switch.mjs', import.meta.url).pathname;
const children: ChildProcess[] = [];
const sessions: HarnessSession[] = [];
afterEach(() => {
  for (const s of sessions.splice(0)) s.close();
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

interface Faults {
  drop?: number[];
  dup?: number[];
  swap?: [number, number][];
  ttl?: number[];
}

async function throughSwitch(faults: Faults, n = 12): Promise<TestResult> {
  const inName = pipeName('swi');
  const outName = pipeName('swo');
  const child = spawn(process.execPath, [script, inName, outName, JSON.stringify(faults)], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`switch exited with ${code}`)));
  });
  const h = HarnessSession.open({ in: `pipe:${inName}{0`, out: `pipe:${outName}}0` });
  sessions.push(h);
  const sent = buildStream(n, 42, { ipv4: { src: '10.0.0.1', dst: '10.0.1.1', ttl: 64 }, udp: { sport: 5000, dport: 80 } }, (i) => ({ ipv4: { src: '10.0.0.1', dst: '10.0.1.1', ttl: 64, id: i } }));
  // A router: the same packet out, TTL one less, checksums right.
  const expect: Expectation[] = sent.map((packet, i) => ({ packet, ports: 'out', name: `packet #${i}`, predicates: [ttlDecremented(1), checksumsValid()] }));
  return h.test({ send: [{ port: 'in', packets: sent }], expect });
}

describe('the harness against a broken switch on pipes', () => {
  it('passes a switch without faults, settled by the pipe rule', async () => {
    const r = await throughSwitch({});
    expect(r.ok, r.report()).toBe(true);
    expect(r.settle.rule).toBe('pipe-drained');
    expect(r.deliveries).toMatchObject({ sent: 12, delivered: 12, dropped: 0, duplicated: 0, reordered: 0 });
  });

  it('catches a drop: missing, with the closest candidate', async () => {
    const r = await throughSwitch({ drop: [3] });
    expect(r.ok).toBe(false);
    expect(r.match.total).toMatchObject({ matched: 11, missing: 1, extra: 0 });
    expect(r.deliveries.packets[3]!.dropped).toBe(true);
    expect(r.deliveries.dropped).toBe(1);
    expect(r.report()).toMatch(/MISSING: 1 of 1 packet #3 missing on out/);
    expect(r.report()).toMatch(/closest captured: /);
  });

  it('catches a duplicate: one extra, and the packet marked duplicated', async () => {
    const r = await throughSwitch({ dup: [5] });
    expect(r.ok).toBe(false);
    expect(r.match.total).toMatchObject({ matched: 12, missing: 0, extra: 1 });
    expect(r.deliveries.packets[5]!.duplicated).toBe(true);
    expect(r.deliveries.packets[5]!.deliveries.map((d) => d.port)).toEqual(['out', 'out']);
    expect(r.report()).toMatch(/EXTRA: packet 6 on out was not expected/);
  });

  it('catches reordering: one packet out of order, with where it went', async () => {
    const r = await throughSwitch({ swap: [[2, 3]] });
    expect(r.ok).toBe(false);
    expect(r.match.total).toMatchObject({ matched: 12, missing: 0, extra: 0, reordered: 1 });
    expect(r.deliveries.reordered).toBe(1);
    expect(r.report()).toMatch(/REORDERED: packet \d on out \(packet #[23]\) arrived out of order/);
  });

  it('catches a wrong TTL rewrite: changed, with the predicate that failed and the field diff', async () => {
    const r = await throughSwitch({ ttl: [7] });
    expect(r.ok).toBe(false);
    expect(r.match.total).toMatchObject({ matched: 11, changed: 1, missing: 0, extra: 0 });
    const text = r.report();
    expect(text).toMatch(/CHANGED: packet 7 on out differs from packet #7 \(ip\.ttl decremented by 1: ip\.ttl is 62, expected 64 - 1 = 63\)/);
    expect(text).toMatch(/ip\.ttl +64 -> 62/);
    expect(r.deliveries.packets[7]!.deliveries).toHaveLength(1); // delivered, but wrong
  });

  it('describes every fault at once', async () => {
    const r = await throughSwitch({ drop: [1], dup: [4], swap: [[6, 7]], ttl: [9] }, 16);
    expect(r.match.total).toMatchObject({ missing: 1, extra: 1, reordered: 1, changed: 1 });
    expect(r.deliveries).toMatchObject({ sent: 16, dropped: 1, duplicated: 1, reordered: 1 });
    expect(r.match.failures.map((f) => f.kind).sort()).toEqual(['changed', 'extra', 'missing', 'reordered']);
  });
});
