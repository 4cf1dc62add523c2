// Text forms of MAC, IPv4 and IPv6 addresses, both ways. Errors name the bad text.
import { HarnessError, HarnessErrorCode } from '../errors.js';

function bad(what: string): never {
  throw new HarnessError(HarnessErrorCode.BAD_PACKET, what);
}

export function parseMac(text: string): Uint8Array {
  const parts = text.split(/[:-]/);
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{1,2}$/.test(p))) bad(`"${text}" is not a MAC address (aa:bb:cc:dd:ee:ff)`);
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

export function parseIPv4(text: string): Uint8Array {
  const parts = text.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^[0-9]{1,3}$/.test(p) || Number(p) > 255)) bad(`"${text}" is not an IPv4 address`);
  return Uint8Array.from(parts.map(Number));
}

export function parseIPv6(text: string): Uint8Array {
  const halves = text.split('::');
  if (halves.length > 2) bad(`"${text}" is not an IPv6 address (more than one "::")`);
  const groups = (s: string): number[] => {
    if (s === '') return [];
    const out: number[] = [];
    const items = s.split(':');
    items.forEach((g, i) => {
      if (i === items.length - 1 && g.includes('.')) {
        const v4 = parseIPv4(g);
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(g)) out.push(parseInt(g, 16));
      else bad(`"${text}" is not an IPv6 address`);
    });
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  const fill = 8 - head.length - tail.length;
  if ((halves.length === 1 && fill !== 0) || fill < 0 || (halves.length === 2 && fill < 1)) bad(`"${text}" is not an IPv6 address`);
  const all = [...head, ...new Array<number>(halves.length === 2 ? fill : 0).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

function hex2(b: number): string {
  return (b < 16 ? '0' : '') + b.toString(16);
}

export function macText(d: Uint8Array, p: number): string {
  return `${hex2(d[p]!)}:${hex2(d[p + 1]!)}:${hex2(d[p + 2]!)}:${hex2(d[p + 3]!)}:${hex2(d[p + 4]!)}:${hex2(d[p + 5]!)}`;
}

export function ipv4Text(d: Uint8Array, p: number): string {
  return `${d[p]}.${d[p + 1]}.${d[p + 2]}.${d[p + 3]}`;
}

/** RFC 5952 form: lower case, longest run of two or more zero groups as "::". */
export function ipv6Text(d: Uint8Array, p: number): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((d[p + 2 * i]! << 8) | d[p + 2 * i + 1]!);
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j === i ? i + 1 : j;
  }
  const h = g.map((x) => x.toString(16));
  if (best < 0) return h.join(':');
  return `${h.slice(0, best).join(':')}::${h.slice(best + bestLen).join(':')}`;
}
