// The streaming diff (nmcap --diff) against the in-memory matcher it stands in for: on pairs of
// files with drops, duplicates, swaps, rewrites, extras and packets moved far away, over two
// interfaces, both give the same counts in every order mode, and the reports name the same packets.
import { afterAll, describe, expect, it } from 'vitest';
import { PcapngWriter, openSink, readPacketsSync } from '../../src/pcap/index.js';
import { readFileSync } from 'node:fs';
import { buildPacket, diffTraces, matchPackets, type CapturedPacket, type OrderMode } from '../../src/harness/index.js';
import { tempDir } from '../helpers/cli.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

/** A small deterministic generator, so a failure can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

async function write(path: string, packets: { iface: number; data: Buffer }[]): Promise<string> {
  const w = new PcapngWriter(openSink(path));
  w.addInterface({ linkType: 1, snapLen: 65535 });
  w.addInterface({ linkType: 1, snapLen: 65535 });
  packets.forEach((p, i) => w.writePacket(p.iface, { ts: BigInt(i) * 1000n, data: p.data }));
  await w.close();
  return path;
}

function mutate(base: { iface: number; data: Buffer }[], r: () => number): { iface: number; data: Buffer }[] {
  const out: { iface: number; data: Buffer }[] = [];
  const late: { iface: number; data: Buffer }[] = [];
  for (const p of base) {
    const x = r();
    if (x < 0.03) continue; // dropped
    if (x < 0.06) {
      out.push(p, p); // duplicated
      continue;
    }
    if (x < 0.09) {
      const d = Buffer.from(p.data);
      d[22] = d[22]! - 2; // TTL rewritten
      out.push({ iface: p.iface, data: d });
      continue;
    }
    if (x < 0.1) {
      late.push(p); // arrives much later
      continue;
    }
    if (x < 0.12) out.push({ iface: p.iface, data: buildPacket({ ipv4: { src: '10.66.0.1', dst: '10.66.0.2' }, udp: { sport: 7, dport: 7 }, payload: `extra ${x}` }) });
    out.push(p);
  }
  for (let i = 0; i + 1 < out.length; i += 37) [out[i], out[i + 1]] = [out[i + 1]!, out[i]!]; // local swaps
  return [...out, ...late];
}

function inMemory(expFile: string, actFile: string, order: OrderMode) {
  const exp = readPacketsSync(readFileSync(expFile));
  const act = readPacketsSync(readFileSync(actFile));
  const captures: Record<string, CapturedPacket[]> = {};
  for (const p of act) (captures[`if${p.interface}`] ??= []).push({ data: p.data, ts: null });
  const byPort = new Map<string, Uint8Array[]>();
  for (const p of exp) (byPort.get(`if${p.interface}`) ?? byPort.set(`if${p.interface}`, []).get(`if${p.interface}`)!).push(p.data);
  const expectations = [...byPort].flatMap(([port, list]) => list.map((packet) => ({ packet, ports: port })));
  return matchPackets(expectations, captures, { order, maxFailures: 10 });
}

describe('streaming diff', () => {
  for (const seed of [1, 2, 3]) {
    it(`agrees with the in-memory matcher (seed ${seed})`, async () => {
      const r = rng(seed);
      const base = Array.from({ length: 2000 }, (_, i) => ({
        iface: r() < 0.3 ? 1 : 0,
        data: buildPacket({ ipv4: { src: '10.0.0.1', dst: '10.0.0.2', id: i & 0xffff }, udp: { sport: 1000 + (i % 5), dport: 53 }, tag: { stream: 1, seq: i } }),
      }));
      const a = await write(tmp.path(`a${seed}.pcapng`), base);
      const b = await write(tmp.path(`b${seed}.pcapng`), mutate(base, r));
      for (const order of ['strict', 'per-flow', 'unordered'] as const) {
        const want = inMemory(a, b, order);
        const { result } = await diffTraces(a, b, { order, maxFailures: 10 });
        expect(result.total, order).toEqual(want.total);
        expect(result.ports, order).toEqual(want.ports);
        expect(result.failureCount, order).toBe(want.failureCount);
        expect(result.ok).toBe(false);
        // The same first differences, by kind, port and captured packet.
        const key = (f: { kind: string; port: string; actual?: { index: number } }) => `${f.kind} ${f.port} ${f.actual?.index ?? '-'}`;
        expect(result.failures.filter((f) => f.kind !== 'missing').map(key), order).toEqual(want.failures.filter((f) => f.kind !== 'missing').map(key));
        for (const f of result.failures) if (f.kind !== 'missing') expect(f.actual?.data.length, f.message).toBeGreaterThan(0);
      }
      const same = await diffTraces(a, a);
      expect(same.result.ok).toBe(true);
      expect(same.result.total).toMatchObject({ matched: base.length, missing: 0, extra: 0, reordered: 0, changed: 0 });
    });
  }
});
