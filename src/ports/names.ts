// Port names. Explicit ones pick their backend: pipe:NAME{N / pipe:NAME}N, netmap:IF…, valeX:Y,
// af_packet:IF, af_xdp:IF. A bare interface name ("eth0") is resolved here to the backends worth
// trying, best first, for the direction the caller needs.
import { existsSync } from 'node:fs';

import { PortError, PortErrorCode } from '../errors.js';
import { native } from './binding.js';
import { PREFIXES, type Backend } from './prefixes.js';

export { type Backend } from './prefixes.js';

export const NETMAP_DEVICE = '/dev/netmap';

/**
 * The interface that receiving on this port name takes away from the host stack, if any, as the
 * native name parser reads it: AF_XDP's program redirects every frame into the socket; netmap's
 * NIC mode (native or generic adapter, host rings too) detaches the interface while the port is
 * open. Pipes and VALE ports have no host stack to take anything from. A name the parser refuses
 * diverts nothing here (opening it says what is wrong).
 */
export function divertingInterface(name: string): string | undefined {
  let p: ReturnType<typeof native.names.parse>;
  try {
    p = native.names.parse(name.trim());
  } catch {
    return undefined;
  }
  const nic = p.backend === 'af_xdp' || (p.backend === 'netmap' && p.netmap?.kind === 'nic');
  return nic ? (p.ifname ?? undefined) : undefined;
}

/** Does receiving on this port name take the frames away from the host stack? */
export function divertsTraffic(name: string): boolean {
  return divertingInterface(name) !== undefined;
}

/** Does /dev/netmap exist (is the netmap kernel module loaded)? */
export function netmapAvailable(): boolean {
  return existsSync(NETMAP_DEVICE);
}

export type PortDirection = 'rx' | 'tx';

export interface PortCandidate {
  backend: Backend;
  /** the explicit name the addon opens */
  name: string;
}

export interface ResolvedName {
  /** what the user typed */
  spec: string;
  /** true when the user named no backend and we chose */
  auto: boolean;
  candidates: PortCandidate[];
}


/**
 * Which Linux backend goes first for a bare interface name, per direction. Measured on veth on
 * this kind of machine (bench/backends.bench.mjs prints the current numbers): AF_XDP copy-mode TX
 * outruns the AF_PACKET TX ring (~0.9 vs ~0.5 Mpps); the next one is the fallback when the first
 * cannot be opened (no BPF rights, ...). Receive is AF_PACKET only: AF_XDP receive redirects every
 * frame into its socket, so the host stack sees none of them while it runs. Capture is passive;
 * diverting traffic has to be asked for by name (af_xdp:IF, and --divert on the command line).
 */
export const LINUX_PREFERENCE: Record<PortDirection, Backend[]> = {
  tx: ['af_xdp', 'af_packet'],
  rx: ['af_packet'],
};


const IFNAME = /^[A-Za-z0-9_.:@-]{1,15}$/;

export function resolvePortName(spec: string, direction: PortDirection, hasNetmap = netmapAvailable()): ResolvedName {
  const s = spec.trim();
  for (const [prefix, backend] of PREFIXES) {
    if (s.startsWith(prefix)) return { spec, auto: false, candidates: [{ backend, name: s }] };
  }
  // Every vale* name goes to the netmap parser, which explains what is wrong with a bad one.
  if (native.names.isNetmapName(s) || s.startsWith('vale')) return { spec, auto: false, candidates: [{ backend: 'netmap', name: s }] };
  if (/[{}]/.test(s)) {
    throw new PortError(
      PortErrorCode.BAD_NAME,
      `'${spec}' looks like a pipe: write pipe:${s} for nmcap's shared-memory pipes, or netmap:${s} for a netmap pipe`,
    );
  }
  if (!IFNAME.test(s)) {
    throw new PortError(
      PortErrorCode.BAD_NAME,
      `bad port name '${spec}': give an interface (eth0), or pipe:NAME{N, netmap:IF, valeX:Y, af_packet:IF, af_xdp:IF`,
    );
  }
  if (!existsSync(`/sys/class/net/${s}`)) {
    throw new PortError(PortErrorCode.NOT_FOUND, `no interface '${s}' (see ip link), and no backend prefix such as pipe: given`);
  }
  const candidates: PortCandidate[] = [];
  // Capture is passive: netmap's NIC mode would take the interface from the host stack, as
  // AF_XDP would, so a bare name tries netmap only to send.
  if (hasNetmap && direction === 'tx') candidates.push({ backend: 'netmap', name: `netmap:${s}` });
  for (const b of LINUX_PREFERENCE[direction]) candidates.push({ backend: b, name: `${b}:${s}` });
  return { spec, auto: true, candidates };
}
