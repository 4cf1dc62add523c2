// The TypeScript side of the af_packet backend (native/port_af_packet.cc): what the CLI can say
// about an interface before opening it (same checks, codes and messages as the native open), and
// the ring geometry the native side uses, for descriptions and docs.
//
// Facts come from sysfs, which describes the network namespace it was mounted in (`ip netns exec`
// remounts it); the native side asks the kernel through ioctls and has the last word.
import { readFileSync, readdirSync } from 'node:fs';

/** Ring geometry of native/port_af_packet.cc. */
export const AF_PACKET = {
  /** TPACKET_V3 RX block size (bytes) */
  rxBlockSize: 512 * 1024,
  /** RX blocks per queue when rxSlots is not given (8 MiB) */
  rxDefaultBlocks: 16,
  /** block retire timeout: how late a packet on a quiet link can be handed over (ms) */
  rxRetireMs: 4,
  /** 60-byte frames one block holds; default slots = blocks × this + 1 */
  rxPacketsPerBlock60: 3448,
  /** TX frames (slots) when txSlots is not given */
  txDefaultFrames: 4096,
  /** smallest TX frame; frames are a power of two holding a 32-byte header and the largest frame */
  txMinFrameSize: 2048,
  txDataOffset: 32,
  /** accepted range of rxSlots / txSlots (0 = default) */
  minSlots: 64,
  maxSlots: 1 << 22,
} as const;

/** Device types (ARPHRD_*) and the pcap LINKTYPE a SOCK_RAW packet socket delivers for them. */
const LINK_TYPES: ReadonlyMap<number, number> = new Map([
  [1, 1], // ETHER -> ETHERNET
  [772, 1], // LOOPBACK: Linux's lo carries Ethernet headers
  [0xfffe, 101], // NONE (tun, wireguard) -> RAW
  [519, 101], // RAWIP
  [768, 101], // TUNNEL (ipip)
  [769, 101], // TUNNEL6
  [776, 101], // SIT
  [801, 105], // IEEE80211
  [803, 127], // IEEE80211_RADIOTAP
]);

const ARPHRD_ETHER = 1;
const ARPHRD_LOOPBACK = 772;
const IFF_UP = 0x1;
const IFF_PROMISC = 0x100;

/** The pcap link type af_packet reports for a device type, or null if it refuses the device. */
export function linkTypeOfArphrd(arphrd: number): number | null {
  return LINK_TYPES.get(arphrd) ?? null;
}

/** Largest frame the TX ring sends: MTU + link header, + 4 for 802.1Q-tagged Ethernet frames,
 * at most 65535 (what a slot's length can say). */
export function maxFrameOf(arphrd: number, mtu: number): number {
  const ll = arphrd === ARPHRD_ETHER || arphrd === ARPHRD_LOOPBACK ? 14 : 0;
  return Math.min(65535, mtu + ll + (arphrd === ARPHRD_ETHER ? 4 : 0));
}

/** Why Linux cannot have an interface called `name` (its dev_valid_name rules), or null. */
export function afPacketNameProblem(name: string): string | null {
  const bytes = Buffer.byteLength(name);
  if (bytes === 0 || bytes > 15 || name === '.' || name === '..' || /[/:\s\0]/.test(name)) {
    return `'${name}' is not a valid interface name: 1 to 15 characters, no '/', ':' or whitespace (see \`ip link\`)`;
  }
  return null;
}

export interface AfPacketInterface {
  name: string;
  ifindex: number;
  /** ARPHRD_* device type */
  arphrd: number;
  /** pcap LINKTYPE, or null when af_packet refuses this device type */
  linkType: number | null;
  mtu: number;
  /** administratively up (IFF_UP) */
  up: boolean;
  promisc: boolean;
  /** operstate: up, down, lowerlayerdown, unknown, ... */
  operstate: string;
  rxQueues: number;
  txQueues: number;
  maxFrame: number;
}

function readSys(dir: string, file: string): string {
  return readFileSync(`${dir}/${file}`, 'utf8').trim();
}

/** What sysfs says about interface `name`, or null if there is no such interface. */
export function readAfPacketInterface(name: string, sysfs = '/sys/class/net'): AfPacketInterface | null {
  if (afPacketNameProblem(name) !== null) return null;
  const dir = `${sysfs}/${name}`;
  let ifindex: number;
  try {
    ifindex = Number(readSys(dir, 'ifindex'));
  } catch {
    return null;
  }
  const arphrd = Number(readSys(dir, 'type'));
  const mtu = Number(readSys(dir, 'mtu'));
  const flags = Number.parseInt(readSys(dir, 'flags'), 16);
  let rxQueues = 1;
  let txQueues = 1;
  try {
    const q = readdirSync(`${dir}/queues`);
    rxQueues = Math.max(1, q.filter((e) => e.startsWith('rx-')).length);
    txQueues = Math.max(1, q.filter((e) => e.startsWith('tx-')).length);
  } catch {
    // no queues directory: a single queue each way
  }
  let operstate = 'unknown';
  try {
    operstate = readSys(dir, 'operstate');
  } catch {
    // keep unknown
  }
  return {
    name,
    ifindex,
    arphrd,
    linkType: linkTypeOfArphrd(arphrd),
    mtu,
    up: (flags & IFF_UP) !== 0,
    promisc: (flags & IFF_PROMISC) !== 0,
    operstate,
    rxQueues,
    txQueues,
    maxFrame: maxFrameOf(arphrd, mtu),
  };
}

export interface AfPacketProblem {
  /** a PortError code (ERR_PORT_*), as the native open would throw */
  code: string;
  message: string;
}

/**
 * Why `af_packet:NAME` would not open, checked in the native open's order (name, existence, link
 * type, up), with its codes and messages; null when it looks openable. Privileges and RX queue
 * numbers are left to the native open.
 */
export function afPacketProblem(name: string, sysfs = '/sys/class/net'): AfPacketProblem | null {
  const bad = afPacketNameProblem(name);
  if (bad !== null) return { code: 'ERR_PORT_BAD_NAME', message: bad };
  const it = readAfPacketInterface(name, sysfs);
  if (it === null) return { code: 'ERR_PORT_NOT_FOUND', message: `no interface '${name}' (see \`ip link\`)` };
  if (it.linkType === null) {
    return {
      code: 'ERR_PORT_UNSUPPORTED',
      message: `interface ${name} has device type ${it.arphrd} (ARPHRD), which the af_packet backend cannot map to a pcap link type`,
    };
  }
  if (!it.up) return { code: 'ERR_PORT_DOWN', message: `interface ${name} is down: ip link set ${name} up` };
  return null;
}

/** Every interface sysfs lists, sorted by ifindex. */
export function listAfPacketInterfaces(sysfs = '/sys/class/net'): AfPacketInterface[] {
  let names: string[];
  try {
    names = readdirSync(sysfs);
  } catch {
    return [];
  }
  return names
    .map((n) => readAfPacketInterface(n, sysfs))
    .filter((i): i is AfPacketInterface => i !== null)
    .sort((a, b) => a.ifindex - b.ifindex);
}
