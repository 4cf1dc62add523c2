// Interface counters around a test: the kernel's /sys/class/net/IF/statistics for net devices
// (veth, bridges, NICs; read in the process's network namespace) and each harness port's own
// counters. A counter that cannot be read is null ("unknown"), never 0.
import { readFileSync, readdirSync } from 'node:fs';

export type CounterSet = Record<string, bigint | null>;

export interface CounterSnapshot {
  /** when it was taken (ms since the epoch) */
  at: number;
  /** per interface name */
  interfaces: Record<string, CounterSet>;
}

const STAT_DIR = (ifname: string) => `/sys/class/net/${ifname}/statistics`;

/** One interface's statistics, or null when it has no /sys entry (pipes, another namespace). */
export function readInterfaceStats(ifname: string): CounterSet | null {
  if (!/^[^/\0]{1,15}$/.test(ifname) || ifname === '.' || ifname === '..') return null;
  let names: string[];
  try {
    names = readdirSync(STAT_DIR(ifname));
  } catch {
    return null;
  }
  const out: CounterSet = {};
  for (const n of names) {
    try {
      out[n] = BigInt(readFileSync(`${STAT_DIR(ifname)}/${n}`, 'utf8').trim());
    } catch {
      out[n] = null;
    }
  }
  return out;
}

/** Just the packet counters the settle rule watches (cheaper than the full set). */
export function readPacketCounters(ifname: string): string | null {
  try {
    const dir = STAT_DIR(ifname);
    return ['rx_packets', 'tx_packets', 'rx_dropped', 'tx_dropped'].map((n) => readFileSync(`${dir}/${n}`, 'utf8').trim()).join(',');
  } catch {
    return null;
  }
}

export function snapshotCounters(ifnames: readonly string[], extra: Record<string, CounterSet> = {}): CounterSnapshot {
  const interfaces: Record<string, CounterSet> = { ...extra };
  for (const n of ifnames) {
    const s = readInterfaceStats(n);
    if (s !== null) interfaces[n] = s;
  }
  return { at: Date.now(), interfaces };
}

export interface CounterDiff {
  ms: number;
  /** per interface, per counter: after - before (null when either side is unknown); zero deltas left out */
  interfaces: Record<string, CounterSet>;
}

export function diffCounters(before: CounterSnapshot, after: CounterSnapshot): CounterDiff {
  const interfaces: Record<string, CounterSet> = {};
  for (const [name, a] of Object.entries(after.interfaces)) {
    const b = before.interfaces[name] ?? {};
    const d: CounterSet = {};
    for (const [k, v] of Object.entries(a)) {
      const w = b[k];
      const delta = v === null || w === null || w === undefined ? null : v - w;
      if (delta !== 0n) d[k] = delta;
    }
    interfaces[name] = d;
  }
  return { ms: after.at - before.at, interfaces };
}
