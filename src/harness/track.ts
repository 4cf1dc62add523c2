// Sent-to-received accounting: for every packet sent, where it was delivered, whether it was
// dropped, duplicated or reordered, and its latency. A captured packet is tied to the packet it
// came from by its payload tag (tag.ts); when the payload was rewritten and the tag is gone, by a
// hash of header fields a forwarder leaves alone (addresses, protocol, IP id, ports, TCP seq,
// ICMP id/seq), taking the first sent packet with that hash not yet seen on that port.
import { layoutOf, locate, readField } from './decode.js';
import type { Captures } from './match.js';
import { nonDecreasingRun } from './order.js';
import { findTag } from './tag.js';

export interface SentPacket {
  data: Uint8Array;
  /** when it was handed to the port (ns since the epoch), or null */
  ts: bigint | null;
}

export interface Delivery {
  port: string;
  /** index in that port's capture */
  index: number;
  /** capture time minus send time, when both sides have a timestamp */
  latencyNs: bigint | null;
  /** how the captured packet was tied to the sent one */
  by: 'tag' | 'hash';
  reordered: boolean;
}

export interface PacketFate {
  /** index in the sent list */
  sent: number;
  deliveries: Delivery[];
  dropped: boolean;
  /** delivered more than once on some port */
  duplicated: boolean;
  reordered: boolean;
}

export interface DeliveryReport {
  packets: PacketFate[];
  sent: number;
  delivered: number;
  dropped: number;
  duplicated: number;
  reordered: number;
  /** captured packets that came from no sent packet */
  unknown: { port: string; index: number }[];
  /** min/median/max latency over first deliveries, null when no timestamps */
  latencyNs: { min: bigint; p50: bigint; max: bigint } | null;
}

export const DEFAULT_HASH_FIELDS = ['ip.src', 'ip.dst', 'ip.proto', 'ip.id', 'l4.sport', 'l4.dport', 'tcp.seq', 'icmp.id', 'icmp.seq'] as const;

/** The identity of a packet for the hash fallback: the named fields' values, or the whole frame when it is not IP. */
export function identityKey(d: Uint8Array, fields: readonly string[] = DEFAULT_HASH_FIELDS): string {
  const L = layoutOf(d);
  if (L.ipVersion === 0) return Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString('latin1');
  const parts: string[] = [];
  for (const f of fields) {
    const loc = locate(f, L, d);
    parts.push(loc === null ? '' : String(readField(d, loc)));
  }
  return parts.join('|');
}

export function trackDeliveries(sent: readonly SentPacket[], captures: Captures, opts: { hashFields?: readonly string[] } = {}): DeliveryReport {
  const byTag = new Map<string, number>();
  const byHash = new Map<string, number[]>();
  sent.forEach((s, i) => {
    const t = findTag(s.data, layoutOf(s.data).payloadOff);
    if (t !== null) byTag.set(`${t.stream}/${t.seq}`, i);
    const h = identityKey(s.data, opts.hashFields);
    (byHash.get(h) ?? byHash.set(h, []).get(h)!).push(i);
  });
  const fates: PacketFate[] = sent.map((_, i) => ({ sent: i, deliveries: [], dropped: false, duplicated: false, reordered: false }));
  const unknown: { port: string; index: number }[] = [];
  for (const [port, list] of Object.entries(captures)) {
    const seenHere = new Set<number>();
    const order: { sent: number; d: Delivery }[] = [];
    list.forEach((c, index) => {
      const t = findTag(c.data, layoutOf(c.data).payloadOff);
      let i = t !== null ? (byTag.get(`${t.stream}/${t.seq}`) ?? -1) : -1;
      let by: Delivery['by'] = 'tag';
      if (i < 0 && t === null) {
        const cands = byHash.get(identityKey(c.data, opts.hashFields));
        // The first candidate not yet delivered here; if all were, the first one again (a duplicate).
        i = cands?.find((x) => !seenHere.has(x)) ?? cands?.[0] ?? -1;
        by = 'hash';
      }
      if (i < 0) {
        unknown.push({ port, index });
        return;
      }
      const s = sent[i]!;
      const d: Delivery = { port, index, latencyNs: s.ts !== null && c.ts !== null ? c.ts - s.ts : null, by, reordered: false };
      if (seenHere.has(i)) fates[i]!.duplicated = true;
      seenHere.add(i);
      fates[i]!.deliveries.push(d);
      order.push({ sent: i, d });
    });
    // Reordering among first deliveries on this port.
    const firstSeen = new Set<number>();
    const firsts = order.filter((o) => !firstSeen.has(o.sent) && firstSeen.add(o.sent) !== undefined);
    const keep = nonDecreasingRun(firsts.map((o) => o.sent));
    firsts.forEach((o, j) => {
      if (!keep[j]) {
        o.d.reordered = true;
        fates[o.sent]!.reordered = true;
      }
    });
  }
  for (const f of fates) f.dropped = f.deliveries.length === 0;
  const lat = fates.flatMap((f) => (f.deliveries[0]?.latencyNs !== null && f.deliveries[0] ? [f.deliveries[0].latencyNs!] : [])).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return {
    packets: fates,
    sent: sent.length,
    delivered: fates.filter((f) => !f.dropped).length,
    dropped: fates.filter((f) => f.dropped).length,
    duplicated: fates.filter((f) => f.duplicated).length,
    reordered: fates.filter((f) => f.reordered).length,
    unknown,
    latencyNs: lat.length === 0 ? null : { min: lat[0]!, p50: lat[lat.length >> 1]!, max: lat[lat.length - 1]! },
  };
}
