// The Internet checksum (RFC 1071) and the pseudo-headers of UDP/TCP/ICMPv6 (RFC 768, 793, 8200),
// shared by the builder (to fill checksums) and the decoder (to check them).

/** One's-complement sum of data[start, end) folded to 16 bits, added to `initial`. Not inverted. */
export function onesSum(data: Uint8Array, start: number, end: number, initial = 0): number {
  let sum = initial;
  let i = start;
  for (; i + 1 < end; i += 2) sum += (data[i]! << 8) | data[i + 1]!;
  if (i < end) sum += data[i]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** The checksum to store: the inverted sum, with 0 kept as 0 (callers map UDP's 0 to 0xffff). */
export function checksumOf(data: Uint8Array, start: number, end: number, initial = 0): number {
  return ~onesSum(data, start, end, initial) & 0xffff;
}

/**
 * The pseudo-header sum of an L4 segment: addresses, protocol and segment length. `ipStart` is the
 * IP header's offset; v4 addresses are at +12/+16, v6 at +8/+24.
 */
export function pseudoHeaderSum(data: Uint8Array, ipStart: number, version: 4 | 6, proto: number, l4Length: number): number {
  let sum = version === 4 ? onesSum(data, ipStart + 12, ipStart + 20) : onesSum(data, ipStart + 8, ipStart + 40);
  sum += proto + (l4Length & 0xffff) + Math.floor(l4Length / 0x10000);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}
