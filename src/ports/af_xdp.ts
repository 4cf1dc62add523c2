// The TypeScript side of the af_xdp backend (native/port_af_xdp.cc, native/xdp_prog.cc):
// its port names, options, limits, and what its `mode` string says.
//
// af_xdp:IF opens one AF_XDP socket per RX queue of IF (or only `queue`), with an XDP program
// that redirects each queue's frames to its socket, and one TX ring on queue 0 (or `queue`).
// RX slots point into the UMEM (no copy); timestamps are taken at each rxsync (the descriptors
// carry none), so a capture's IDB should say so (AF_XDP_TIMESTAMP_NOTE).
import { native, type NativePort, type PortOptions } from './binding.js';

export const AF_XDP_PREFIX = 'af_xdp:';

/** Options the af_xdp backend reads (others in PortOptions are ignored). */
export type AfXdpOptions = Pick<PortOptions, 'direction' | 'promisc' | 'rxSlots' | 'txSlots' | 'queue' | 'txBudget' | 'zeroCopy'>;

/** Mirrors the constants at the top of native/port_af_xdp.cc. */
export const AF_XDP_LIMITS = {
  defaultRxSlots: 2048,
  defaultTxSlots: 2048,
  /** slot counts are rounded up to a power of two within these bounds */
  minSlots: 64,
  maxSlots: 16384,
  /** XDP_MAX_TX_SKB_BUDGET accepts 32 .. TX ring size; the default is the TX ring size */
  minTxBudget: 32,
  /** bytes the kernel keeps before received data in each UMEM chunk */
  xdpPacketHeadroom: 256,
} as const;

/** For the pcapng IDB comment of an af_xdp capture (ts_source "sync-ns"). */
export const AF_XDP_TIMESTAMP_NOTE = 'AF_XDP: timestamps are CLOCK_REALTIME taken at each rxsync (descriptors carry none)';

/** The kernel's rule for interface names (dev_valid_name), as the native side applies it. */
export function isValidIfname(name: string): boolean {
  return name.length > 0 && name.length < 16 && name !== '.' && name !== '..' && !/[/:\s\0]/.test(name);
}

/** "af_xdp:IF" -> "IF"; null if `name` is not an af_xdp port name. */
export function parseAfXdpName(name: string): string | null {
  return name.startsWith(AF_XDP_PREFIX) ? name.slice(AF_XDP_PREFIX.length) : null;
}

export function afXdpName(ifname: string): string {
  return AF_XDP_PREFIX + ifname;
}

/** What PortInfo.mode of an af_xdp port says, e.g. "copy, drv, bpf link, tx budget 2048". */
export interface AfXdpMode {
  zeroCopy: boolean;
  /** how the XDP program is attached; null for TX-only ports (no program) */
  attach: 'drv' | 'skb' | null;
  /** why driver mode was refused when the program runs in generic (skb) mode */
  drvRefusal: string | null;
  method: 'bpf link' | 'netlink' | null;
  /** copy-mode TX budget per kick; 'kernel-default' when the kernel has no XDP_MAX_TX_SKB_BUDGET; null without TX (or zero-copy) */
  txBudget: number | 'kernel-default' | null;
  /** anything else the backend noted (e.g. promiscuous mode could not be set) */
  notes: string[];
}

export function parseAfXdpMode(mode: string): AfXdpMode {
  const m: AfXdpMode = { zeroCopy: false, attach: null, drvRefusal: null, method: null, txBudget: null, notes: [] };
  // Parts are ", "-separated; a part may carry a parenthesised detail that contains ", ".
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (let i = 0; i < mode.length; i++) {
    const c = mode[i];
    if (c === '(') depth++;
    if (c === ')') depth--;
    if (depth === 0 && mode.startsWith(', ', i)) {
      parts.push(cur);
      cur = '';
      i++;
      continue;
    }
    cur += c;
  }
  if (cur) parts.push(cur);
  for (const p of parts) {
    let r: RegExpExecArray | null;
    if (p === 'zero-copy') m.zeroCopy = true;
    else if (p === 'copy') m.zeroCopy = false;
    else if (p === 'drv') m.attach = 'drv';
    else if ((r = /^skb(?: \(drv refused: (.*)\))?$/.exec(p))) {
      m.attach = 'skb';
      m.drvRefusal = r[1] ?? null;
    } else if (p === 'bpf link' || p === 'netlink') m.method = p;
    else if ((r = /^tx budget (\d+)$/.exec(p))) m.txBudget = Number(r[1]);
    else if (p.startsWith('tx budget kernel default')) m.txBudget = 'kernel-default';
    else m.notes.push(p);
  }
  return m;
}

/** Opens af_xdp:IF through the addon. Throws the addon's coded errors (err.code, see native/port.h). */
export function openAfXdp(ifname: string, options: AfXdpOptions = {}): NativePort {
  return new native.Port(afXdpName(ifname), options);
}
