// The streaming diff (nmcap --diff) against the in-memory matcher it stands in for: on pairs of
// files with drops, duplicates, swaps, rewrites, extras and packets moved far away, over two
// interfaces, both give the same counts in every order mode, and the reports name the same packets.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { PcapngWriter, openSink, readPacketsSync } from '../../src/pcap/index.js';
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

describe('streaming diff: the closest candidate of a missing packet', () => {
  const packets = (n: number) =>
    Array.from({ length: n }, (_, i) => ({
      iface: i % 3 === 0 ? 1 : 0,
      data: buildPacket({ ipv4: { src: '10.0.0.1', dst: '10.0.0.2', id: i & 0xffff }, udp: { sport: 1000 + (i % 5), dport: 53 }, tag: { stream: 1, seq: i } }),
    }));
  const key = (f: { kind: string; port: string; actual?: { port: string; index: number; data: Uint8Array } }) =>
    `${f.kind} ${f.port} ${f.actual ? `${f.actual.port}#${f.actual.index} ${Buffer.from(f.actual.data).toString('hex')}` : '-'}`;

  async function agree(name: string, base: { iface: number; data: Buffer }[], actual: { iface: number; data: Buffer }[]) {
    const a = await write(tmp.path(`${name}-a.pcapng`), base);
    const b = await write(tmp.path(`${name}-b.pcapng`), actual);
    const want = inMemory(a, b, 'strict');
    const { result } = await diffTraces(a, b, { order: 'strict', maxFailures: 10 });
    expect(result.total).toEqual(want.total);
    const missing = (fs: typeof result.failures) => fs.filter((f) => f.kind === 'missing').map(key);
    expect(missing(result.failures)).toEqual(missing(want.failures));
    return result;
  }

  it('only drops: nothing is left unpaired, so the closest is a packet that did pair, as in memory', async () => {
    const base = packets(300);
    const r = await agree('drops', base, base.filter((_, i) => i !== 40 && i !== 41 && i !== 200));
    const shown = r.failures.filter((f) => f.kind === 'missing');
    expect(shown).toHaveLength(3);
    for (const f of shown) expect(f.actual, f.message).toBeDefined(); // before: "nothing captured on that port"
  });

  it('a rewritten packet on the port is preferred to the paired ones', async () => {
    const base = packets(300);
    const actual = base.filter((_, i) => i !== 100).map((p, i) => (i === 150 ? { iface: p.iface, data: Buffer.concat([p.data, Buffer.from('tail')]) } : p));
    await agree('free', base, actual);
  });

  it('looks only at the first CLOSEST_WINDOW packets of the port, as in memory', async () => {
    const base = packets(7600); // about 5060 on if0
    // One drop early; the only unpaired captured packet (a rewrite) lies beyond the window.
    // (base 10 and base 7591 are both on if0; the rewrite is if0's captured packet 5059.)
    const actual = base.filter((_, i) => i !== 10).map((p, i) => (i === 7590 ? { iface: p.iface, data: Buffer.concat([p.data, Buffer.from('x')]) } : p));
    const r = await agree('window', base, actual);
    expect(r.total).toMatchObject({ missing: 1, changed: 1 });
    const m = r.failures.find((f) => f.kind === 'missing');
    expect(m?.port).toBe('if0');
    expect(m?.actual?.index).toBeLessThan(5000); // streamed before: the rewrite at 5059, the only unpaired one
  });
});

describe('streaming diff from standard input', () => {
  it('gives what the file gives, reports that read packets again included, and leaves no copy behind', async () => {
    const r = rng(9);
    const base = Array.from({ length: 3000 }, (_, i) => ({
      iface: r() < 0.3 ? 1 : 0,
      data: buildPacket({ ipv4: { src: '10.0.0.1', dst: '10.0.0.2', id: i & 0xffff }, udp: { sport: 1000 + (i % 5), dport: 53 }, tag: { stream: 1, seq: i } }),
    }));
    const a = await write(tmp.path('in-a.pcapng'), base);
    const b = await write(tmp.path('in-b.pcapng'), mutate(base, r));
    const bin = new URL('../../bin/nmcap', import.meta.url).pathname;
    const spool = tmp.path('spool');
    mkdirSync(spool);
    const env = { ...process.env, TMPDIR: spool };
    const files = spawnSync(process.execPath, [bin, '--diff', a, b, '--json'], { encoding: 'utf8', env });
    expect(files.status, files.stderr).toBe(1);
    const fromFile = JSON.parse(files.stdout);
    expect(fromFile.differences.some((d: { kind: string }) => d.kind === 'reordered')).toBe(true); // these are read again
    for (const [args, input] of [[['-', b], a], [[a, '-'], b]] as const) {
      const piped = spawnSync(process.execPath, [bin, '--diff', ...args, '--json'], { input: readFileSync(input), encoding: 'utf8', env });
      expect(piped.status, piped.stderr).toBe(1);
      const j = JSON.parse(piped.stdout);
      expect({ ...j, expected: j.expected.packets, actual: j.actual.packets }).toEqual({ ...fromFile, expected: fromFile.expected.packets, actual: fromFile.actual.packets });
    }
    expect(readdirSync(spool)).toEqual([]);
  });
});

