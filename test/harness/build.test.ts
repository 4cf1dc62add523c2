// The packet builder and the named-field decoder, checked against tshark's own decode of a pcap
// written with src/pcap: every field we build must read back the same in both, and every checksum
// we compute must be one tshark calls good.
import { afterAll, describe, expect, it } from 'vitest';
import { PcapWriter, openSink } from '../../src/pcap/index.js';
import { buildPacket, decodeFields, findTag, ipChecksumValid, l4ChecksumValid, layoutOf, type PacketSpec } from '../../src/harness/index.js';
import { tempDir } from '../helpers/cli.js';
import { have, run } from '../helpers/tools.js';

const tmp = tempDir('nmcap-harness-');
afterAll(() => tmp.cleanup());

const SPECS: PacketSpec[] = [
  { eth: { src: '02:aa:00:00:00:01', dst: '02:bb:00:00:00:02' }, ipv4: { src: '10.0.0.1', dst: '10.0.0.2', ttl: 17, id: 0x1234 }, udp: { sport: 1000, dport: 2000 }, payload: 'hello', tag: { stream: 7, seq: 1 } },
  { vlan: { id: 100, pcp: 5 }, ipv4: { src: '192.168.1.1', dst: '8.8.8.8', ttl: 1, id: 9, tos: 0xb8 }, tcp: { sport: 40000, dport: 80, seq: 123456789, ack: 42, flags: 'PA', window: 512 }, payload: 'GET / HTTP/1.0\r\n\r\n' },
  { vlan: [{ id: 10 }, { id: 4094, pcp: 1 }], ipv4: { src: '172.16.0.1', dst: '172.16.0.9', ttl: 255, id: 0xffff, df: false }, icmp: { id: 77, seq: 3 }, payload: Buffer.alloc(40, 0xab) },
  { ipv6: { src: '2001:db8::1', dst: 'fe80::1:2:3:4', hopLimit: 9, trafficClass: 0x20, flowLabel: 0xabcde }, udp: { sport: 53, dport: 5353 }, payload: Buffer.alloc(300, 1), tag: { stream: 1, seq: 0xfffffffe } },
  { ipv6: { src: '::1', dst: 'ff02::1' }, tcp: { sport: 1, dport: 65535, flags: 'S', seq: 0xffffffff }, padTo: 0 },
  { ipv6: { src: '2001:db8::2', dst: '2001:db8::3', hopLimit: 64 }, icmp: { type: 128, id: 5, seq: 6 }, payload: 'ping6' },
  { eth: { type: 0x88cc }, payload: Buffer.from('lldp-ish') },
];

// tshark field -> our field name; tshark prints some as hex, some as decimal.
const MAP: [string, string][] = [
  ['eth.src', 'eth.src'], ['eth.dst', 'eth.dst'], ['vlan.id', 'vlan.id'], ['vlan.priority', 'vlan.pcp'],
  ['ip.ttl', 'ip.ttl'], ['ip.id', 'ip.id'], ['ip.checksum', 'ip.checksum'], ['ip.src', 'ip.src'], ['ip.dst', 'ip.dst'], ['ip.len', 'ip.len'], ['ip.proto', 'ip.proto'],
  ['ipv6.hlim', 'ip.ttl'], ['ipv6.src', 'ip.src'], ['ipv6.dst', 'ip.dst'], ['ipv6.flow', 'ipv6.flow'], ['ipv6.plen', 'ip.len'],
  ['udp.srcport', 'l4.sport'], ['udp.dstport', 'l4.dport'], ['udp.checksum', 'l4.checksum'], ['udp.length', 'udp.len'],
  ['tcp.srcport', 'l4.sport'], ['tcp.dstport', 'l4.dport'], ['tcp.checksum', 'l4.checksum'], ['tcp.seq_raw', 'tcp.seq'], ['tcp.ack_raw', 'tcp.ack'], ['tcp.window_size_value', 'tcp.window'],
  ['icmp.ident', 'icmp.id'], ['icmp.seq', 'icmp.seq'], ['icmp.checksum', 'l4.checksum'],
  ['icmpv6.echo.identifier', 'icmp.id'], ['icmpv6.echo.sequence_number', 'icmp.seq'], ['icmpv6.checksum', 'l4.checksum'],
];
const STATUS = ['ip.checksum.status', 'udp.checksum.status', 'tcp.checksum.status', 'icmp.checksum.status', 'icmpv6.checksum.status'];

function norm(v: string | number | undefined): string {
  if (v === undefined) return '';
  if (typeof v === 'number') return String(v);
  if (/^0x[0-9a-f]+$/i.test(v)) return String(parseInt(v, 16));
  return v.toLowerCase();
}

describe('buildPacket and decodeFields', () => {
  const frames = SPECS.map(buildPacket);

  it('pads to 60 bytes unless told not to, and computes valid checksums', () => {
    expect(frames[6]!.length).toBe(60);
    expect(frames[0]!.length).toBe(14 + 20 + 8 + 16 + 5);
    expect(frames[4]!.length).toBe(14 + 40 + 20);
    for (const f of frames) {
      const L = layoutOf(f);
      if (L.ipVersion === 4) expect(ipChecksumValid(f, L)).toBe(true);
      if (L.payloadOff > 0) expect(l4ChecksumValid(f, L)).toBe(true);
    }
    const broken = buildPacket({ ...SPECS[0]!, ipv4: { ...SPECS[0]!.ipv4!, checksum: 0xdead }, udp: { sport: 1, dport: 2, checksum: 0xbeef } });
    expect(ipChecksumValid(broken)).toBe(false);
    expect(l4ChecksumValid(broken)).toBe(false);
  });

  it('finds the tag where it was put, and none in an untagged frame', () => {
    expect(findTag(frames[0]!, layoutOf(frames[0]!).payloadOff)).toEqual({ stream: 7, seq: 1 });
    expect(findTag(frames[3]!)).toEqual({ stream: 1, seq: 0xfffffffe });
    expect(findTag(frames[1]!)).toBeNull();
  });

  it('rejects what it cannot build with one clear error', () => {
    expect(() => buildPacket({ ipv4: { src: '10.0.0.300', dst: '1.1.1.1' } })).toThrow(/not an IPv4 address/);
    expect(() => buildPacket({ vlan: { id: 5000 } })).toThrow(/vlan.id must be .* 0 to 4095/);
    expect(() => buildPacket({ udp: { sport: 1, dport: 2 } })).toThrow(/need an ipv4 or ipv6/);
  });

  it.skipIf(!have('tshark'))('reads back in tshark exactly as decodeFields reads it, checksums good', async () => {
    const file = tmp.path('built.pcap');
    const w = new PcapWriter(openSink(file), { linkType: 1, snapLen: 65535 });
    frames.forEach((data, i) => w.writePacket({ ts: 1_700_000_000_000_000_000n + BigInt(i), data }));
    await w.close();
    const fields = [...MAP.map(([t]) => t), ...STATUS];
    const checks = ['ip', 'udp', 'tcp'].flatMap((p) => ['-o', `${p}.check_checksum:TRUE`]);
    const r = run('tshark', ['-r', file, ...checks, '-T', 'fields', ...fields.flatMap((f) => ['-e', f])]);
    const { status, stderr } = r;
    const rows = r.stdout.split('\n').filter((l) => l !== '').map((l) => l.split('\t'));
    expect(status, stderr).toBe(0);
    expect(rows).toHaveLength(frames.length);
    let compared = 0;
    rows.forEach((row, i) => {
      const ours = decodeFields(frames[i]!);
      MAP.forEach(([t, name], k) => {
        const theirs = (row[k] ?? '').split(',')[0]!; // the outer VLAN tag first
        if (theirs === '') return;
        expect(`${i} ${t}=${norm(ours[name])}`).toBe(`${i} ${t}=${norm(theirs)}`);
        compared++;
      });
      for (let s = 0; s < STATUS.length; s++) {
        const v = row[MAP.length + s] ?? '';
        if (v !== '') expect(`${i} ${STATUS[s]}=${v}`).toBe(`${i} ${STATUS[s]}=1`); // 1 = good
      }
    });
    expect(compared).toBeGreaterThan(60);
  });
});
