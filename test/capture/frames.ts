// A varied, deterministic set of Ethernet frames for filter tests: IPv4/IPv6 with UDP, TCP, ICMP,
// ARP, 802.1Q tags, fragments, IP options, runts and random bytes, with addresses and ports drawn
// from small sets so that expressions match some frames and not others.

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s >>> 8;
  };
}

const MACS = ['02:00:00:00:00:01', '02:00:00:00:00:02', 'ff:ff:ff:ff:ff:ff', '01:00:5e:00:00:fb'];
const V4 = [[10, 0, 0, 1], [10, 0, 0, 2], [192, 168, 1, 7], [224, 0, 0, 251], [10, 0, 1, 200]];
const PORTS = [53, 80, 443, 5353, 1234, 8080, 22];

function mac(s: string): number[] {
  return s.split(':').map((h) => parseInt(h, 16));
}
function be16(v: number): number[] {
  return [(v >> 8) & 0xff, v & 0xff];
}

function l4(r: () => number, proto: number): number[] {
  const sport = PORTS[r() % PORTS.length]!;
  const dport = PORTS[r() % PORTS.length]!;
  const payload = Array.from({ length: r() % 40 }, () => r() & 0xff);
  if (proto === 17) return [...be16(sport), ...be16(dport), ...be16(8 + payload.length), 0, 0, ...payload];
  if (proto === 6) {
    const flags = [0x02, 0x12, 0x10, 0x18, 0x11, 0x04][r() % 6]!;
    return [...be16(sport), ...be16(dport), 0, 0, 1, 0, 0, 0, 0, 0, 0x50, flags, 0xfa, 0xf0, 0, 0, 0, 0, ...payload];
  }
  return [[8, 0, 3][r() % 3]!, 0, 0, 0, 0, 7, 0, 1, ...payload]; // ICMP echo request/reply, unreachable
}

function ipv4(r: () => number): number[] {
  const proto = [17, 6, 1][r() % 3]!;
  const opts = r() % 5 === 0 ? [1, 1, 1, 1] : []; // NOPs: header length 24
  const frag = r() % 7 === 0 ? [0x20, 0x00] : r() % 11 === 0 ? [0x00, 0x10] : [0x40, 0x00];
  const body = l4(r, proto);
  const ihl = 5 + opts.length / 4;
  const total = ihl * 4 + body.length;
  const src = V4[r() % V4.length]!;
  const dst = V4[r() % V4.length]!;
  return [0x40 | ihl, 0, ...be16(total), 0, 1, ...frag, 64, proto, 0, 0, ...src, ...dst, ...opts, ...body];
}

function ipv6(r: () => number): number[] {
  const proto = [17, 6, 58][r() % 3]!;
  const body = proto === 58 ? [128, 0, 0, 0, 0, 1, 0, 1] : l4(r, proto);
  const addr = (last: number): number[] => [0xfe, 0x80, ...Array(13).fill(0), last];
  return [0x60, 0, 0, 0, ...be16(body.length), proto, 64, ...addr(1 + (r() % 3)), ...addr(1 + (r() % 3)), ...body];
}

function arp(r: () => number): number[] {
  const op = 1 + (r() % 2);
  return [0, 1, 8, 0, 6, 4, 0, op, ...mac(MACS[0]!), ...V4[r() % 2]!, ...Array(6).fill(0), ...V4[r() % 3]!];
}

export function makeFrames(n: number, seed = 1): Buffer[] {
  const r = rng(seed);
  const frames: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const kind = r() % 10;
    const eth = [...mac(MACS[r() % MACS.length]!), ...mac(MACS[r() % 2]!)];
    let f: number[];
    if (kind < 4) f = [...eth, 0x08, 0x00, ...ipv4(r)];
    else if (kind < 6) f = [...eth, 0x86, 0xdd, ...ipv6(r)];
    else if (kind === 6) f = [...eth, 0x08, 0x06, ...arp(r)];
    else if (kind === 7) f = [...eth, 0x81, 0x00, ...be16(r() % 4096), 0x08, 0x00, ...ipv4(r)]; // 802.1Q
    else if (kind === 8) f = [...eth, 0x08, 0x00, ...ipv4(r)].slice(0, 14 + (r() % 30)); // cut short
    else f = Array.from({ length: 14 + (r() % 80) }, () => r() & 0xff);
    frames.push(Buffer.from(f));
  }
  return frames;
}

/** Expressions covering the compiler's paths: protocols, hosts, nets, ports, ranges, byte tests, lengths, VLAN. */
export const EXPRESSIONS = [
  'udp port 53',
  'tcp',
  'udp',
  'icmp',
  'arp',
  'ip6',
  'ip',
  'host 10.0.0.1',
  'src host 10.0.0.2 and dst host 10.0.0.1',
  'net 10.0.0.0/16',
  'not net 10.0.0.0/8',
  'port 80 or port 443',
  'tcp dst port 80',
  'portrange 1000-9000',
  'tcp[tcpflags] & tcp-syn != 0',
  'tcp[13] = 0x12',
  'icmp[icmptype] = icmp-echo',
  'ip[6:2] & 0x1fff != 0',
  'greater 60',
  'less 50',
  'len >= 64 and udp',
  'ether broadcast',
  'ether multicast',
  'ether host 02:00:00:00:00:01',
  'ip multicast',
  'vlan',
  'vlan and udp',
  'ip6 and udp port 5353',
  'icmp6',
  'ip proto 17 and not port 53',
  'udp[8:4] = 0',
  'ether[12:2] = 0x0800 and ip[9] = 6',
];
