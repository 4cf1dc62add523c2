// 802.1Q on AF_PACKET, against tcpdump on the same traffic: the kernel takes the tag out of every
// frame it receives; nmcap puts it back (tp_vlan_tci), and a filter that tests the tag runs on the
// capture thread on the re-tagged frame, so `vlan` keeps what tcpdump keeps, byte for byte.
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { readPacketsSync } from '../../src/pcap/index.js';
import { classicPcap } from '../helpers/classic-pcap.js';
import { start, tempDir } from '../helpers/cli.js';
import { netnsUnavailable, vethBedPerTest } from '../helpers/netns.js';
import { have } from '../helpers/tools.js';

const why = netnsUnavailable() ?? (have('tcpdump') ? null : 'tcpdump is not installed');

/** An Ethernet frame from 02:..:01 to 02:..:02: IPv4/UDP, tagged with `vid` unless null; `seq` in the payload. */
function frame(vid: number | null, proto: 6 | 17, seq: number): Buffer {
  const eth = Buffer.from([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
  const tag = vid === null ? Buffer.alloc(0) : Buffer.from([0x81, 0x00, (vid >> 8) & 0x0f, vid & 0xff]);
  const l4len = proto === 17 ? 8 : 20;
  const payload = Buffer.alloc(22);
  payload.writeUInt32BE(seq, 0);
  const ip = Buffer.alloc(20 + l4len);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + l4len + payload.length, 2);
  ip[8] = 64;
  ip[9] = proto;
  ip.set([10, 0, 0, 1], 12);
  ip.set([10, 0, 0, 2], 16);
  ip.writeUInt16BE(5000, 20);
  ip.writeUInt16BE(proto === 17 ? 53 : 80, 22);
  if (proto === 17) ip.writeUInt16BE(8 + payload.length, 24);
  else ip[32] = 0x50;
  return Buffer.concat([eth, tag, Buffer.from([0x08, 0x00]), ip, payload]);
}

describe.skipIf(why !== null)(`VLAN tags on AF_PACKET (${why ?? 'root, namespaces, tcpdump'})`, () => {
  const t = vethBedPerTest();
  const sent: Buffer[] = [];
  for (let i = 0; i < 60; i++) sent.push(frame([100, 200, null][i % 3]!, i % 2 === 0 ? 17 : 6, i));

  it.each([
    ['vlan', (f: Buffer) => f.readUInt16BE(12) === 0x8100],
    ['vlan 100 and udp', (f: Buffer) => f.readUInt16BE(12) === 0x8100 && (f.readUInt16BE(14) & 0xfff) === 100 && f[27] === 17],
    ['not vlan', (f: Buffer) => f.readUInt16BE(12) !== 0x8100],
  ])('%s: the frames tcpdump captures, tags in place', async (expr, keeps) => {
    const tmp = tempDir('nmcap-vlan-');
    const running: ReturnType<typeof start>[] = [];
    try {
      const want = sent.filter(keeps);
      const trace = tmp.path('tagged.pcap');
      writeFileSync(trace, classicPcap(sent));
      const n = String(want.length);
      const ours = start('nmcap', ['-i', `af_packet:${t.bed.b}`, '-w', tmp.path('nmcap.pcapng'), '-c', n, ...expr.split(' ')], { prefix: t.ns });
      const peer = start('tcpdump', ['-i', t.bed.b, '-U', '-n', '-w', tmp.path('tcpdump.pcap'), '-c', n, expr], { prefix: t.ns });
      running.push(ours, peer);
      await ours.waitFor(/^listening on /, 20_000);
      await peer.waitFor(/^tcpdump: listening on /, 20_000);
      const replay = await start('nmreplay', ['-i', `af_packet:${t.bed.a}`, '--pps', '2000', trace], { prefix: t.ns }).done;
      expect(replay.code, replay.stderr).toBe(0);
      const [a, b] = await Promise.all([ours.done, peer.done]);
      expect(a.code, a.stderr).toBe(0);
      expect(b.code, b.stderr).toBe(0);
      const got = readPacketsSync(readFileSync(tmp.path('nmcap.pcapng'))).map((p) => Buffer.from(p.data));
      const theirs = readPacketsSync(readFileSync(tmp.path('tcpdump.pcap'))).map((p) => Buffer.from(p.data));
      expect(theirs).toEqual(want);
      expect(got).toEqual(want);
      if (expr.includes('vlan')) expect(a.stderr + readFileSync(tmp.path('nmcap.pcapng')).toString('latin1')).toMatch(/filter run on the capture thread/);
    } finally {
      for (const r of running) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
      tmp.cleanup();
    }
  });
});
