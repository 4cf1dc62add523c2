// A throwaway test bed: a network namespace holding a veth pair (va <-> vb), offloads off so
// frames cross unchanged, always deleted afterwards. Processes run inside it with `ip netns exec`.
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach } from 'vitest';

export interface VethBed {
  ns: string;
  /** sender side */
  a: string;
  /** receiver side */
  b: string;
  /** Run a command inside the namespace and return its stdout. */
  exec(cmd: string, args: string[]): string;
  /** Start a process inside the namespace. */
  spawn(cmd: string, args: string[], opts?: SpawnOptions): ChildProcess;
  /** Interface counters as the kernel sees them (/sys/class/net/IF/statistics). */
  stats(ifname: string): Record<string, number>;
  destroy(): void;
}

export interface VethOptions {
  queues?: number;
  mtu?: number;
  offloadsOff?: boolean;
}

/** Why namespaces cannot be used here, or null if they can. */
export function netnsUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (CAP_NET_ADMIN) to create network namespaces and veth pairs';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'iproute2 (ip) is not installed';
  }
  return null;
}

function ip(args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export function createVethBed(opts: VethOptions = {}): VethBed {
  const ns = `nmc-${process.pid}-${randomBytes(3).toString('hex')}`;
  const a = 'va';
  const b = 'vb';
  ip(['netns', 'add', ns]);
  const bed: VethBed = {
    ns,
    a,
    b,
    exec(cmd, args) {
      return execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    },
    spawn(cmd, args, spawnOpts = {}) {
      return spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...spawnOpts });
    },
    stats(ifname) {
      const out = bed.exec('sh', ['-c', `cd /sys/class/net/${ifname}/statistics && grep -H . *`]);
      const r: Record<string, number> = {};
      for (const line of out.trim().split('\n')) {
        const [k, v] = line.split(':');
        r[k] = Number(v);
      }
      return r;
    },
    destroy() {
      try {
        ip(['netns', 'del', ns]);
      } catch {
        // already gone
      }
    },
  };
  try {
    // IPv6 would send router solicitations and DAD frames into our captures.
    bed.exec('sysctl', ['-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1']);
    bed.exec('sysctl', ['-q', '-w', 'net.ipv6.conf.default.disable_ipv6=1']);
    const q = opts.queues ?? 1;
    ip(['-n', ns, 'link', 'add', a, 'numtxqueues', String(q), 'numrxqueues', String(q), 'type', 'veth', 'peer', 'name', b,
      'numtxqueues', String(q), 'numrxqueues', String(q)]);
    for (const dev of [a, b]) {
      if (opts.mtu) ip(['-n', ns, 'link', 'set', dev, 'mtu', String(opts.mtu)]);
      ip(['-n', ns, 'link', 'set', dev, 'up']);
      if (opts.offloadsOff ?? true) {
        try {
          bed.exec('ethtool', ['-K', dev, 'tso', 'off', 'gso', 'off', 'gro', 'off', 'tx', 'off', 'rxvlan', 'off', 'txvlan', 'off']);
        } catch {
          // some offloads are fixed on some kernels; the rest are off
        }
      }
    }
  } catch (e) {
    bed.destroy();
    throw e;
  }
  return bed;
}

/** Create a bed, run fn, always destroy the bed. */
export async function withVethBed<T>(fn: (bed: VethBed) => Promise<T>, opts?: VethOptions): Promise<T> {
  const bed = createVethBed(opts);
  try {
    return await fn(bed);
  } finally {
    bed.destroy();
  }
}

/** Inside a describe block: a fresh bed before each test, destroyed after it. Read `.bed` and `.ns` in tests. */
export function vethBedPerTest(opts?: VethOptions): { readonly bed: VethBed; readonly ns: string[] } {
  let bed: VethBed | undefined;
  beforeEach(() => {
    bed = createVethBed(opts);
  });
  afterEach(() => bed?.destroy());
  return {
    get bed() {
      return bed!;
    },
    get ns() {
      return ['ip', 'netns', 'exec', bed!.ns];
    },
  };
}
