// The prefixes that name a port's backend, and what follows from a prefix alone. No imports: the
// command lines check names with this before (and without) loading the addon.

export type Backend = 'pipe' | 'netmap' | 'af_packet' | 'af_xdp';

export const PREFIXES: readonly (readonly [string, Backend])[] = [
  ['pipe:', 'pipe'],
  ['netmap:', 'netmap'],
  ['af_packet:', 'af_packet'],
  ['af_xdp:', 'af_xdp'],
];

/**
 * Does receiving on this port name take the frames away from the host stack? AF_XDP's program
 * redirects every frame into the socket; netmap's NIC mode (native or generic adapter, host
 * rings too) detaches the interface from the stack while the port is open. Pipes and VALE
 * ports have no host stack to take anything from.
 */
export function divertsTraffic(name: string): boolean {
  return divertingInterface(name) !== undefined;
}

/** The interface a diverting name takes over ('eth0' for af_xdp:eth0 or netmap:eth0-1/R), if any. */
export function divertingInterface(name: string): string | undefined {
  const s = name.trim();
  const rest = s.startsWith('af_xdp:') ? s.slice('af_xdp:'.length) : s.startsWith('netmap:') ? s.slice('netmap:'.length) : undefined;
  if (rest === undefined || /[{}]/.test(rest)) return undefined; // netmap pipes divert nothing
  return /^[^-*^/@:]+/.exec(rest)?.[0] ?? rest;
}

