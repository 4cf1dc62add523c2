// A per-test artifact: one pcapng with three interfaces per port ("PORT sent", "PORT received",
// "PORT unmatched"), so a failure opens in Wireshark. Received packets carry their verdict as an
// EPB comment; the unmatched interface holds missing expected packets and the extra or changed
// captured ones, each with a comment saying what it is.
import { closeSync, openSync } from 'node:fs';
import { PcapngWriter, openSink } from '../pcap/index.js';
import type { Captures, MatchResult } from './match.js';
import type { SentPacket } from './track.js';

export interface ArtifactInput {
  /** packets sent, by the port they were sent on */
  sent?: Readonly<Record<string, readonly SentPacket[]>>;
  captures: Captures;
  result?: MatchResult;
  /** expected packets by expectation index (defaults to none), for the missing ones */
  expected?: readonly Uint8Array[];
  /** a timestamp for packets that have none (missing expected ones): default now */
  ts?: bigint;
  comment?: string;
}

export async function writeArtifact(path: string, a: ArtifactInput): Promise<void> {
  // Captured traffic is private: created 0600 like every capture file nmcap writes.
  const fd = openSync(path, 'w', 0o600);
  try {
    await writeTo(fd, a);
  } finally {
    closeSync(fd);
  }
}

async function writeTo(fd: number, a: ArtifactInput): Promise<void> {
  const w = new PcapngWriter(openSink(fd), { userAppl: 'nmcap harness', comments: a.comment ? [a.comment] : [] });
  const now = a.ts ?? BigInt(Date.now()) * 1_000_000n;
  const ports = [...new Set([...Object.keys(a.sent ?? {}), ...Object.keys(a.captures), ...Object.keys(a.result?.ports ?? {})])];
  const snapLen = 262144;
  for (const p of ports) {
    const sentIf = w.addInterface({ linkType: 1, snapLen, name: `${p} sent`, description: `packets the harness sent on ${p}` });
    const recvIf = w.addInterface({ linkType: 1, snapLen, name: `${p} received`, description: `packets captured on ${p}, in arrival order` });
    const unIf = w.addInterface({ linkType: 1, snapLen, name: `${p} unmatched`, description: `expected packets missing on ${p}, and captured packets that matched nothing` });
    for (const s of a.sent?.[p] ?? []) w.writePacket(sentIf, { ts: s.ts ?? now, data: s.data });
    const list = a.captures[p] ?? [];
    const st = a.result?.status[p];
    list.forEach((c, k) => {
      const verdict = st?.[k];
      w.writePacket(recvIf, { ts: c.ts ?? now, data: c.data, comments: verdict ? [verdict] : [] });
      if (verdict === 'extra' || verdict === 'changed') {
        const i = a.result!.matchedTo[p]![k]!;
        w.writePacket(unIf, { ts: c.ts ?? now, data: c.data, comments: [verdict === 'extra' ? `extra: packet ${k} matched no expectation` : `changed: packet ${k} stands for expectation ${i}`] });
      }
    });
    for (const f of a.result?.failures ?? []) {
      if (f.kind !== 'missing' || f.expected === undefined || !f.port.split('|').includes(p) || f.port.split('|')[0] !== p) continue;
      w.writePacket(unIf, { ts: now, data: f.expected, comments: [`missing: ${f.message}`] });
    }
  }
  await w.close();
}
