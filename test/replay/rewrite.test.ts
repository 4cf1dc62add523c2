// Rewriting on the native path, checked byte for byte through a real pipe: --dmac/--smac, and
// traces of other link types given an Ethernet header where that is well defined (raw IP, BSD
// loopback), refused (counted, never sent) where it is not.
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { PcapWriter, openSink, readPacketsSync } from '../../src/pcap/index.js';
import { pipeName, run, start, tempDir } from '../helpers/cli.js';

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
  return { rep, json: JSON.parse(rep.stdout), got: readPacketsSync(readFileSync(out)).map((p) => p.data) };
}

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

  it('a bad MAC is a usage error', async () => {
    const r = await run('nmreplay', ['-i', 'pipe:x{0', '--smac', 'zz:00:00:00:00:00', 'any.pcap']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^nmreplay: --smac needs a MAC address/);
  });
});
