// One line per packet, in the style of `tcpdump -n -S`: timestamp, then a summary of Ethernet / ARP /
// IPv4 / IPv6 / TCP / UDP / ICMP / ICMPv6 (numeric addresses, absolute TCP sequence numbers).
// Shared by offline reading (-r) and, later, live capture printing.

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
}

function hex2(b: number): string {
  return b < 16 ? `0${b.toString(16)}` : b.toString(16);
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

const ETHERTYPE_NAMES: Record<number, string> = {
  0x0800: 'IPv4',
  0x0806: 'ARP',
  0x86dd: 'IPv6',
  0x8100: '802.1Q',
  0x88a8: '802.1Q-QinQ',
  0x8847: 'MPLS unicast',
  0x88cc: 'LLDP',
};

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

const ICMP_TYPES: Record<number, string> = {
  0: 'echo reply',
  3: 'unreachable',
  5: 'redirect',
  8: 'echo request',
  11: 'time exceeded',
  13: 'time stamp request',
  14: 'time stamp reply',
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

function ethertypeText(type: number): string {
  return `${ETHERTYPE_NAMES[type] ?? 'Unknown'} (0x${type.toString(16).padStart(4, '0')})`;
}

function pad(n: number, w: number): string {
  return String(n).padStart(w, '0');
}

/** Formats packets one line at a time; keeps the previous timestamp for delta formats. */
export class PacketPrinter {
  private readonly link: boolean;
  private readonly quick: boolean;
  private readonly tsFormat: number;
  private readonly nano: boolean;
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
  }

  /** Timestamp text (without trailing space) or '' for -t; `sec` NaN means "no timestamp". */
  timestamp(sec: number, nsec: number): string {
    const f = this.tsFormat;
    if (f === 1) return '';
    if (Number.isNaN(sec)) return '-';
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

  /** The full line: timestamp and summary. `sec` NaN = no timestamp. */
  line(sec: number, nsec: number, data: Uint8Array, linkType: number, origLen: number): string {
    const ts = this.timestamp(sec, nsec);
    const s = this.summary(data, linkType, origLen);
    return ts === '' ? s : `${ts} ${s}`;
  }

  /** What follows the timestamp on a tcpdump line. */
  summary(d: Uint8Array, linkType: number, origLen: number): string {
    switch (linkType) {
      case LT_ETHERNET:
        return this.ethernet(d, origLen);
      case LT_RAW:
        return d.length > 0 && d[0]! >> 4 === 6 ? this.ipv6(d, 0, origLen) : this.ipv4(d, 0, origLen);
      case LT_IPV4:
        return this.ipv4(d, 0, origLen);
      case LT_IPV6:
        return this.ipv6(d, 0, origLen);
      case LT_NULL:
      case LT_LOOP: {
        if (d.length < 4) return `[|null] length ${origLen}`;
        // The family is in host order for DLT_NULL and network order for DLT_LOOP; 2 = AF_INET,
        // 24/28/30 = AF_INET6 on the BSDs, 10 on Linux.
        const fam = linkType === LT_LOOP ? u32(d, 0) : d[0] !== 0 ? d[0]! | (d[1]! << 8) : u32(d, 0);
        if (fam === 2) return this.ipv4(d, 4, origLen - 4);
        if (fam === 10 || fam === 24 || fam === 28 || fam === 30) return this.ipv6(d, 4, origLen - 4);
        return `AF ${fam}, length ${origLen}`;
      }
      case LT_LINUX_SLL: {
        if (d.length < 16) return `[|sll] length ${origLen}`;
        return this.byEthertype(d, 16, u16(d, 14), origLen - 16, origLen);
      }
      case LT_LINUX_SLL2: {
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
    const inner = this.byEthertype(d, p, type, origLen - p, origLen);
    if (!this.link && ETHERTYPE_NAMES[type] !== undefined) return inner;
    const head = `${mac(d, 6)} > ${mac(d, 0)}, ethertype ${ethertypeText(outer)}, length ${origLen}`;
    if (ETHERTYPE_NAMES[type] === undefined) return vlan === '' ? head : `${head}: ${vlan.slice(0, -2)}`;
    // With the link header shown, tcpdump drops the protocol word the ethertype already says.
    const bare = inner.startsWith('IP ') ? inner.slice(3) : inner.startsWith('IP6 ') ? inner.slice(4) : inner.startsWith('ARP, ') ? inner.slice(5) : inner;
    return `${head}: ${vlan}${bare}`;
  }

  private byEthertype(d: Uint8Array, p: number, type: number, len: number, origLen: number): string {
    switch (type) {
      case 0x0800:
        return this.ipv4(d, p, len);
      case 0x86dd:
        return this.ipv6(d, p, len);
      case 0x0806:
        return this.arp(d, p, len);
      default:
        return `ethertype 0x${type.toString(16).padStart(4, '0')}, length ${origLen}`;
    }
  }

  private arp(d: Uint8Array, p: number, len: number): string {
    if (d.length < p + 8) return `ARP [|arp], length ${len}`;
    const htype = u16(d, p);
    const ptype = u16(d, p + 2);
    const hlen = d[p + 4]!;
    const plen = d[p + 5]!;
    const op = u16(d, p + 6);
    if (htype !== 1 || ptype !== 0x0800 || hlen !== 6 || plen !== 4) return `ARP, hardware type ${htype}, protocol 0x${ptype.toString(16)}, length ${len}`;
    if (d.length < p + 28) return `ARP [|arp], length ${len}`;
    const sha = mac(d, p + 8);
    const spa = ip4(d, p + 14);
    const tpa = ip4(d, p + 24);
    if (op === 1) return `ARP, Request who-has ${tpa} tell ${spa}, length ${len}`;
    if (op === 2) return `ARP, Reply ${spa} is-at ${sha}, length ${len}`;
    return `ARP, op ${op}, length ${len}`;
  }

  private ipv4(d: Uint8Array, p: number, len: number): string {
    if (d.length < p + 20) return `IP [|ip], length ${len}`;
    const vihl = d[p]!;
    if (vihl >> 4 !== 4) return `IP bad-version ${vihl >> 4}`;
    const ihl = (vihl & 0xf) * 4;
    const total = u16(d, p + 2);
    const frag = u16(d, p + 6);
    const proto = d[p + 9]!;
    const src = ip4(d, p + 12);
    const dst = ip4(d, p + 16);
    const payloadLen = Math.max(0, total - ihl);
    const q = p + ihl;
    if ((frag & 0x1fff) !== 0) return `IP ${src} > ${dst}: ip-proto-${proto}`;
    return this.transport(d, q, proto, payloadLen, 'IP', src, dst);
  }

  private ipv6(d: Uint8Array, p: number, len: number): string {
    if (d.length < p + 40) return `IP6 [|ip6], length ${len}`;
    const payloadLen = u16(d, p + 4);
    let next = d[p + 6]!;
    const src = ip6(d, p + 8);
    const dst = ip6(d, p + 24);
    let q = p + 40;
    // Hop-by-hop, routing and destination options headers: skip to the upper layer.
    let left = payloadLen;
    while ((next === 0 || next === 43 || next === 60) && d.length >= q + 8) {
      const hl = (d[q + 1]! + 1) * 8;
      next = d[q]!;
      q += hl;
      left -= hl;
    }
    return this.transport(d, q, next, Math.max(0, left), 'IP6', src, dst);
  }

  private transport(d: Uint8Array, q: number, proto: number, plen: number, fam: string, src: string, dst: string): string {
    switch (proto) {
      case 6: {
        if (d.length < q + 20) return `${fam} ${src} > ${dst}: tcp [|tcp]`;
        const sport = u16(d, q);
        const dport = u16(d, q + 2);
        const seq = u32(d, q + 4);
        const ack = u32(d, q + 8);
        const off = (d[q + 12]! >> 4) * 4;
        const flags = d[q + 13]!;
        const win = u16(d, q + 14);
        const dataLen = Math.max(0, plen - off);
        const head = `${fam} ${src}.${sport} > ${dst}.${dport}:`;
        if (this.quick) return `${head} tcp ${dataLen}`;
        let f = '';
        for (const [bit, c] of TCP_FLAGS) if ((flags & bit) !== 0) f += c;
        if (f === '') f = 'none';
        let s = `${head} Flags [${f}]`;
        if (dataLen > 0 || (flags & 0x07) !== 0) s += dataLen > 0 ? `, seq ${seq}:${(seq + dataLen) >>> 0}` : `, seq ${seq}`;
        if ((flags & 0x10) !== 0) s += `, ack ${ack}`;
        s += `, win ${win}`;
        if ((flags & 0x20) !== 0) s += `, urg ${u16(d, q + 18)}`;
        return `${s}, length ${dataLen}`;
      }
      case 17: {
        if (d.length < q + 8) return `${fam} ${src} > ${dst}: udp [|udp]`;
        const sport = u16(d, q);
        const dport = u16(d, q + 2);
        const ulen = u16(d, q + 4);
        return `${fam} ${src}.${sport} > ${dst}.${dport}: UDP, length ${Math.max(0, ulen - 8)}`;
      }
      case 1: {
        if (d.length < q + 4) return `${fam} ${src} > ${dst}: ICMP [|icmp]`;
        const type = d[q]!;
        const name = ICMP_TYPES[type] ?? `type-#${type}`;
        let s = `${fam} ${src} > ${dst}: ICMP ${name}`;
        if ((type === 0 || type === 8) && d.length >= q + 8) s += `, id ${u16(d, q + 4)}, seq ${u16(d, q + 6)}`;
        return `${s}, length ${plen}`;
      }
      case 58: {
        if (d.length < q + 4) return `${fam} ${src} > ${dst}: ICMP6 [|icmp6]`;
        const type = d[q]!;
        const name = ICMP6_TYPES[type] ?? `type-#${type}`;
        let s = `${fam} ${src} > ${dst}: ICMP6, ${name}`;
        if ((type === 128 || type === 129) && d.length >= q + 8) s += `, id ${u16(d, q + 4)}, seq ${u16(d, q + 6)}`;
        return `${s}, length ${plen}`;
      }
      default:
        return `${fam} ${src} > ${dst}: ip-proto-${proto} ${plen}`;
    }
  }
}
