// Rewriting on the native path, checked byte for byte through a real pipe: --dmac/--smac,
// --vlan-push/--vlan-pop (tshark reads the tags back), and traces of other link types given an Ethernet header where that is well defined (raw IP, BSD
// loopback), refused (counted, never sent) where it is not.
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { PcapWriter, openSink, readPacketsSync } from '../../src/pcap/index.js';
import { pipeName, run, start, tempDir } from '../helpers/cli.js';
import { have, tsharkFields } from '../helpers/tools.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

async function trace(name: string, linkType: number, frames: Buffer[]): Promise<string> {
  const f = tmp.path(name);
  const w = new PcapWriter(openSink(f), { linkType, snapLen: 65535 });
  frames.forEach((data, i) => w.writePacket({ ts: 1_700_000_000_000_000_000n + BigInt(i) * 1000n, data }));
  await w.close();
  return f;
}

async function through(args: string[]) {
  const name = pipeName('w');
  const out = tmp.path(`${name}.pcapng`);
  const c = start('nmcap', ['-i', `pipe:${name}}0`, '-w', out]);
  await c.waitFor(/^listening on/);
  const rep = await run('nmreplay', ['-i', `pipe:${name}{0`, '-t', '--json', ...args]);
  const cap = await c.done;
  expect(cap.code, cap.stderr).toBe(0);
  return { rep, json: JSON.parse(rep.stdout), got: readPacketsSync(readFileSync(out)).map((p) => p.data), out };
}

/** An Ethernet frame: the MACs, then 802.1Q/802.1ad tags (TPID, TCI pairs), then an IPv4 ethertype and a body. */
const ethFrame = (tags: [number, number][], body: number): Buffer =>
  Buffer.concat([
    Buffer.from([0x02, 0, 0, 0, 0, 0xd1, 0x02, 0, 0, 0, 0, 0x51]),
    ...tags.map(([tpid, tci]) => Buffer.from([tpid >> 8, tpid & 0xff, tci >> 8, tci & 0xff])),
    Buffer.from([0x08, 0x00]),
    Buffer.alloc(46 + body, body),
  ]);

const ipv4 = (n: number) => Buffer.concat([Buffer.from([0x45, 0, 0, 28 + n]), Buffer.alloc(24 + n, n)]);
const ipv6 = (n: number) => Buffer.concat([Buffer.from([0x60, 0, 0, 0]), Buffer.alloc(36 + n, n)]);
const DMAC = Buffer.from([0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0x01]);
const SMAC = Buffer.from([0x02, 0x11, 0x22, 0x33, 0x44, 0x55]);

describe('rewriting', () => {
  it('--dmac and --smac replace the first 12 bytes of every frame, nothing else', async () => {
    const frames = Array.from({ length: 50 }, (_, i) => Buffer.alloc(60 + i * 20, i + 1));
    const f = await trace('eth.pcap', 1, frames);
    const { rep, json, got } = await through(['--dmac', '02:aa:bb:cc:dd:01', '--smac', '02-11-22-33-44-55', f]);
    expect(rep.code, rep.stderr).toBe(0);
    expect(json.packets).toBe(50);
    expect(got).toEqual(frames.map((d) => Buffer.concat([DMAC, SMAC, d.subarray(12)])));
    const dOnly = await through(['--dmac', '02:aa:bb:cc:dd:01', f]);
    expect(dOnly.got).toEqual(frames.map((d) => Buffer.concat([DMAC, d.subarray(6)])));
  });

  it('raw IP: an Ethernet header with the ethertype of each packet\'s IP version, said once', async () => {
    const pkts = [ipv4(1), ipv6(2), ipv4(3), Buffer.from([0x10, 1, 2, 3])]; // the last is no IP at all
    const f = await trace('raw.pcap', 101, pkts);
    const { rep, json, got } = await through(['--dmac', '02:aa:bb:cc:dd:01', '--smac', '02:11:22:33:44:55', f]);
    expect(rep.code, rep.stderr).toBe(0);
    expect(rep.stderr.match(/link type RAW \(Raw IP\) are sent with an Ethernet header/g)).toHaveLength(1);
    const eth = (type: number, d: Buffer) => Buffer.concat([DMAC, SMAC, Buffer.from([type >> 8, type & 0xff]), d]);
    expect(got).toEqual([eth(0x0800, pkts[0]!), eth(0x86dd, pkts[1]!), eth(0x0800, pkts[2]!)]);
    expect(json).toMatchObject({ packets: 3, failed: 1, unconvertible: 1 });
  });

  it('BSD loopback (DLT_NULL, either byte order): the family header becomes an Ethernet header', async () => {
    const fam = (v: number, le: boolean) => { const b = Buffer.alloc(4); if (le) b.writeUInt32LE(v); else b.writeUInt32BE(v); return b; };
    const pkts = [Buffer.concat([fam(2, true), ipv4(5)]), Buffer.concat([fam(30, false), ipv6(6)])];
    const f = await trace('null.pcap', 0, pkts);
    const { got } = await through([f]);
    const bcast = Buffer.alloc(6, 0xff);
    const zero = Buffer.alloc(6);
    expect(got).toEqual([
      Buffer.concat([bcast, zero, Buffer.from([0x08, 0x00]), ipv4(5)]),
      Buffer.concat([bcast, zero, Buffer.from([0x86, 0xdd]), ipv6(6)]),
    ]);
  });

  it('a link type with no Ethernet form is refused, never sent as garbage', async () => {
    const f = await trace('sll.pcap', 113, [Buffer.alloc(40, 7), Buffer.alloc(40, 8)]);
    const { rep, json, got } = await through([f]);
    expect(rep.stderr).toMatch(/link type LINUX_SLL .* cannot be sent as Ethernet frames/);
    expect(json).toMatchObject({ packets: 0, failed: 2, unconvertible: 2 });
    expect(got).toHaveLength(0);
  });

  it('--vlan-push VID --vlan-pcp P: an 802.1Q tag after the MACs of every frame (tshark reads it back), tags there already kept inside', async () => {
    const frames = [ethFrame([], 1), ethFrame([[0x8100, 7]], 2), ethFrame([], 300)];
    const f = await trace('push.pcap', 1, frames);
    const { rep, json, got, out } = await through(['--vlan-push', '100', '--vlan-pcp', '5', f]);
    expect(rep.code, rep.stderr).toBe(0);
    const tag = Buffer.from([0x81, 0x00, (5 << 5) | 0, 100]);
    expect(got).toEqual(frames.map((d) => Buffer.concat([d.subarray(0, 12), tag, d.subarray(12)])));
    expect(json).toMatchObject({ packets: 3, queuedBytes: frames.reduce((n, d) => n + d.length + 4, 0), truncated: 0 });
    if (have('tshark')) {
      const t = tsharkFields(out, ['vlan.id', 'vlan.priority']);
      expect(t.status, t.stderr).toBe(0);
      expect(t.rows).toEqual([['100', '5'], ['100,7', '5,0'], ['100', '5']]);
    }
  });

  it('--vlan-push with a header we make (raw IP), and with --dmac: the tag sits between the MACs and the ethertype', async () => {
    const f = await trace('rawpush.pcap', 101, [ipv4(4)]);
    const { got } = await through(['--vlan-push', '4095', '--dmac', '02:aa:bb:cc:dd:01', f]);
    expect(got).toEqual([Buffer.concat([DMAC, Buffer.alloc(6), Buffer.from([0x81, 0x00, 0x0f, 0xff, 0x08, 0x00]), ipv4(4)])]);
  });

  it('--vlan-pop: the outer tag (802.1Q or 802.1ad) comes off, an untagged frame goes as it is, snaplen cuts stay counted', async () => {
    const frames = [ethFrame([[0x8100, 10]], 1), ethFrame([[0x88a8, 20], [0x8100, 30]], 2), ethFrame([], 3)];
    const f = tmp.path('pop.pcap');
    const w = new PcapWriter(openSink(f), { linkType: 1, snapLen: 65535 });
    frames.forEach((data, i) => w.writePacket({ ts: 1_700_000_000_000_000_000n + BigInt(i), data, ...(i === 0 ? { origLen: 1500 } : {}) }));
    await w.close();
    const { rep, json, got } = await through(['--vlan-pop', f]);
    expect(rep.code, rep.stderr).toBe(0);
    expect(got).toEqual([
      Buffer.concat([frames[0]!.subarray(0, 12), frames[0]!.subarray(16)]),
      Buffer.concat([frames[1]!.subarray(0, 12), frames[1]!.subarray(16)]), // the inner 802.1Q tag stays
      frames[2],
    ]);
    expect(json).toMatchObject({ packets: 3, truncated: 1, failed: 0 });
  });

  it('VLAN option mistakes are usage errors (exit 2, one line)', async () => {
    const cases: [string[], RegExp][] = [
      [['--vlan-push', '4096'], /^nmreplay: --vlan-push needs a VLAN ID from 0 to 4095, got 4096$/],
      [['--vlan-push', '1', '--vlan-pcp', '8'], /^nmreplay: --vlan-pcp needs a priority from 0 to 7, got 8$/],
      [['--vlan-pcp', '3'], /^nmreplay: --vlan-pcp is the priority of a pushed tag: add --vlan-push VID$/],
      [['--vlan-push', '1', '--vlan-pop'], /^nmreplay: --vlan-push and --vlan-pop: use one of them$/],
      [['--vlan-push', 'ten'], /^nmreplay: .*--vlan-push/],
    ];
    for (const [args, re] of cases) {
      const r = await run('nmreplay', ['-i', 'pipe:x{0', ...args, 'any.pcap']);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr.trim(), args.join(' ')).toMatch(re);
    }
  });

  it('a bad MAC is a usage error', async () => {
    const r = await run('nmreplay', ['-i', 'pipe:x{0', '--smac', 'zz:00:00:00:00:00', 'any.pcap']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^nmreplay: --smac needs a MAC address/);
  });
});
