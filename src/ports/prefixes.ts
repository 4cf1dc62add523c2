// The prefixes that name a port's backend, and what follows from a prefix alone. No imports: the
// command lines check names with this before (and without) loading the addon.

export type Backend = 'pipe' | 'netmap' | 'af_packet' | 'af_xdp';

export const PREFIXES: readonly (readonly [string, Backend])[] = [
  ['pipe:', 'pipe'],
  ['netmap:', 'netmap'],
  ['af_packet:', 'af_packet'],
  ['af_xdp:', 'af_xdp'],
];
