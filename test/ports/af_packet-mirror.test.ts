// The TypeScript mirror of the af_packet backend (src/ports/af_packet.ts), checked without root.
// Its agreement with the native open (codes, messages, link types, ring sizes) is checked on veth
// in af_packet.test.ts.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import {
  AF_PACKET,
  afPacketNameProblem,
  afPacketProblem,
  linkTypeOfArphrd,
  listAfPacketInterfaces,
  maxFrameOf,
  readAfPacketInterface,
} from '../../src/ports/af_packet.js';

describe('af_packet TypeScript mirror', () => {
  it('accepts the names Linux accepts and refuses the others', () => {
    for (const ok of ['eth0', 'vb', 'a', 'enp0s31f6', 'br-0.100', 'x'.repeat(15), 'veth@x']) expect(afPacketNameProblem(ok)).toBeNull();
    for (const bad of ['', '.', '..', 'a/b', 'a:b', 'a b', 'tab\there', 'x'.repeat(16), 'nul\0']) {
      expect(afPacketNameProblem(bad)).toMatch(/is not a valid interface name: 1 to 15 characters/);
    }
  });

  it('maps device types to pcap link types, refusing what it cannot describe', () => {
    expect(linkTypeOfArphrd(1)).toBe(1); // ether
    expect(linkTypeOfArphrd(772)).toBe(1); // loopback
    expect(linkTypeOfArphrd(0xfffe)).toBe(101); // tun
    expect(linkTypeOfArphrd(803)).toBe(127); // radiotap
    expect(linkTypeOfArphrd(512)).toBeNull(); // ppp
  });

  it('computes the largest frame the TX ring sends', () => {
    expect(maxFrameOf(1, 1500)).toBe(1518); // room for one 802.1Q tag
    expect(maxFrameOf(772, 1500)).toBe(1514); // loopback: no tag allowance
    expect(maxFrameOf(0xfffe, 1500)).toBe(1500); // raw IP
    expect(maxFrameOf(772, 65536)).toBe(65535); // what a slot can hold
  });

  it('keeps the documented default geometry consistent', () => {
    // A 60-byte frame takes 152 bytes of a V3 block (86 bytes of header area, 8-byte aligned).
    expect(AF_PACKET.rxPacketsPerBlock60).toBe(Math.floor((AF_PACKET.rxBlockSize - 48 - 1) / 152));
    expect(AF_PACKET.rxDefaultBlocks * AF_PACKET.rxBlockSize).toBe(8 << 20);
  });

  const root = mkdtempSync(join(tmpdir(), 'nmcap-sysfs-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  function fakeIf(name: string, f: { ifindex: number; type: number; mtu: number; flags: string; queues?: number }) {
    const d = join(root, name);
    mkdirSync(join(d, 'queues'), { recursive: true });
    writeFileSync(join(d, 'ifindex'), `${f.ifindex}\n`);
    writeFileSync(join(d, 'type'), `${f.type}\n`);
    writeFileSync(join(d, 'mtu'), `${f.mtu}\n`);
    writeFileSync(join(d, 'flags'), `${f.flags}\n`);
    writeFileSync(join(d, 'operstate'), 'up\n');
    for (let q = 0; q < (f.queues ?? 1); q++) {
      mkdirSync(join(d, 'queues', `rx-${q}`));
      mkdirSync(join(d, 'queues', `tx-${q}`));
    }
  }

  it('reads an interface from sysfs and predicts the native refusals', () => {
    fakeIf('up0', { ifindex: 3, type: 1, mtu: 9000, flags: '0x1103', queues: 4 });
    fakeIf('down0', { ifindex: 2, type: 1, mtu: 1500, flags: '0x1002' });
    fakeIf('ppp0', { ifindex: 4, type: 512, mtu: 1500, flags: '0x10d1' });
    expect(readAfPacketInterface('up0', root)).toEqual({
      name: 'up0',
      ifindex: 3,
      arphrd: 1,
      linkType: 1,
      mtu: 9000,
      up: true,
      promisc: true,
      operstate: 'up',
      rxQueues: 4,
      txQueues: 4,
      maxFrame: 9018,
    });
    expect(afPacketProblem('up0', root)).toBeNull();
    expect(afPacketProblem('down0', root)).toEqual({ code: 'ERR_PORT_DOWN', message: 'interface down0 is down: ip link set down0 up' });
    expect(afPacketProblem('eth9', root)).toEqual({ code: 'ERR_PORT_NOT_FOUND', message: "no interface 'eth9' (see `ip link`)" });
    expect(afPacketProblem('ppp0', root)?.code).toBe('ERR_PORT_UNSUPPORTED');
    expect(afPacketProblem('a/b', root)?.code).toBe('ERR_PORT_BAD_NAME');
    expect(listAfPacketInterfaces(root).map((i) => i.name)).toEqual(['down0', 'up0', 'ppp0']);
  });

  it('finds the loopback device of this machine', () => {
    const lo = readAfPacketInterface('lo');
    expect(lo).not.toBeNull();
    expect(lo!.linkType).toBe(1);
  });
});
