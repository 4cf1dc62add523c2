// The netmap backend seen from TypeScript: is netmap on this machine, is a name a netmap name, and
// what it selects. parseNetmapName() mirrors native/netmap_name.cc message for message, so names
// can be checked and shown without opening anything; test/ports/netmap-name.test.ts runs both
// parsers on the same vectors.
import { existsSync } from 'node:fs';

import { PortError } from '../errors.js';

export const NETMAP_DEVICE = '/dev/netmap';

/** Does /dev/netmap exist (is the netmap kernel module loaded)? */
export function netmapAvailable(): boolean {
  return existsSync(NETMAP_DEVICE);
}

/** nmreq_register.nr_mode values. */
export const NR_REG = {
  DEFAULT: 0,
  ALL_NIC: 1,
  SW: 2,
  NIC_SW: 3,
  ONE_NIC: 4,
  PIPE_MASTER: 5,
  PIPE_SLAVE: 6,
  NULL: 7,
  ONE_SW: 8,
} as const;

/** nmreq_register.nr_flags bits a port name can set. */
export const NR_FLAG = {
  MONITOR_TX: 0x100,
  MONITOR_RX: 0x200,
  ZCOPY_MON: 0x400,
  EXCLUSIVE: 0x800,
  RX_RINGS_ONLY: 0x2000,
  TX_RINGS_ONLY: 0x4000,
} as const;

export type NetmapKind = 'nic' | 'pipe' | 'vale';

export interface NetmapName {
  name: string;
  kind: NetmapKind;
  /** what the kernel sees in nmreq_header.nr_name: "eth0", "x{1", "vale0:p1" */
  kernelName: string;
  /** interface, pipe parent or VALE port name */
  port: string;
  valeSwitch: string | null;
  pipe: { master: boolean; id: string } | null;
  mode: number;
  modeName: string;
  ringid: number;
  flags: number;
  memId: number;
  txSlots: number;
  rxSlots: number;
  txRings: number;
  rxRings: number;
  hostTxRings: number;
  hostRxRings: number;
  description: string;
}

/** A port name netmap cannot take; `code` as the native side's PortError. */
export class NetmapNameError extends PortError {
  declare readonly code: 'ERR_PORT_BAD_NAME' | 'ERR_PORT_UNSUPPORTED';
  constructor(code: 'ERR_PORT_BAD_NAME' | 'ERR_PORT_UNSUPPORTED', message: string) {
    super(code, message);
  }
}

const MAX_SHORT_NAME = 15; // IFNAMSIZ - 1
const REQ_IFNAMSIZ = 64;
const RING_MASK = 0x0fff;

const GENERAL_HINT =
  'use netmap:IF, netmap:IF-N, netmap:IF^, netmap:IF*, netmap:NAME{N, netmap:NAME}N or valeSWITCH:PORT, ' +
  'optionally followed by /FLAGS and @conf:KEY=VALUE';
const VALE_HINT = 'name VALE ports valeSWITCH:PORT, e.g. vale0:p1';
const PIPE_HINT = 'name netmap pipes NAME{N (master end) or NAME}N (slave end)';
const CHARS_HINT = 'netmap cannot name such ports; use af_packet:IF or af_xdp:IF for such interfaces';
const SUFFIX_HINT = "put flags after '/' and options after '@', e.g. netmap:eth0-1/R@conf:slots=1024";
const FLAGS_HINT = "flags after '/' are x (exclusive), z, t, r (monitors), R (RX rings only) and T (TX rings only)";
const AT_HINT = 'use @N for a memory region or @conf:KEY=VALUE';
const CONF_HINT =
  '@conf takes rings, slots, tx-rings, rx-rings, tx-slots, rx-slots, host-rings, host-tx-rings, host-rx-rings, ' +
  'e.g. @conf:rings=2,slots=1024';

const CONF_KEYS = [
  'rings',
  'host_rings',
  'slots',
  'tx_rings',
  'rx_rings',
  'host_tx_rings',
  'host_rx_rings',
  'tx_slots',
  'rx_slots',
] as const;

const isIdent = (s: string): boolean => /^[0-9A-Za-z_]*$/.test(s);
const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';

/** Is this name meant for netmap ("netmap:..." or "valeSW:...")? Same rule as the native side. */
export function isNetmapName(name: string): boolean {
  if (name.startsWith('netmap:')) return true;
  if (!name.startsWith('vale')) return false;
  const colon = name.indexOf(':');
  return colon >= 0 && isIdent(name.slice(4, colon));
}

export function netmapModeName(mode: number): string {
  const e = Object.entries(NR_REG).find(([, v]) => v === mode);
  return e ? e[0] : 'UNKNOWN';
}

/** Parses a netmap port name like libnetmap's nmport_parse(); throws NetmapNameError. */
export function parseNetmapName(name: string): NetmapName {
  const s = name;
  const bad = (why: string, hint: string): NetmapNameError =>
    new NetmapNameError('ERR_PORT_BAD_NAME', `bad netmap port name '${s}': ${why} (${hint})`);
  const n: NetmapName = {
    name,
    kind: 'nic',
    kernelName: '',
    port: '',
    valeSwitch: null,
    pipe: null,
    mode: NR_REG.ALL_NIC,
    modeName: '',
    ringid: 0,
    flags: 0,
    memId: 0,
    txSlots: 0,
    rxSlots: 0,
    txRings: 0,
    rxRings: 0,
    hostTxRings: 0,
    hostRxRings: 0,
    description: '',
  };
  // Decimal digits from s[i]; saturates like the native reader so huge numbers stay out of range.
  const readNumber = (str: string, i: number): [number, number] => {
    let v = 0;
    while (isDigit(str[i])) {
      if (v < 2 ** 40) v = v * 10 + (str.charCodeAt(i) - 48);
      i++;
    }
    return [v, i];
  };

  // --- prefix, port name, pipe suffix
  let vale: boolean;
  let p: number;
  if (s.startsWith('netmap')) {
    vale = false;
    p = 6;
  } else if (s.startsWith('vale')) {
    vale = true;
    p = 4;
  } else {
    throw bad("it must start with 'netmap:' or 'vale'", GENERAL_HINT);
  }
  const colon = s.indexOf(':', p);
  if (colon < 0) throw bad("missing ':' after the prefix", GENERAL_HINT);
  if (!vale && colon !== p) throw bad("nothing may stand between 'netmap' and ':'", GENERAL_HINT);
  if (vale) {
    const sw = s.slice(0, colon);
    if (!isIdent(sw.slice(4))) throw bad(`the VALE switch name '${sw}' may hold only letters, digits and '_'`, VALE_HINT);
    if (sw.length > MAX_SHORT_NAME) throw bad(`the VALE switch name '${sw}' is longer than 15 characters`, VALE_HINT);
    n.valeSwitch = sw;
  }
  const vp = colon + 1;
  let scan = vp;
  while (scan < s.length && !'-*^/@'.includes(s[scan]!)) scan++;
  let pipesep = vp;
  while (pipesep < scan && s[pipesep] !== '{' && s[pipesep] !== '}') pipesep++;
  n.port = s.slice(vp, pipesep);
  if (n.port === '') throw bad('the port name is empty', GENERAL_HINT);
  if (!isIdent(n.port))
    throw bad(`the port name '${n.port}' has characters other than letters, digits and '_'`, CHARS_HINT);
  if (n.port.length > MAX_SHORT_NAME)
    throw bad(`the port name '${n.port}' is longer than 15 characters`, 'interface and VALE port names fit IFNAMSIZ');
  if (pipesep !== scan) {
    const id = s.slice(pipesep + 1, scan);
    if (id === '') throw bad(`the pipe number after '${s[pipesep]}' is empty`, PIPE_HINT);
    if (!isIdent(id)) throw bad(`the pipe identifier '${id}' may hold only letters, digits and '_'`, PIPE_HINT);
    n.pipe = { master: s[pipesep] === '{', id };
  }
  n.kernelName = vale ? s.slice(0, scan) : s.slice(vp, scan);
  if (n.kernelName.length >= REQ_IFNAMSIZ)
    throw bad(`the name '${n.kernelName}' is longer than 63 characters`, GENERAL_HINT);
  n.kind = vale ? 'vale' : n.pipe ? 'pipe' : 'nic';

  // --- ring selection, flags, memory region (libnetmap's nmreq_register_decode states)
  const expectedRingNumber = (after: string): NetmapNameError =>
    after === '-'
      ? bad(
          "expected a ring number after '-'",
          "netmap:IF-N opens NIC ring pair N; interface names with '-' cannot be named through netmap, " +
            'use af_packet:IF or af_xdp:IF',
        )
      : bad(`expected a ring number after '${after}'`, GENERAL_HINT);
  type St = 'start' | 'ringSuffixOk' | 'getNum' | 'flags' | 'flagsOk' | 'memId' | 'oneSw';
  let st: St = 'start';
  let numAfter = '-';
  let optionsAt = -1;
  parse: while (scan < s.length) {
    const c = s[scan]!;
    switch (st) {
      case 'start':
        if (c === '^') {
          n.mode = NR_REG.SW;
          st = 'oneSw';
        } else if (c === '*') {
          n.mode = NR_REG.NIC_SW;
          st = 'ringSuffixOk';
        } else if (c === '-') {
          n.mode = NR_REG.ONE_NIC;
          st = 'getNum';
          numAfter = '-';
        } else if (c === '/') st = 'flags';
        else if (c === '@') st = 'memId';
        else throw bad(`unexpected '${c}'`, SUFFIX_HINT);
        scan++;
        break;
      case 'ringSuffixOk':
        if (c === '/') st = 'flags';
        else if (c === '@') st = 'memId';
        else throw bad(`unexpected '${c}' after the ring selection`, SUFFIX_HINT);
        scan++;
        break;
      case 'getNum': {
        if (!isDigit(c)) throw expectedRingNumber(numAfter);
        const [v, next] = readNumber(s, scan);
        scan = next;
        if (v >= RING_MASK) throw bad(`ring number ${v} is out of range (0 to 4094)`, GENERAL_HINT);
        n.ringid = v;
        st = 'ringSuffixOk';
        break;
      }
      case 'flags':
      case 'flagsOk': {
        if (c === '@') {
          st = 'memId';
          scan++;
          break;
        }
        const bit = { x: NR_FLAG.EXCLUSIVE, z: NR_FLAG.ZCOPY_MON, t: NR_FLAG.MONITOR_TX, r: NR_FLAG.MONITOR_RX,
          R: NR_FLAG.RX_RINGS_ONLY, T: NR_FLAG.TX_RINGS_ONLY }[c];
        if (bit === undefined) throw bad(`unknown flag '${c}'`, FLAGS_HINT);
        n.flags |= bit;
        scan++;
        st = 'flagsOk';
        break;
      }
      case 'memId': {
        if (!isDigit(c)) {
          optionsAt = scan - 1; // "@name": the options start at that '@'
          break parse;
        }
        const [v, next] = readNumber(s, scan);
        scan = next;
        if (v === 0) throw bad('memory region @0 is invalid (regions start at 1)', AT_HINT);
        if (v > 0xffff) throw bad(`memory region @${v} is out of range (1 to 65535)`, AT_HINT);
        if (n.memId && n.memId !== v) throw bad(`two memory regions (@${n.memId} and @${v})`, AT_HINT);
        n.memId = v;
        st = 'ringSuffixOk';
        break;
      }
      case 'oneSw':
        if (isDigit(c)) {
          n.mode = NR_REG.ONE_SW;
          st = 'getNum';
          numAfter = '^';
        } else {
          st = 'ringSuffixOk';
        }
        break;
    }
  }
  if (optionsAt < 0) {
    if (st === 'getNum') throw expectedRingNumber(numAfter);
    if (st === 'flags') throw bad("no flags after '/'", FLAGS_HINT);
    if (st === 'memId') throw bad("nothing follows '@'", AT_HINT);
  }

  // --- options: "@opt1@opt2...", only @conf is implemented
  if (optionsAt >= 0) {
    let at = optionsAt;
    while (at < s.length) {
      at++;
      let end = s.indexOf('@', at);
      if (end < 0) end = s.length;
      if (end === at) throw bad("empty option after '@'", CONF_HINT);
      parseOption(s.slice(at, end));
      at = end;
    }
  }

  function parseOption(opt: string): void {
    const m = /[:=]/.exec(opt);
    const d = m ? m.index : -1;
    const prefix = d < 0 ? opt : opt.slice(0, d);
    if (prefix === 'share' || prefix === 'extmem' || prefix === 'offset')
      throw new NetmapNameError(
        'ERR_PORT_UNSUPPORTED',
        `netmap port name '${s}': option '@${prefix}' is not supported by nmcap (remove it from the name)`,
      );
    if (prefix !== 'conf') throw bad(`unknown option '@${prefix}'`, CONF_HINT);
    if (d < 0 || opt[d] === '=') throw bad("option '@conf' needs KEY=VALUE pairs after ':'", CONF_HINT);
    parseConf(opt.slice(d + 1));
  }

  function parseConf(body: string): void {
    const val = new Map<string, number>();
    let i = 0;
    while (i < body.length) {
      let end = body.indexOf(',', i);
      if (end < 0) end = body.length;
      const item = body.slice(i, end);
      const eq = item.indexOf('=');
      const key = (eq < 0 ? item : item.slice(0, eq)).replaceAll('-', '_');
      if (!(CONF_KEYS as readonly string[]).includes(key)) throw bad(`unknown @conf key '${key}'`, CONF_HINT);
      if (val.has(key)) throw bad(`@conf key '${key}' is given twice`, CONF_HINT);
      const value = eq < 0 ? '' : item.slice(eq + 1);
      if (value === '') throw bad(`@conf key '${key}' needs a value`, CONF_HINT);
      const [v, j] = readNumber(value, 0);
      if (j !== value.length) throw bad(`@conf value '${value}' for '${key}' is not a number`, CONF_HINT);
      const max = key.includes('slots') ? 0xffffffff : 0xffff;
      if (v > max) throw bad(`@conf value ${v} for '${key}' is out of range (0 to ${max})`, CONF_HINT);
      val.set(key, v);
      i = end + 1;
      if (end === body.length) break;
      if (i === body.length) throw bad("unknown @conf key ''", CONF_HINT); // trailing ','
    }
    // The specific keys win over rings / host_rings / slots, whatever their order (as libnetmap).
    const get = (k: (typeof CONF_KEYS)[number]): number | undefined => val.get(k);
    if (get('rings') !== undefined) n.txRings = n.rxRings = get('rings')!;
    if (get('host_rings') !== undefined) n.hostTxRings = n.hostRxRings = get('host_rings')!;
    if (get('slots') !== undefined) n.txSlots = n.rxSlots = get('slots')!;
    if (get('tx_rings') !== undefined) n.txRings = get('tx_rings')!;
    if (get('rx_rings') !== undefined) n.rxRings = get('rx_rings')!;
    if (get('host_tx_rings') !== undefined) n.hostTxRings = get('host_tx_rings')!;
    if (get('host_rx_rings') !== undefined) n.hostRxRings = get('host_rx_rings')!;
    if (get('tx_slots') !== undefined) n.txSlots = get('tx_slots')!;
    if (get('rx_slots') !== undefined) n.rxSlots = get('rx_slots')!;
  }

  if (n.flags & NR_FLAG.RX_RINGS_ONLY && n.flags & NR_FLAG.TX_RINGS_ONLY)
    throw bad('flags R and T exclude each other', 'leave both out to open TX and RX rings');
  n.modeName = netmapModeName(n.mode);
  n.description = describeNetmapName(n);
  return n;
}

/** Human-readable, as the native PortInfo.description. */
export function describeNetmapName(n: Omit<NetmapName, 'description'>): string {
  let d: string;
  if (n.kind === 'vale') d = `port ${n.port} of VALE switch ${n.valeSwitch}`;
  else if (n.kind === 'pipe') d = 'pipe';
  else d = `interface ${n.port}`;
  if (n.pipe)
    d +=
      (n.kind === 'vale' ? ', pipe ' : ' ') +
      `${n.pipe.master ? 'master' : 'slave'} end ${n.pipe.id}` +
      (n.kind === 'pipe' ? ` of ${n.port}` : '');
  if (n.mode === NR_REG.SW) d += ', host rings';
  else if (n.mode === NR_REG.ONE_SW) d += `, host ring pair ${n.ringid}`;
  else if (n.mode === NR_REG.NIC_SW) d += ', NIC and host rings';
  else if (n.mode === NR_REG.ONE_NIC) d += `, NIC ring pair ${n.ringid}`;
  if (n.flags & NR_FLAG.ZCOPY_MON) d += ', zero-copy monitor';
  else if (n.flags & (NR_FLAG.MONITOR_TX | NR_FLAG.MONITOR_RX)) {
    const tx = n.flags & NR_FLAG.MONITOR_TX;
    const rx = n.flags & NR_FLAG.MONITOR_RX;
    d += `, monitor of ${tx && rx ? 'TX and RX' : tx ? 'TX' : 'RX'} rings`;
  }
  if (n.flags & NR_FLAG.EXCLUSIVE) d += ', exclusive';
  return `netmap ${d}`;
}
