// The two sides' counts mean the same thing (README, "What the counts mean"): a replay of N
// packets through a pipe into a capture with -c M, M < N and M > N. The sender's "sent" is what
// the capture took from the rings, its "pending" what was still in the ring; the capture's
// "received" is what it took, its "unread" what it found in the rings and left. A pipe loses
// nothing on the way, so the sums close exactly.
import { afterAll, describe, expect, it } from 'vitest';

import { pipeName, run, start, tempDir } from '../helpers/cli.js';

const demo = new URL('../fixtures/demo.pcapng', import.meta.url).pathname;
const tmp = tempDir();
afterAll(() => tmp.cleanup());

type Json = Record<string, number | null | string>;

async function replayInto(count: number, sent: number): Promise<{ cap: Json; rep: Json; capErr: string; repCode: number | null }> {
  const name = pipeName('agree');
  const c = start('nmcap', ['-i', `pipe:${name}}0`, '-w', tmp.path(`${name}.pcapng`), '-c', String(count), '--json']);
  await c.waitFor(/^listening on/);
  const rep = await run('nmreplay', ['-i', `pipe:${name}{0`, '-t', '-l', '0', '-L', String(sent), '--json', demo]);
  const cap = await c.done;
  expect(cap.code, cap.stderr).toBe(0);
  return { cap: JSON.parse(cap.stdout) as Json, rep: JSON.parse(rep.stdout) as Json, capErr: cap.stderr, repCode: rep.code };
}

/** What holds on every run, whichever side ended it. */
function sumsClose(cap: Json, rep: Json): void {
  // The sender's sent is exactly what the capture took: nothing is lost in a pipe.
  expect(rep['packets']).toBe(cap['received']);
  expect(rep['failed']).toBe(0);
  expect(rep['queued']).toBe((rep['packets'] as number) + (rep['pending'] as number));
  // What the capture took: written, filtered or skipped.
  expect(cap['received']).toBe((cap['captured'] as number) + (cap['filtered'] as number) + (cap['invalid'] as number));
  // What reached its rings: taken or left unread, never more than the sender queued.
  expect(cap['dropped']).toBe(0);
  expect(cap['portReceived']).toBe((cap['received'] as number) + (cap['unread'] as number));
  expect(cap['portReceived'] as number).toBeLessThanOrEqual(rep['queued'] as number);
}

describe('sent and received agree through a pipe', () => {
  it('-c M below the N sent: M captured, M sent, the rest pending; the rest in the rings said as unread', async () => {
    const { cap, rep, capErr } = await replayInto(1000, 5000);
    sumsClose(cap, rep);
    expect(cap).toMatchObject({ captured: 1000, received: 1000, reason: 'count' });
    expect(rep).toMatchObject({ packets: 1000, reason: 'peer-closed' });
    expect(rep['pending'] as number).toBeGreaterThan(0);
    expect(rep['queued'] as number).toBeLessThanOrEqual(5000);
    expect(capErr).toMatch(/^1000 packets received \(taken from the rings\)$/m);
    if ((cap['unread'] as number) > 0) expect(capErr).toMatch(new RegExp(`^${cap['unread']} packets? left unread in the rings at the end$`, 'm'));
  });

  it('-c M above the N sent: all N captured, sent and received, nothing pending or unread', async () => {
    const { cap, rep, repCode } = await replayInto(8000, 5000);
    sumsClose(cap, rep);
    expect(repCode).toBe(0);
    expect(cap).toMatchObject({ captured: 5000, received: 5000, unread: 0, portReceived: 5000, reason: 'peer-closed' });
    expect(rep).toMatchObject({ packets: 5000, queued: 5000, pending: 0 });
  });
});
