// For VALE tests: a bare namespace (no interfaces but lo), the child script that drives the Port
// API inside it, and what nmcap left behind there.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

import { start, type Running } from './cli.js';

export const VALE_SCRIPT = new URL('../vale/scripts/vale-ports.mjs', import.meta.url).pathname;

export interface Namespace {
  ns: string;
  prefix: string[];
  ip(args: string[]): string;
  /** interfaces nmcap's bridge-backed switch made (nmv*), with their aliases */
  valeLinks(): { ifname: string; ifalias?: string; kind?: string }[];
  destroy(): void;
}

export function createNamespace(): Namespace {
  const ns = `nmv-${process.pid}-${randomBytes(3).toString('hex')}`;
  execFileSync('ip', ['netns', 'add', ns]);
  // A switch, not a firewall: br_netfilter (loaded by Docker and others) would hand bridged frames
  // to iptables and drop IP frames shorter than their header says.
  for (const t of ['iptables', 'ip6tables', 'arptables']) {
    try {
      execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', `net.bridge.bridge-nf-call-${t}=0`], { stdio: 'ignore' });
    } catch {
      // no br_netfilter here
    }
  }
  const run = (args: string[]): string => execFileSync('ip', ['-n', ns, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return {
    ns,
    prefix: ['ip', 'netns', 'exec', ns],
    ip: run,
    valeLinks() {
      const all = JSON.parse(run(['-j', '-d', 'link', 'show']) || '[]') as { ifname: string; ifalias?: string; linkinfo?: { info_kind?: string } }[];
      return all.filter((l) => l.ifname.startsWith('nmv')).map((l) => ({ ifname: l.ifname, ifalias: l.ifalias, kind: l.linkinfo?.info_kind }));
    },
    destroy() {
      try {
        execFileSync('ip', ['netns', 'del', ns]);
      } catch {
        // already gone
      }
    },
  };
}

/** The bridge-backed switch, whatever this host has (tests of the bridge run on netmap hosts too). */
export const BRIDGE_ENV = { ...process.env, NMCAP_VALE_BACKEND: 'bridge' };

/** Runs the Port API script in the namespace; resolves with its JSON lines. */
export async function valeScript(n: Namespace, args: string[], env = BRIDGE_ENV): Promise<Record<string, unknown>[]> {
  const r = await start(process.execPath, [VALE_SCRIPT, ...args], { prefix: n.prefix, env }).done;
  if (r.code !== 0) throw new Error(`vale-ports.mjs ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Starts the script in hold mode (open NAME, wait for "close" on stdin). */
export function holdPort(n: Namespace, name: string, env = BRIDGE_ENV): Running {
  return start(process.execPath, [VALE_SCRIPT, 'hold', name], { prefix: n.prefix, env, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Resolves with the first JSON line on the child's stdout. */
export function firstLine(r: Running): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const check = (): boolean => {
      const l = r.stdout().split('\n')[0];
      if (r.stdout().includes('\n') && l) {
        resolve(JSON.parse(l) as Record<string, unknown>);
        return true;
      }
      return false;
    };
    if (check()) return;
    r.child.stdout!.on('data', () => check());
    void r.done.then((f) => reject(new Error(`ended before a line: ${f.stderr}`)));
  });
}
