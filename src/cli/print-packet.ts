// Packet lines in the style of `tcpdump -n -S`: timestamp, then a summary of Ethernet (VLAN, QinQ,
// PPPoE) / ARP / IPv4 / IPv6 / TCP (flags, options) / UDP / DNS / ICMP / ICMPv6, numeric addresses,
// absolute TCP sequence numbers. -e adds the link header, -v the IP header fields and checksums,
// -x/-xx/-X/-XX/-A the hex and ASCII dumps. Shared by offline reading (-r) and live printing.

const LT_NULL = 0;
const LT_ETHERNET = 1;
const LT_RAW = 101;
const LT_LOOP = 108;
const LT_LINUX_SLL = 113;
const LT_IPV4 = 228;
const LT_IPV6 = 229;
const LT_LINUX_SLL2 = 276;

export interface PrintOptions {
  /** -e: print the link-level header. */
  link?: boolean;
  /** -q: shorter protocol information. */
  quick?: boolean;
  /** Number of -t flags: 0 time of day, 1 none, 2 epoch seconds, 3 delta to previous, 4 date and time, 5 delta to first. */
  tsFormat?: number;
  /** Nanosecond digits instead of microseconds. */
  nano?: boolean;
  /** Number of -v flags: IP header fields, checksums, the packet an ICMP error quotes. */
  verbose?: number;
  /** -x (1) hex of each packet from the network header, -xx (2) including the link header. */
  hex?: number;
  /** -X (1) hex and ASCII from the network header, -XX (2) including the link header. */
  hexAscii?: number;
  /** -A: the packet in ASCII from the network header. */
  ascii?: boolean;
}

function hex2(b: number): string {
  return b < 16 ? `0${b.toString(16)}` : b.toString(16);
}

function hex4(v: number): string {
  return v.toString(16).padStart(4, '0');
}

function mac(d: Uint8Array, p: number): string {
  return `${hex2(d[p]!)}:${hex2(d[p + 1]!)}:${hex2(d[p + 2]!)}:${hex2(d[p + 3]!)}:${hex2(d[p + 4]!)}:${hex2(d[p + 5]!)}`;
}

function ip4(d: Uint8Array, p: number): string {
  return `${d[p]}.${d[p + 1]}.${d[p + 2]}.${d[p + 3]}`;
}

function ip6(d: Uint8Array, p: number): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((d[p + 2 * i]! << 8) | d[p + 2 * i + 1]!);
  let bs = -1;
  let bl = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bl && j - i >= 2) {
      bs = i;
      bl = j - i;
    }
    i = j;
  }
  const h = g.map((x) => x.toString(16));
  if (bs < 0) return h.join(':');
  return `${h.slice(0, bs).join(':')}::${h.slice(bs + bl).join(':')}`;
}

function u16(d: Uint8Array, p: number): number {
  return (d[p]! << 8) | d[p + 1]!;
}
function u32(d: Uint8Array, p: number): number {
  return ((d[p]! << 24) | (d[p + 1]! << 16) | (d[p + 2]! << 8) | d[p + 3]!) >>> 0;
}

/** One's-complement sum of d[from, to) added to `start` (not folded, not inverted). */
function sum16(d: Uint8Array, from: number, to: number, start = 0): number {
  let s = start;
  let i = from;
  for (; i + 1 < to; i += 2) s += (d[i]! << 8) | d[i + 1]!;
  if (i < to) s += d[i]! << 8;
  return s;
}

function fold(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return ~s & 0xffff;
}

/**
 * The checksum a TCP/UDP/ICMPv6 segment at d[q, q+len) should carry, with its checksum field (at
 * q+at) taken as 0; `pseudo` is the sum of the pseudo-header.
 */
function shouldBe(d: Uint8Array, q: number, len: number, at: number, pseudo: number): number {
  return fold(sum16(d, q, q + len, pseudo) - u16(d, q + at) + 0);
}

/** TCP ports tcpdump decodes as HTTP, and the first lines it recognizes there. */
const HTTP_PORTS = new Set([80, 3128, 8080]);
const HTTP_FIRST_LINE = /^(GET|HEAD|POST|PUT|DELETE|OPTIONS|TRACE|CONNECT|PATCH) \S+ HTTP\/\d\.\d$|^HTTP\/\d\.\d \d{3}/;

const ETHERTYPE_NAMES: Record<number, string> = {
  0x0800: 'IPv4',
  0x0806: 'ARP',
  0x86dd: 'IPv6',
  0x8100: '802.1Q',
  0x88a8: '802.1Q-QinQ',
  0x8863: 'PPPoE D',
  0x8864: 'PPPoE S',
};

/** Ethertypes this printer decodes past the link header (others get tcpdump's default hex dump). */
const DECODED_ETHERTYPES = new Set([0x0800, 0x0806, 0x86dd, 0x8863, 0x8864]);

const TCP_FLAGS: readonly [number, string][] = [
  [0x01, 'F'],
  [0x02, 'S'],
  [0x04, 'R'],
  [0x08, 'P'],
  [0x10, '.'],
  [0x20, 'U'],
  [0x40, 'E'],
  [0x80, 'W'],
];

const IP_PROTO_NAMES: Record<number, string> = {
  0: 'Options',
  1: 'ICMP',
  2: 'IGMP',
  4: 'IPIP',
  6: 'TCP',
  17: 'UDP',
  41: 'IPv6',
  47: 'GRE',
  50: 'ESP',
  51: 'AH',
  58: 'ICMPv6',
  89: 'OSPF',
  103: 'PIM',
  112: 'VRRP',
  132: 'SCTP',
};

const ICMP6_TYPES: Record<number, string> = {
  1: 'destination unreachable',
  2: 'packet too big',
  3: 'time exceeded in-transit',
  128: 'echo request',
  129: 'echo reply',
  133: 'router solicitation',
  134: 'router advertisement',
  135: 'neighbor solicitation',
  136: 'neighbor advertisement',
};

/** ICMP destination unreachable, by code: how tcpdump words it around the quoted destination. */
const UNREACH: Record<number, (dst: string) => string> = {
  0: (a) => `net ${a} unreachable`,
  1: (a) => `host ${a} unreachable`,
  5: (a) => `${a} unreachable - source route failed`,
  6: (a) => `net ${a} unreachable - unknown`,
  7: (a) => `host ${a} unreachable - unknown`,
  8: (a) => `${a} unreachable - source host isolated`,
  9: (a) => `net ${a} unreachable - admin prohibited`,
  10: (a) => `host ${a} unreachable - admin prohibited`,
  11: (a) => `net ${a} unreachable - tos prohibited`,
  12: (a) => `host ${a} unreachable - tos prohibited`,
  13: (a) => `host ${a} unreachable - admin prohibited filter`,
  14: (a) => `host ${a} unreachable - host precedence violation`,
  15: (a) => `host ${a} unreachable - precedence cutoff`,
};

const DNS_TYPES: Record<number, string> = {
  1: 'A',
  2: 'NS',
  5: 'CNAME',
  6: 'SOA',
  12: 'PTR',
  13: 'HINFO',
  15: 'MX',
  16: 'TXT',
  28: 'AAAA',
  33: 'SRV',
  35: 'NAPTR',
  41: 'OPT',
  43: 'DS',
  46: 'RRSIG',
  48: 'DNSKEY',
  64: 'SVCB',
  65: 'HTTPS',
  255: 'ANY',
};

const DNS_RCODES: Record<number, string> = { 1: 'FormErr', 2: 'ServFail', 3: 'NXDomain', 4: 'NotImp', 5: 'Refused' };
const DNS_OPCODES: Record<number, string> = { 1: ' inv_q', 2: ' stat', 4: ' notify', 5: ' update' };

const PPPOE_CODES: Record<number, string> = { 0x00: '', 0x09: 'PADI', 0x07: 'PADO', 0x19: 'PADR', 0x65: 'PADS', 0xa7: 'PADT' };
const PPPOE_TAGS: Record<number, string> = {
  0x0000: 'EOL',
  0x0101: 'Service-Name',
  0x0102: 'AC-Name',
  0x0103: 'Host-Uniq',
  0x0104: 'AC-Cookie',
  0x0105: 'Vendor-Specific',
  0x0110: 'Relay-Session-ID',
  0x0120: 'PPP-Max-Payload',
  0x0201: 'Service-Name-Error',
  0x0202: 'AC-System-Error',
  0x0203: 'Generic-Error',
};

function ethertypeText(type: number): string {
  return `${ETHERTYPE_NAMES[type] ?? 'Unknown'} (0x${hex4(type)})`;
}

function pad(n: number, w: number): string {
  return String(n).padStart(w, '0');
}

function isGraph(c: number): boolean {
  return c > 0x20 && c < 0x7f;
}

/** tcpdump -x: "\n\t0xOOOO:  hhhh hhhh ..." , 16 bytes a line. */
export function hexDump(d: Uint8Array, from: number, to: number): string {
  let s = '';
  for (let off = from; off < to; off += 16) {
    s += `\n\t0x${hex4(off - from)}: `;
    const end = Math.min(off + 16, to);
    for (let i = off; i < end; i += 2) s += i + 1 < end ? ` ${hex2(d[i]!)}${hex2(d[i + 1]!)}` : ` ${hex2(d[i]!)}`;
  }
  return s;
}

/** tcpdump -X: hex as -x, padded to a fixed width, then the bytes as ASCII ('.' for the rest). */
export function hexAsciiDump(d: Uint8Array, from: number, to: number): string {
  let s = '';
  for (let off = from; off < to; off += 16) {
    const end = Math.min(off + 16, to);
    let h = '';
    let a = '';
    for (let i = off; i < end; i += 2) h += (i > off ? ' ' : '') + (i + 1 < end ? `${hex2(d[i]!)}${hex2(d[i + 1]!)}` : hex2(d[i]!));
    for (let i = off; i < end; i++) a += isGraph(d[i]!) ? String.fromCharCode(d[i]!) : '.';
    s += `\n\t0x${hex4(off - from)}:  ${h.padEnd(39)}  ${a}`;
  }
  return s;
}

/** tcpdump -A: a newline, then the bytes, '.' for what is not printable; a CR before LF is dropped. */
export function asciiDump(d: Uint8Array, from: number, to: number): string {
  let s = '\n';
  for (let i = from; i < to; i++) {
    const c = d[i]!;
    if (c === 0x0d) {
      if (to - i - 1 > 1 && d[i + 1] !== 0x0a) s += '.';
    } else {
      s += isGraph(c) || c === 0x09 || c === 0x20 || c === 0x0a ? String.fromCharCode(c) : '.';
    }
  }
  return s;
}

/** Formats packets one line at a time; keeps the previous timestamp for delta formats. */
export class PacketPrinter {
  private readonly link: boolean;
  private readonly quick: boolean;
  private readonly tsFormat: number;
  private readonly nano: boolean;
  private readonly verbose: number;
  private readonly hex: number;
  private readonly hexAscii: number;
  private readonly ascii: boolean;
  /** tcpdump's default hex dump of what it cannot decode is off when -x or -X asks for one. */
  private readonly defaultDump: boolean;
  /** Ethernet with -e: the protocol word ("IP ", "IP6 ", "ARP, ") is left out, the ethertype says it. */
  private bare = false;
  /** Length of the link header of the packet being printed (for -x and -X dumps). */
  private linkLen = 0;
  /** tcpdump's default dump of an undecoded payload, appended to the line. */
  private trailer = '';
  private prevSec = NaN;
  private prevNsec = 0;
  private firstSec = NaN;
  private firstNsec = 0;
  private cachedSec = NaN;
  private cachedPrefix = '';

  constructor(o: PrintOptions = {}) {
    this.link = o.link === true;
    this.quick = o.quick === true;
    this.tsFormat = o.tsFormat ?? 0;
    this.nano = o.nano === true;
    this.verbose = o.verbose ?? 0;
    this.hex = o.hex ?? 0;
    this.hexAscii = o.hexAscii ?? 0;
    this.ascii = o.ascii === true;
    this.defaultDump = this.hex === 0 && this.hexAscii === 0;
  }

  /**
   * Timestamp text (without trailing space) or '' for -t. `sec` NaN means "no timestamp": printed
   * as time 0, as tcpdump prints a Simple Packet Block.
   */
  timestamp(sec: number, nsec: number): string {
    const f = this.tsFormat;
    if (f === 1) return '';
    if (Number.isNaN(sec)) {
      sec = 0;
      nsec = 0;
    }
    const frac = this.nano ? pad(nsec, 9) : pad(Math.floor(nsec / 1000), 6);
    let text: string;
    if (f === 2) {
      text = `${sec}.${frac}`;
    } else if (f === 3 || f === 5) {
      const baseSec = f === 3 ? this.prevSec : this.firstSec;
      const baseNsec = f === 3 ? this.prevNsec : this.firstNsec;
      let ds = Number.isNaN(baseSec) ? 0 : sec - baseSec;
      let dn = Number.isNaN(baseSec) ? 0 : nsec - baseNsec;
      if (dn < 0) {
        dn += 1_000_000_000;
        ds -= 1;
      }
      const neg = ds < 0;
      if (neg) {
        // Out-of-order packets: show the magnitude with a sign.
        const total = -(ds * 1_000_000_000 + dn);
        ds = Math.floor(total / 1_000_000_000);
        dn = total - ds * 1_000_000_000;
      }
      const fr = this.nano ? pad(dn, 9) : pad(Math.floor(dn / 1000), 6);
      text = `${neg ? '-' : ' '}${pad(Math.floor(ds / 3600), 2)}:${pad(Math.floor(ds / 60) % 60, 2)}:${pad(ds % 60, 2)}.${fr}`;
    } else {
      if (sec !== this.cachedSec) {
        const d = new Date(sec * 1000);
        const hms = `${pad(d.getHours(), 2)}:${pad(d.getMinutes(), 2)}:${pad(d.getSeconds(), 2)}`;
        this.cachedPrefix = f === 4 ? `${d.getFullYear()}-${pad(d.getMonth() + 1, 2)}-${pad(d.getDate(), 2)} ${hms}` : hms;
        this.cachedSec = sec;
      }
      text = `${this.cachedPrefix}.${frac}`;
    }
    if (Number.isNaN(this.firstSec)) {
      this.firstSec = sec;
      this.firstNsec = nsec;
    }
    this.prevSec = sec;
    this.prevNsec = nsec;
    return text;
  }

  /** The full text of a packet: timestamp, summary and any dumps (several lines with -v/-x/-X/-A). */
  line(sec: number, nsec: number, data: Uint8Array, linkType: number, origLen: number): string {
    const ts = this.timestamp(sec, nsec);
    let s = this.summary(data, linkType, origLen);
    if (this.trailer !== '') s += this.trailer;
    const from = this.linkLen;
    if (this.hexAscii > 0) s += hexAsciiDump(data, this.hexAscii > 1 ? 0 : Math.min(from, data.length), data.length);
    else if (this.hex > 0) s += hexDump(data, this.hex > 1 ? 0 : Math.min(from, data.length), data.length);
    if (this.ascii) s += asciiDump(data, Math.min(from, data.length), data.length);
    return ts === '' ? s : `${ts} ${s}`;
  }

  /** What follows the timestamp on a tcpdump line (without dumps). */
  summary(d: Uint8Array, linkType: number, origLen: number): string {
    this.bare = false;
    this.trailer = '';
    this.linkLen = 0;
    switch (linkType) {
      case LT_ETHERNET:
        this.linkLen = 14;
        return this.ethernet(d, origLen);
      case LT_RAW:
        return d.length > 0 && d[0]! >> 4 === 6 ? this.ipv6(d, 0, origLen) : this.ipv4(d, 0, origLen);
      case LT_IPV4:
        return this.ipv4(d, 0, origLen);
      case LT_IPV6:
        return this.ipv6(d, 0, origLen);
      case LT_NULL:
      case LT_LOOP: {
        this.linkLen = 4;
        if (d.length < 4) return `[|null] length ${origLen}`;
        // The family is in host order for DLT_NULL and network order for DLT_LOOP; 2 = AF_INET,
        // 24/28/30 = AF_INET6 on the BSDs, 10 on Linux.
        const fam = linkType === LT_LOOP ? u32(d, 0) : d[0] !== 0 ? d[0]! | (d[1]! << 8) : u32(d, 0);
        if (fam === 2) return this.ipv4(d, 4, origLen - 4);
        if (fam === 10 || fam === 24 || fam === 28 || fam === 30) return this.ipv6(d, 4, origLen - 4);
        return `AF ${fam}, length ${origLen}`;
      }
      case LT_LINUX_SLL: {
        this.linkLen = 16;
        if (d.length < 16) return `[|sll] length ${origLen}`;
        return this.byEthertype(d, 16, u16(d, 14), origLen - 16, origLen);
      }
      case LT_LINUX_SLL2: {
        this.linkLen = 20;
        if (d.length < 20) return `[|sll2] length ${origLen}`;
        return this.byEthertype(d, 20, u16(d, 0), origLen - 20, origLen);
      }
      default:
        return `[link type ${linkType}] length ${origLen}`;
    }
  }

  private ethernet(d: Uint8Array, origLen: number): string {
    if (d.length < 14) return `[|ether] length ${origLen}`;
    const outer = u16(d, 12);
    let p = 12;
    let type = outer;
    // 802.1Q / QinQ tags: tcpdump shows them only with the link header (-e).
    let vlan = '';
    while ((type === 0x8100 || type === 0x88a8) && d.length >= p + 6) {
      const tci = u16(d, p + 2);
      type = u16(d, p + 4);
      vlan += `vlan ${tci & 0xfff}, p ${tci >> 13}, ethertype ${ethertypeText(type)}, `;
      p += 4;
    }
    p += 2;
    this.linkLen = p;
    // -q names the ethertype alone (and skips the dump of what it cannot decode).
    const typeText = this.quick ? (ETHERTYPE_NAMES[outer] ?? `Unknown Ethertype (0x${hex4(outer)})`) : `ethertype ${ethertypeText(outer)}`;
    const head = `${mac(d, 6)} > ${mac(d, 0)}, ${typeText}, length ${origLen}`;
    if (!DECODED_ETHERTYPES.has(type)) {
      if (this.defaultDump && !this.quick) this.trailer = hexAsciiDump(d, Math.min(p, d.length), d.length);
      return vlan === '' ? `${head}: ` : `${head}: ${vlan.slice(0, -2)}`;
    }
    this.bare = this.link;
    const inner = this.byEthertype(d, p, type, origLen - p, origLen);
    return this.link ? `${head}: ${vlan}${inner}` : inner;
  }

  private byEthertype(d: Uint8Array, p: number, type: number, len: number, origLen: number): string {
    switch (type) {
      case 0x0800:
        return this.ipv4(d, p, len);
      case 0x86dd:
        return this.ipv6(d, p, len);
      case 0x0806:
        return this.arp(d, p, len);
      case 0x8863:
      case 0x8864:
        return this.pppoe(d, p, len);
      default:
        return `ethertype 0x${hex4(type)}, length ${origLen}`;
    }
  }

  private arp(d: Uint8Array, p: number, len: number): string {
    const word = this.bare ? '' : 'ARP, ';
    if (d.length < p + 8) return `${word}[|arp], length ${len}`;
    const htype = u16(d, p);
    const ptype = u16(d, p + 2);
    const hlen = d[p + 4]!;
    const plen = d[p + 5]!;
    const op = u16(d, p + 6);
    if (htype !== 1 || ptype !== 0x0800 || hlen !== 6 || plen !== 4) return `${word}hardware type ${htype}, protocol 0x${ptype.toString(16)}, length ${len}`;
    if (d.length < p + 28) return `${word}[|arp], length ${len}`;
    const sha = mac(d, p + 8);
    const spa = ip4(d, p + 14);
    const tpa = ip4(d, p + 24);
    const v = this.verbose > 0 ? 'Ethernet (len 6), IPv4 (len 4), ' : '';
    if (op === 1) return `${word}${v}Request who-has ${tpa} tell ${spa}, length ${len}`;
    if (op === 2) return `${word}${v}Reply ${spa} is-at ${sha}, length ${len}`;
    return `${word}${v}op ${op}, length ${len}`;
  }

  private pppoe(d: Uint8Array, p: number, len: number): string {
    if (d.length < p + 6) return `PPPoE [|pppoe]`;
    const code = d[p + 1]!;
    const session = u16(d, p + 2);
    const plen = u16(d, p + 4);
    let s = `PPPoE ${PPPOE_CODES[code] ?? `PAD-${code.toString(16)}`}`;
    if (session !== 0) s += ` [ses 0x${session.toString(16)}]`;
    const start = p + 6;
    const end = Math.min(d.length, start + plen, p + len);
    if (code !== 0) {
      for (let q = start; q + 4 <= end; ) {
        const tag = u16(d, q);
        const tl = u16(d, q + 2);
        if (tag === 0) break;
        s += ` [${PPPOE_TAGS[tag] ?? `TAG-0x${tag.toString(16)}`}`;
        const v = d.subarray(q + 4, Math.min(q + 4 + tl, end));
        if (v.length > 0) {
          s += v.every((c) => c >= 0x20 && c < 0x7f) ? ` "${String.fromCharCode(...v)}"` : ` 0x${[...v].map((c) => hex2(c).toUpperCase()).join('')}`;
        }
        s += ']';
        q += 4 + tl;
      }
      return s;
    }
    // Session stage: a PPP frame (protocol field, then the datagram).
    if (end < start + 2) return `${s} [|ppp]`;
    const proto = u16(d, start);
    const name = proto === 0x0021 ? 'IP' : proto === 0x0057 ? 'IP6' : undefined;
    const saved = this.bare;
    this.bare = this.link;
    try {
      const lead = this.link ? `${name ?? 'unknown'} (0x${hex4(proto)}), length ${plen}: ` : '';
      if (proto === 0x0021) return `${s} ${lead}${this.ipv4(d, start + 2, plen - 2)}`;
      if (proto === 0x0057) return `${s} ${lead}${this.ipv6(d, start + 2, plen - 2)}`;
      return `${s} PPP-0x${hex4(proto)}, length ${plen}`;
    } finally {
      this.bare = saved;
    }
  }

  private ipv4(d: Uint8Array, p: number, len: number): string {
    const word = this.bare ? '' : 'IP ';
    if (d.length < p + 20) return `${word}[|ip], length ${len}`;
    const vihl = d[p]!;
    if (vihl >> 4 !== 4) return `${word}bad-version ${vihl >> 4}`;
    const ihl = (vihl & 0xf) * 4;
    const total = u16(d, p + 2);
    const frag = u16(d, p + 6);
    const proto = d[p + 9]!;
    const src = ip4(d, p + 12);
    const dst = ip4(d, p + 16);
    const payloadLen = Math.max(0, total - ihl);
    const q = p + ihl;
    let lead = word;
    if (this.verbose > 0) lead = `${word}${this.ipv4Fields(d, p, ihl, total, frag, proto)}\n    `;
    const fragmented = (frag & 0x1fff) !== 0;
    if (fragmented) return `${lead}${src} > ${dst}: ip-proto-${proto}`;
    const pseudo = sum16(d, p + 12, p + 20, proto + payloadLen);
    return lead + this.transport(d, q, proto, payloadLen, src, dst, pseudo, false);
  }

  /** -v: "(tos 0x0, ttl 64, id 1, offset 0, flags [DF], proto TCP (6), length 60)". */
  private ipv4Fields(d: Uint8Array, p: number, ihl: number, total: number, frag: number, proto: number): string {
    const tos = d[p + 1]!;
    const ecn = ['', ',ECT(1)', ',ECT(0)', ',CE'][tos & 3]!;
    const flags = `${frag & 0x8000 ? 'rsvd' : ''}${frag & 0x4000 ? 'DF' : ''}${frag & 0x2000 ? '+' : ''}` || 'none';
    let s = `(tos 0x${tos.toString(16)}${ecn}, ttl ${d[p + 8]}, id ${u16(d, p + 4)}, offset ${(frag & 0x1fff) * 8}, flags [${flags}], proto ${IP_PROTO_NAMES[proto] ?? 'unknown'} (${proto}), length ${total}`;
    if (d.length >= p + ihl) {
      const sum = fold(sum16(d, p, p + ihl));
      if (sum !== 0) {
        const carried = u16(d, p + 10);
        s += `, bad cksum ${carried.toString(16)} (->${fold(sum16(d, p, p + ihl) - carried).toString(16)})!`;
      }
    }
    return `${s})`;
  }

  private ipv6(d: Uint8Array, p: number, len: number): string {
    const word = this.bare ? '' : 'IP6 ';
    if (d.length < p + 40) return `${word}[|ip6], length ${len}`;
    const payloadLen = u16(d, p + 4);
    let next = d[p + 6]!;
    const src = ip6(d, p + 8);
    const dst = ip6(d, p + 24);
    let lead = word;
    if (this.verbose > 0) {
      const cls = ((d[p]! & 0x0f) << 4) | (d[p + 1]! >> 4);
      const flow = ((d[p + 1]! & 0x0f) << 16) | u16(d, p + 2);
      const parts: string[] = [];
      if (cls !== 0) parts.push(`class 0x${cls.toString(16)}`);
      if (flow !== 0) parts.push(`flowlabel 0x${flow.toString(16).padStart(5, '0')}`);
      parts.push(`hlim ${d[p + 7]}`);
      lead = `${word}(${parts.join(', ')}, next-header ${IP_PROTO_NAMES[next] ?? 'unknown'} (${next}) payload length: ${payloadLen}) `;
    }
    let q = p + 40;
    // Hop-by-hop, routing and destination options headers: skip to the upper layer.
    let left = payloadLen;
    while ((next === 0 || next === 43 || next === 60) && d.length >= q + 8) {
      const hl = (d[q + 1]! + 1) * 8;
      next = d[q]!;
      q += hl;
      left -= hl;
    }
    const l4 = Math.max(0, left);
    const pseudo = sum16(d, p + 8, p + 40, l4 + next);
    return lead + this.transport(d, q, next, l4, src, dst, pseudo, true);
  }

  /** The line after "IP " / "IP6 ": addresses, ports and the upper-layer summary. */
  private transport(d: Uint8Array, q: number, proto: number, plen: number, src: string, dst: string, pseudo: number, v6: boolean): string {
    const complete = d.length >= q + plen;
    switch (proto) {
      case 6: {
        if (d.length < q + 20) return `${src} > ${dst}: tcp [|tcp]`;
        const sport = u16(d, q);
        const dport = u16(d, q + 2);
        const seq = u32(d, q + 4);
        const ack = u32(d, q + 8);
        const off = (d[q + 12]! >> 4) * 4;
        const flags = d[q + 13]!;
        const win = u16(d, q + 14);
        const dataLen = Math.max(0, plen - off);
        const head = `${src}.${sport} > ${dst}.${dport}:`;
        if (this.quick) return `${head} tcp ${dataLen}`;
        let f = '';
        for (const [bit, c] of TCP_FLAGS) if ((flags & bit) !== 0) f += c;
        if (f === '') f = 'none';
        let s = `${head} Flags [${f}]`;
        if (this.verbose > 0) {
          const carried = u16(d, q + 16);
          s += `, cksum 0x${hex4(carried)}`;
          if (complete) {
            const want = shouldBe(d, q, plen, 16, pseudo);
            s += want === carried ? ' (correct)' : ` (incorrect -> 0x${hex4(want)})`;
          }
        }
        if (dataLen > 0 || (flags & 0x07) !== 0) s += dataLen > 0 ? `, seq ${seq}:${(seq + dataLen) >>> 0}` : `, seq ${seq}`;
        if ((flags & 0x10) !== 0) s += `, ack ${ack}`;
        s += `, win ${win}`;
        if ((flags & 0x20) !== 0) s += `, urg ${u16(d, q + 18)}`;
        if (off > 20) s += `, options [${tcpOptions(d, q + 20, Math.min(q + off, d.length))}]`;
        s += `, length ${dataLen}`;
        if (dataLen > 0 && (HTTP_PORTS.has(sport) || HTTP_PORTS.has(dport))) s += this.http(d, q + off, Math.min(d.length, q + plen), dataLen);
        return s;
      }
      case 17: {
        if (d.length < q + 8) return `${src} > ${dst}: udp [|udp]`;
        const sport = u16(d, q);
        const dport = u16(d, q + 2);
        const ulen = u16(d, q + 4);
        const head = `${src}.${sport} > ${dst}.${dport}:`;
        let sum = '';
        if (this.verbose > 0 && v6 && complete) {
          const carried = u16(d, q + 6);
          const want = shouldBe(d, q, plen, 6, pseudo);
          sum = want === carried ? ' [udp sum ok]' : ` [bad udp cksum 0x${hex4(carried)} -> 0x${hex4(want)}!]`;
        }
        if (!this.quick && (sport === 53 || dport === 53) && ulen >= 20) {
          const dns = this.dns(d, q + 8, Math.min(d.length, q + ulen));
          if (dns !== undefined) return `${head}${sum} ${dns} (${ulen - 8})`;
        }
        return `${head}${sum} UDP, length ${Math.max(0, ulen - 8)}`;
      }
      case 1:
        return this.icmp(d, q, plen, src, dst);
      case 58: {
        if (d.length < q + 4) return `${src} > ${dst}: ICMP6 [|icmp6]`;
        const type = d[q]!;
        const name = ICMP6_TYPES[type] ?? `type-#${type}`;
        let s = `${src} > ${dst}:`;
        if (this.verbose > 0 && complete) {
          const want = shouldBe(d, q, plen, 2, pseudo);
          const carried = u16(d, q + 2);
          s += want === carried ? ' [icmp6 sum ok]' : ` [bad icmp6 cksum 0x${hex4(carried)} -> 0x${hex4(want)}!]`;
        }
        s += ` ICMP6, ${name}`;
        if ((type === 128 || type === 129) && d.length >= q + 8) s += `, id ${u16(d, q + 4)}, seq ${u16(d, q + 6)}`;
        return this.verbose > 0 ? s : `${s}, length ${plen}`;
      }
      default:
        return `${src} > ${dst}: ip-proto-${proto} ${plen}`;
    }
  }

  private icmp(d: Uint8Array, q: number, plen: number, src: string, dst: string): string {
    const head = `${src} > ${dst}: ICMP`;
    if (d.length < q + 4) return `${head} [|icmp]`;
    const type = d[q]!;
    const code = d[q + 1]!;
    // Errors quote the IP header (and 8 bytes) of the packet they answer.
    const quoted = q + 8;
    const hasQuote = d.length >= quoted + 20 && d[quoted]! >> 4 === 4;
    const qdst = hasQuote ? ip4(d, quoted + 16) : '?';
    let text: string;
    switch (type) {
      case 0:
      case 8:
        text = `${type === 8 ? 'echo request' : 'echo reply'}${d.length >= q + 8 ? `, id ${u16(d, q + 4)}, seq ${u16(d, q + 6)}` : ''}`;
        break;
      case 3: {
        if (code === 2 && hasQuote) text = `${qdst} protocol ${d[quoted + 9]} unreachable`;
        else if (code === 3 && hasQuote) {
          const qp = d[quoted + 9]!;
          const at = quoted + (d[quoted]! & 0xf) * 4;
          const port = d.length >= at + 4 ? u16(d, at + 2) : 0;
          text = qp === 6 || qp === 17 ? `${qdst} ${qp === 6 ? 'tcp' : 'udp'} port ${port} unreachable` : `${qdst} protocol ${qp} port ${port} unreachable`;
        } else if (code === 4) {
          const mtu = u16(d, q + 6);
          text = mtu !== 0 ? `${qdst} unreachable - need to frag (mtu ${mtu})` : `${qdst} unreachable - need to frag`;
        } else {
          text = UNREACH[code]?.(qdst) ?? `${qdst} unreachable - #${code}`;
        }
        break;
      }
      case 5: {
        const gw = d.length >= q + 8 ? ip4(d, q + 4) : '?';
        text = `redirect ${qdst} to ${['net', 'host', 'tos-net', 'tos-host'][code] ?? `#${code}`} ${gw}`;
        break;
      }
      case 11:
        text = code === 1 ? 'ip reassembly time exceeded' : 'time exceeded in-transit';
        break;
      case 12:
        text = `parameter problem - octet ${d.length > q + 4 ? d[q + 4] : 0}`;
        break;
      case 13:
      case 14:
        text = `time stamp ${type === 13 ? 'query' : 'reply'} id ${u16(d, q + 4)} seq ${u16(d, q + 6)}`;
        break;
      default:
        text = `type-#${type}`;
    }
    let s = `${head} ${text}, length ${plen}`;
    if (this.verbose > 0 && hasQuote && (type === 3 || type === 5 || type === 11 || type === 12)) s += `\n\t${this.quotedIpv4(d, quoted)}`;
    return s;
  }

  /** HTTP on its ports: ": HTTP: <first line>", or with -v every line of the segment. */
  private http(d: Uint8Array, p: number, end: number, len: number): string {
    const text = Buffer.from(d.buffer, d.byteOffset + p, Math.max(0, end - p)).toString('latin1');
    const lines = text.split(/\r?\n/);
    if (lines.at(-1) === '') lines.pop();
    const known = HTTP_FIRST_LINE.test(lines[0] ?? '');
    const printable = (l: string): string => l.replace(/[^\x20-\x7e\t]/g, '.');
    if (this.verbose > 0) return `: HTTP, length: ${len}${known ? lines.map((l) => `\n\t${printable(l)}`).join('') : ''}`;
    return known ? `: HTTP: ${printable(lines[0]!)}` : ': HTTP';
  }

  /** The packet an ICMP error quotes, as tcpdump -v shows it: header fields, then ports. */
  private quotedIpv4(d: Uint8Array, p: number): string {
    const ihl = (d[p]! & 0xf) * 4;
    const total = u16(d, p + 2);
    const frag = u16(d, p + 6);
    const proto = d[p + 9]!;
    const src = ip4(d, p + 12);
    const dst = ip4(d, p + 16);
    const q = p + ihl;
    const lead = `${this.bare ? '' : 'IP '}${this.ipv4Fields(d, p, ihl, total, frag, proto)}\n    `;
    if (proto === 6 && d.length < q + 20) return `${lead}${src}.${u16(d, q)} > ${dst}.${u16(d, q + 2)}:  [|tcp]`;
    if (proto === 17 && d.length >= q + 8) return `${lead}${src}.${u16(d, q)} > ${dst}.${u16(d, q + 2)}: UDP, length ${Math.max(0, u16(d, q + 4) - 8)}`;
    const pseudo = sum16(d, p + 12, p + 20, proto + Math.max(0, total - ihl));
    return lead + this.transport(d, q, proto, Math.max(0, total - ihl), src, dst, pseudo, false);
  }

  /** A DNS message in d[p, end) as tcpdump summarizes it, or undefined when it does not parse. */
  private dns(d: Uint8Array, p: number, end: number): string | undefined {
    if (end < p + 12) return undefined;
    const id = u16(d, p);
    const flags = u16(d, p + 2);
    const qd = u16(d, p + 4);
    const an = u16(d, p + 6);
    const ns = u16(d, p + 8);
    const ar = u16(d, p + 10);
    const op = DNS_OPCODES[(flags >> 11) & 0xf] ?? '';
    let at = p + 12;
    const questions: string[] = [];
    for (let i = 0; i < qd; i++) {
      const n = dnsName(d, p, at, end);
      if (n === undefined || n.next + 4 > end) return undefined;
      const qtype = u16(d, n.next);
      questions.push(`${DNS_TYPES[qtype] ?? `Type${qtype}`}? ${n.name}`);
      at = n.next + 4;
    }
    if ((flags & 0x8000) === 0) {
      let s = `${id}${op}${flags & 0x0100 ? '+' : ''}${flags & 0x0010 ? '%' : ''}`;
      if (qd !== 1) s += ` [${qd}q]`;
      if (an !== 0) s += ` [${an}a]`;
      if (ns !== 0) s += ` [${ns}n]`;
      if (ar !== 0) s += ` [${ar}au]`;
      return questions.length > 0 ? `${s} ${questions.join(' ')}` : s;
    }
    const rcode = flags & 0xf;
    let s = `${id}${op}${flags & 0x0400 ? '*' : ''}${flags & 0x0080 ? '' : '-'}${flags & 0x0200 ? '|' : ''}${flags & 0x0020 ? '$' : ''}`;
    if (rcode !== 0) s += ` ${DNS_RCODES[rcode] ?? `Resp${rcode}`}`;
    s += ` ${an}/${ns}/${ar}`;
    if (qd !== 1 && questions.length > 0) s += ` q: ${questions.join(' ')}`;
    const answers: string[] = [];
    for (let i = 0; i < an; i++) {
      const n = dnsName(d, p, at, end);
      if (n === undefined || n.next + 10 > end) break;
      const type = u16(d, n.next);
      const rdlen = u16(d, n.next + 8);
      const rd = n.next + 10;
      if (rd + rdlen > end) break;
      let rr = DNS_TYPES[type] ?? `Type${type}`;
      if (type === 1 && rdlen === 4) rr += ` ${ip4(d, rd)}`;
      else if (type === 28 && rdlen === 16) rr += ` ${ip6(d, rd)}`;
      else if (type === 5 || type === 12 || type === 2) rr += ` ${dnsName(d, p, rd, end)?.name ?? '[|domain]'}`;
      else if (type === 15 && rdlen >= 3) rr += ` ${dnsName(d, p, rd + 2, end)?.name ?? '[|domain]'} ${u16(d, rd)}`;
      answers.push(this.verbose > 0 ? `${n.name} ${rr}` : rr);
      at = rd + rdlen;
    }
    return answers.length > 0 ? `${s} ${answers.join(', ')}` : s;
  }
}

/** A (possibly compressed) domain name at d[at] of the message starting at `msg`, as "a.b.". */
function dnsName(d: Uint8Array, msg: number, at: number, end: number): { name: string; next: number } | undefined {
  let name = '';
  let next = -1;
  let hops = 0;
  let q = at;
  for (;;) {
    if (q >= end) return undefined;
    const len = d[q]!;
    if (len === 0) {
      q++;
      break;
    }
    if ((len & 0xc0) === 0xc0) {
      if (q + 1 >= end || ++hops > 32) return undefined;
      if (next < 0) next = q + 2;
      q = msg + (((len & 0x3f) << 8) | d[q + 1]!);
      continue;
    }
    if (q + 1 + len > end) return undefined;
    name += `${String.fromCharCode(...d.subarray(q + 1, q + 1 + len))}.`;
    q += 1 + len;
  }
  return { name: name === '' ? '.' : name, next: next < 0 ? q : next };
}

/** TCP options as tcpdump lists them: "mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7". */
function tcpOptions(d: Uint8Array, p: number, end: number): string {
  const out: string[] = [];
  while (p < end) {
    const kind = d[p]!;
    if (kind === 0) {
      out.push('eol');
      break;
    }
    if (kind === 1) {
      out.push('nop');
      p++;
      continue;
    }
    if (p + 1 >= end) {
      out.push('[|tcp]');
      break;
    }
    const len = d[p + 1]!;
    if (len < 2 || p + len > end) {
      out.push(`[bad opt]`);
      break;
    }
    const v = p + 2;
    switch (kind) {
      case 2:
        out.push(len === 4 ? `mss ${u16(d, v)}` : '[bad opt]');
        break;
      case 3:
        out.push(len === 3 ? `wscale ${d[v]}` : '[bad opt]');
        break;
      case 4:
        out.push('sackOK');
        break;
      case 5: {
        const blocks: string[] = [];
        for (let b = v; b + 8 <= p + len; b += 8) blocks.push(`{${u32(d, b)}:${u32(d, b + 4)}}`);
        out.push(`sack ${blocks.length} ${blocks.join('')}`);
        break;
      }
      case 8:
        out.push(len === 10 ? `TS val ${u32(d, v)} ecr ${u32(d, v + 4)}` : '[bad opt]');
        break;
      default: {
        let h = '';
        for (let i = v; i < p + len; i++) h += hex2(d[i]!);
        out.push(`unknown-${kind}${h === '' ? '' : ` 0x${h}`}`);
      }
    }
    p += len;
  }
  return out.join(',');
}
