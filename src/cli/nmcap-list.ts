// `nmcap -D`: the interfaces of this network namespace and, for each, the capture backends this
// process could open on it now, with the reason where one is missing (dumpcap -D lists names only).
import { readFileSync, readdirSync } from 'node:fs';

import { netmapAvailable } from '../ports/names.js';
import { EXIT_OK } from './common.js';

const CAP_NET_ADMIN = 12;
const CAP_NET_RAW = 13;
const CAP_BPF = 39;

function effectiveCaps(): bigint {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? BigInt(`0x${m[1]}`) : 0n;
}

function sysfs(ifname: string, file: string): string | undefined {
  try {
    return readFileSync(`/sys/class/net/${ifname}/${file}`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

export interface InterfaceBackends {
  name: string;
  state: string;
  usable: string[];
  /** backend -> why it cannot be used now */
  missing: Record<string, string>;
}

export function interfaceBackends(): InterfaceBackends[] {
  const caps = effectiveCaps();
  const has = (bit: number): boolean => ((caps >> BigInt(bit)) & 1n) === 1n;
  const raw = has(CAP_NET_RAW);
  const xdp = has(CAP_NET_ADMIN) && (has(CAP_BPF) || has(21)); // CAP_SYS_ADMIN (21) also allows BPF
  const netmap = netmapAvailable();
  return readdirSync('/sys/class/net')
    .sort()
    .map((name) => {
      const usable: string[] = [];
      const missing: Record<string, string> = {};
      if (netmap) usable.push('netmap');
      else missing['netmap'] = 'no /dev/netmap';
      if (raw) usable.push('af_packet');
      else missing['af_packet'] = 'needs CAP_NET_RAW';
      if (!xdp) missing['af_xdp'] = 'needs CAP_NET_ADMIN and CAP_BPF';
      else if (sysfs(name, 'type') !== '1') missing['af_xdp'] = 'not an Ethernet device';
      else usable.push('af_xdp');
      return { name, state: sysfs(name, 'operstate') ?? 'unknown', usable, missing };
    });
}

export function listInterfaces(): number {
  const lines = interfaceBackends().map((i, n) => {
    const why = Object.entries(i.missing)
      .map(([b, r]) => `${b}: ${r}`)
      .join('; ');
    return `${n + 1}. ${i.name} [${i.state}] backends: ${i.usable.join(', ') || 'none'}${why ? ` (not ${why})` : ''}`;
  });
  lines.push('capture with a bare name is passive (af_packet); af_xdp:IF and netmap:IF take the interface from the host stack and need --divert');
  lines.push('pipe:NAME}N / pipe:NAME{N: shared-memory pipes, no privileges needed');
  process.stdout.write(`${lines.join('\n')}\n`);
  return EXIT_OK;
}
