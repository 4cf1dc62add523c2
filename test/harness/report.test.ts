// Reports: field-by-field and hex diffs, the closest candidate for a missing packet, the per-port
// summary, the JSON form, and the pcapng artifact (one interface per port and role, verdicts as comments).
import { readFileSync, statSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { readPacketsSync } from '../../src/pcap/index.js';
import { buildPacket, describeFailure, fieldDiff, firstDifference, formatReport, hexDiff, matchPackets, reportJson, writeArtifact, type PacketSpec } from '../../src/harness/index.js';
import { tempDir } from '../helpers/cli.js';
import { have, run } from '../helpers/tools.js';

const tmp = tempDir('nmcap-report-');
afterAll(() => tmp.cleanup());

const spec: PacketSpec = { ipv4: { src: '10.1.0.1', dst: '10.2.0.1', ttl: 64, id: 1 }, udp: { sport: 7, dport: 9 }, payload: 'payload!'.repeat(4) };
const sent = buildPacket(spec);
const ttl63 = buildPacket({ ...spec, ipv4: { ...spec.ipv4!, ttl: 63 } });
const other = buildPacket({ ...spec, udp: { sport: 8, dport: 9 } });

describe('diffs', () => {
  it('lists the fields that differ, with both values', () => {
    const d = fieldDiff(sent, ttl63);
    expect(d.map((x) => x.field)).toEqual(['ip.ttl', 'ip.checksum']);
    expect(d[0]).toEqual({ field: 'ip.ttl', expected: 64, actual: 63 });
  });
  it('marks the first differing byte in a hex diff', () => {
    expect(firstDifference(sent, ttl63)).toBe(22);
    const h = hexDiff(sent, ttl63);
    expect(h).toMatch(/first difference at byte 22 \(0x16\)/);
    expect(h).toMatch(/0010 exp.*\*40/);
    expect(h).toMatch(/0010 got.*\*3f/);
    const caret = h.split('\n').find((l) => l.includes('^^ first'))!;
    const gotRow = h.split('\n').find((l) => l.startsWith('  0010 got'))!;
    expect(gotRow.slice(caret.indexOf('^^'), caret.indexOf('^^') + 2)).toBe('3f');
    expect(hexDiff(sent, sent)).toMatch(/identical/);
  });
});

describe('failure reports', () => {
  const r = matchPackets([{ packet: sent, ports: 'p1', name: 'routed udp' }, { packet: other, ports: 'p1', name: 'lost udp' }], { p1: [{ data: ttl63, ts: 5n }], p2: [{ data: sent, ts: 6n }] });
  it('counts per port and says what happened to each packet', () => {
    expect(r.ports['p1']).toMatchObject({ captured: 1, changed: 1, missing: 1, matched: 0 });
    expect(r.ports['p2']).toMatchObject({ captured: 1, extra: 1 });
    const text = formatReport(r);
    expect(text).toMatch(/^MISMATCH \(strict order\): 0 matched, 1 missing, 1 extra, 0 reordered, 1 changed/);
    expect(text).toMatch(/\np1 +1 +0 +1 +0 +0 +1 +0\n/);
    expect(text).toMatch(/ captured +matched +missing +extra +reordered +changed +noise/);
  });
  it('gives the expected packet, the closest candidate, the field diff and the hex diff', () => {
    const changed = r.failures.find((f) => f.kind === 'changed')!;
    const text = describeFailure(changed);
    expect(text).toMatch(/CHANGED: packet 0 on p1 differs from routed udp/);
    expect(text).toMatch(/expected: .*10\.1\.0\.1:7 > 10\.2\.0\.1:9 UDP ttl 64/);
    expect(text).toMatch(/captured: .*ttl 63.*\[p1 #0 ts 5\]/);
    expect(text).toMatch(/ip\.ttl +64 -> 63/);
    const missing = describeFailure(r.failures.find((f) => f.kind === 'missing')!);
    expect(missing).toMatch(/MISSING: 1 of 1 lost udp missing on p1/);
    expect(missing).toMatch(/closest captured: .*\[p1 #0/);
    expect(missing).toMatch(/l4\.sport +8 -> 7/);
  });
  it('has a JSON form with the counts and the first differences', () => {
    const j = reportJson(r);
    expect(j).toMatchObject({ match: false, matched: 0, missing: 1, extra: 1, reordered: 0, changed: 1 });
    expect((j['differences'] as { kind: string; firstDifferingByte: number | null }[]).find((d) => d.kind === 'changed')!.firstDifferingByte).toBe(22);
    expect(() => JSON.stringify(j)).not.toThrow();
  });
  it('writes one pcapng with sent/received/unmatched interfaces per port, verdicts as comments, mode 0600', async () => {
    const file = tmp.path('artifact.pcapng');
    await writeArtifact(file, { sent: { p0: [{ data: sent, ts: 1n }, { data: other, ts: 2n }] }, captures: { p1: [{ data: ttl63, ts: 5n }], p2: [{ data: sent, ts: 6n }] }, result: r, ts: 9n });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const pkts = readPacketsSync(readFileSync(file));
    const names = pkts[0]!.section.interfaces.map((i) => i.name);
    expect(names).toEqual(['p0 sent', 'p0 received', 'p0 unmatched', 'p1 sent', 'p1 received', 'p1 unmatched', 'p2 sent', 'p2 received', 'p2 unmatched']);
    const where = pkts.map((p) => `${names[p.interface]}: ${p.extras?.comments.join(';') ?? ''}`);
    expect(where).toEqual([
      'p0 sent: ',
      'p0 sent: ',
      'p1 received: changed',
      'p1 unmatched: changed: packet 0 stands for expectation 0',
      'p1 unmatched: missing: 1 of 1 lost udp missing on p1 (got 0)',
      'p2 received: extra',
      'p2 unmatched: extra: packet 0 matched no expectation',
    ]);
    if (have('tshark')) {
      const t = run('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.interface_name', '-e', 'frame.comment']);
      expect(t.status, t.stderr).toBe(0);
      expect(t.stdout).toMatch(/p1 unmatched\tmissing: 1 of 1 lost udp/);
    }
  });
});
