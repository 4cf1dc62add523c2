// The packet summary line against tcpdump's own, for the protocols the printer decodes.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PacketPrinter } from '../../src/cli/print-packet.js';
import { readPacketsSync } from '../../src/pcap/index.js';
import { pcapHeader, pcapRecord } from '../helpers/hand.js';
import { run as runCli } from '../helpers/cli.js';
import { have, run } from '../helpers/tools.js';

const dir = mkdtempSync(join(tmpdir(), 'nmcap-print-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const MACS = '020000000002 020000000001';
const V6A = 'fe800000000000000000000000000001';
const V6B = '20010db8000000000000000000000002';

function ipv4(proto: number, payload: Buffer): Buffer {
  const h = hex(`45000000 0000 4000 40${proto.toString(16).padStart(2, '0')} 0000 0a000001 0a000002`);
  h.writeUInt16BE(20 + payload.length, 2);
  return Buffer.concat([h, payload]);
}
function ipv6(next: number, payload: Buffer): Buffer {
  const h = hex(`60000000 0000 ${next.toString(16).padStart(2, '0')}40 ${V6A} ${V6B}`);
  h.writeUInt16BE(payload.length, 4);
  return Buffer.concat([h, payload]);
}
function tcp(flags: number, seq: number, ack: number, data: number): Buffer {
  const t = Buffer.alloc(20 + data);
  t.writeUInt16BE(443, 0);
  t.writeUInt16BE(51000, 2);
  t.writeUInt32BE(seq, 4);
  t.writeUInt32BE(ack, 8);
  t[12] = 0x50;
  t[13] = flags;
  t.writeUInt16BE(501, 14);
  return t;
}
const udp = (n: number): Buffer => Buffer.concat([hex(`9c40 c350 ${(8 + n).toString(16).padStart(4, '0')} 0000`), Buffer.alloc(n, 7)]);
const eth = (type: string, p: Buffer): Buffer => Buffer.concat([hex(MACS), hex(type), p]);

const ETHERNET_FRAMES: Buffer[] = [
  eth('86dd', ipv6(17, udp(12))),
  eth('86dd', ipv6(58, hex('8000 0000 0005 0009 aabbccdd'))),
  eth('86dd', ipv6(58, hex('8100 0000 0005 0009'))),
  eth('0800', ipv4(6, tcp(0x12, 5000, 1001, 0))),
  eth('0800', ipv4(6, tcp(0x18, 5001, 1001, 100))),
  eth('0800', ipv4(6, tcp(0x11, 5101, 1001, 0))),
  eth('0800', ipv4(6, tcp(0x04, 5102, 0, 0))),
  eth('0800', ipv4(1, hex('0000 0000 0007 0003 00112233'))),
  eth('0806', hex('0001 0800 06 04 0002 020000000002 0a000002 020000000001 0a000001')),
  eth('8100', Buffer.concat([hex('0064 0800'), ipv4(17, udp(4))])),
  eth('0800', ipv4(47, Buffer.alloc(8))),
];

function tcpdumpLines(frames: Buffer[], linkType: number, extra: string[] = []): string[] {
  const path = join(dir, `p${linkType}-${extra.join('')}.pcap`);
  writeFileSync(path, Buffer.concat([pcapHeader('le', false, 65535, linkType), ...frames.map((f, i) => pcapRecord('le', 1_700_000_000 + i, 1000 * i, f))]));
  return run('tcpdump', ['-n', '-S', ...extra, '-r', path], { env: { TZ: 'UTC' } })
    .stdout.split('\n')
    .filter((l) => l !== '');
}

function ourLines(frames: Buffer[], linkType: number, o: ConstructorParameters<typeof PacketPrinter>[0] = {}): string[] {
  const prev = process.env['TZ'];
  process.env['TZ'] = 'UTC';
  try {
    const pr = new PacketPrinter(o);
    const buf = Buffer.concat([pcapHeader('le', false, 65535, linkType), ...frames.map((f, i) => pcapRecord('le', 1_700_000_000 + i, 1000 * i, f))]);
    return readPacketsSync(buf).map((p) => pr.line(Number(p.ts! / 1_000_000_000n), Number(p.ts! % 1_000_000_000n), p.data, p.linkType, p.origLen));
  } finally {
    if (prev === undefined) delete process.env['TZ'];
    else process.env['TZ'] = prev;
  }
}

describe.skipIf(!have('tcpdump'))('packet summary lines match tcpdump -n -S', () => {
  it('Ethernet: IPv6 UDP and ICMPv6, TCP flags and sequence ranges, ICMP, ARP reply, VLAN', () => {
    const theirs = tcpdumpLines(ETHERNET_FRAMES, 1);
    const ours = ourLines(ETHERNET_FRAMES, 1);
    // GRE (last frame) is decoded by tcpdump and only named by us; every other line must match.
    expect(ours.slice(0, -1)).toEqual(theirs.slice(0, -1));
    expect(ours.at(-1)).toMatch(/^\S+ IP 10\.0\.0\.1 > 10\.0\.0\.2: ip-proto-47 8$/);
  });

  it('with the link-level header (-e) and in quick mode (-q)', () => {
    const frames = ETHERNET_FRAMES.slice(0, 10);
    expect(ourLines(frames, 1, { link: true })).toEqual(tcpdumpLines(frames, 1, ['-e']));
    expect(ourLines(frames.slice(3, 9), 1, { quick: true })).toEqual(tcpdumpLines(frames.slice(3, 9), 1, ['-q']));
  });

  it('raw IP and Linux cooked captures', () => {
    const raw = [ipv4(17, udp(3)), ipv6(17, udp(5))];
    expect(ourLines(raw, 101)).toEqual(tcpdumpLines(raw, 101));
    expect(ourLines(raw.slice(0, 1), 228)).toEqual(tcpdumpLines(raw.slice(0, 1), 228));
  });
});

describe('packet summary edge cases', () => {
  const pr = new PacketPrinter({ tsFormat: 1 });
  it('never throws on short or odd packets', () => {
    for (let n = 0; n < 80; n++) {
      const d = ETHERNET_FRAMES[4]!.subarray(0, n);
      for (const lt of [0, 1, 101, 108, 113, 228, 229, 276, 9999]) expect(typeof pr.line(1, 0, d, lt, 100)).toBe('string');
    }
  });

  it('never throws on any cut of the zoo frames, whatever the options', () => {
    const zoo = readPacketsSync(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'print-zoo.pcap')));
    const printers = [{ verbose: 1 }, { link: true, verbose: 2 }, { hex: 2, ascii: true }, { hexAscii: 1, quick: true }].map((o) => new PacketPrinter({ tsFormat: 1, ...o }));
    for (const p of zoo) {
      for (let n = 0; n <= p.data.length; n++) {
        for (const pr of printers) expect(typeof pr.line(1, 0, p.data.subarray(0, n), 1, p.origLen)).toBe('string');
      }
    }
  });

  it('formats timestamps: none, epoch, deltas, date; and time 0 for a packet without one, as tcpdump', () => {
    const p = (tsFormat: number, nano = false): PacketPrinter => new PacketPrinter({ tsFormat, nano });
    const d = ETHERNET_FRAMES[7]!;
    expect(p(2).timestamp(1_700_000_000, 5_000)).toBe('1700000000.000005');
    expect(p(2, true).timestamp(1_700_000_000, 5_000)).toBe('1700000000.000005000');
    const delta = p(3);
    expect(delta.timestamp(10, 900_000_000)).toBe(' 00:00:00.000000');
    expect(delta.timestamp(11, 100_000_000)).toBe(' 00:00:00.200000');
    expect(delta.timestamp(3_700, 100_000_000)).toBe(' 01:01:29.000000');
    const since = p(5);
    since.timestamp(100, 0);
    since.timestamp(150, 0);
    expect(since.timestamp(160, 500)).toBe(' 00:01:00.000000');
    expect(p(1).line(1, 0, d, 1, d.length)).toMatch(/^IP /);
    const prev = process.env['TZ'];
    process.env['TZ'] = 'UTC';
    expect(p(0).line(NaN, 0, d, 1, d.length)).toMatch(/^00:00:00\.000000 IP /);
    expect(p(2).line(NaN, 0, d, 1, d.length)).toMatch(/^0\.000000 IP /);
    expect(p(4).timestamp(1_700_000_000, 123_456_000)).toBe('2023-11-14 22:13:20.123456');
    if (prev === undefined) delete process.env['TZ'];
    else process.env['TZ'] = prev;
  });
});

const FIX = join(import.meta.dirname, '..', 'fixtures');

/** Every flag combination users type, on the project's fixtures; the two outputs must be identical. */
const CASES: [string, string[][]][] = [
  ['print-zoo.pcap', [[], ['-e'], ['-v'], ['-x'], ['-xx'], ['-X'], ['-XX'], ['-A'], ['-e', '-v'], ['-q'], ['-tt'], ['-v', '-X'], ['-e', '-A']]],
  ['demo.pcapng', [[], ['-v'], ['-e', '-X']]],
  ['classic-ns-be.pcap', [['-e', '-v']]],
  ['simple-packets.pcapng', [[], ['-ttt']]],
];

describe.skipIf(!have('tcpdump'))('nmcap -r FILE prints what tcpdump -n -S -r FILE prints, line by line (tcpdump missing: skipped)', () => {
  for (const [file, flagSets] of CASES) {
    it(`${file}: ${flagSets.map((f) => (f.length === 0 ? '(none)' : f.join(' '))).join(', ')}`, async () => {
      const path = join(FIX, file);
      for (const flags of flagSets) {
        const theirs = run('tcpdump', ['-n', '-S', ...flags, '-r', path], { env: { TZ: 'UTC' } });
        const ours = await runCli('nmcap', ['-n', '-S', ...flags, '-r', path], { env: { ...process.env, TZ: 'UTC' } });
        expect(ours.code, flags.join(' ')).toBe(0);
        expect(ours.stdout.split('\n'), flags.join(' ')).toEqual(theirs.stdout.split('\n'));
        // "reading from file X, link-type EN10MB (Ethernet), snapshot length N" on stderr.
        expect(ours.stderr, flags.join(' ')).toBe(`${theirs.stderr}\n`);
      }
    });
  }

  it('prints a packet without timestamp (SPB) at time 0, as tcpdump', async () => {
    const ours = await runCli('nmcap', ['-r', join(FIX, 'simple-packets.pcapng')], { env: { ...process.env, TZ: 'UTC' } });
    expect(ours.stdout.split('\n')[0]).toMatch(/^00:00:00\.000000 IP /);
  });
});
