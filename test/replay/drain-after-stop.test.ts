// After a stop (Ctrl-C), nmreplay waits for what it already queued, but only so long: 2 s by
// default, --drain-timeout S when given. The reader here is a pipe end that is open and never
// reads, so nothing can ever drain; the replay (looping forever, so it is still sending when
// stopped) must end after about that bound with 130 and say how many packets never left.
// Only lower bounds on the time are asserted: a slow host makes the wait longer, never shorter.
import { describe, expect, it } from 'vitest';

import { native } from '../../src/ports/binding.js';
import { pipeName, start } from '../helpers/cli.js';
import { cleanupAfterEach } from '../helpers/cleanup.js';

const TRACE = new URL('../fixtures/demo.pcapng', import.meta.url).pathname;
const { opened, children } = cleanupAfterEach();

/**
 * Replays into a pipe whose reader never reads, stops it once it waits, and times the end. With
 * `loop` the trace never ends (the stop comes while sending, the ring full); without, the whole
 * trace fits the ring and the stop comes while the replay waits for it to drain.
 */
async function stoppedWhileStuck(extra: string[], loop = true): Promise<{ code: number | null; stderr: string; afterStopMs: number; json: { pending: number; queued: number; packets: number; reason: string } }> {
  const name = pipeName('ds');
  opened.push(new native.Port(`pipe:${name}}0`, {})); // open, never read
  const rep = start('nmreplay', ['-i', `pipe:${name}{0`, '-t', ...(loop ? ['-l', '0'] : []), '--json', ...extra, TRACE]);
  children.push(rep.child);
  // The ring is full and nothing moves: the sender says so after a second (an event, not a sleep).
  await rep.waitFor(/^nmreplay: waiting for a reader/, 20_000);
  const stoppedAt = performance.now();
  rep.child.kill('SIGINT');
  const r = await rep.done;
  return { code: r.code, stderr: r.stderr, afterStopMs: performance.now() - stoppedAt, json: JSON.parse(r.stdout) };
}

describe('the wait for pending packets after a stop', () => {
  it('follows --drain-timeout: ends no sooner than about S s after SIGINT, exit 130, the pending packets said', async () => {
    const r = await stoppedWhileStuck(['--drain-timeout', '5']);
    expect(r.code, r.stderr).toBe(130);
    expect(r.afterStopMs, r.stderr).toBeGreaterThan(4_000); // the old fixed 2 s bound ends at ~2 s
    expect(r.json.reason).toBe('stopped');
    expect(r.json.pending).toBeGreaterThan(0);
    expect(r.json.pending).toBe(r.json.queued - r.json.packets);
    expect(r.stderr).toMatch(new RegExp(`^\\s*Never left \\(pending\\):\\s+${r.json.pending}$`, 'm'));
  });

  it('is 2 s without --drain-timeout', async () => {
    const r = await stoppedWhileStuck([]);
    expect(r.code, r.stderr).toBe(130);
    expect(r.afterStopMs, r.stderr).toBeGreaterThan(1_500);
    expect(r.json.pending).toBeGreaterThan(0);
    expect(r.stderr).toMatch(new RegExp(`^\\s*Never left \\(pending\\):\\s+${r.json.pending}$`, 'm'));
  });

  it('stopped while already waiting for the drain: the bound counts from the stop, not from the last progress', async () => {
    // 1 s without progress has passed when the waiting line comes; the stop's 4 s start then.
    const r = await stoppedWhileStuck(['--drain-timeout', '4'], false);
    expect(r.code, r.stderr).toBe(130);
    expect(r.afterStopMs, r.stderr).toBeGreaterThan(3_500);
    // The trace had ended before the stop, so the run's reason stays 'done'; the signal gives 130.
    expect(r.json).toMatchObject({ reason: 'done', packets: 0, pending: 218, queued: 218 });
    expect(r.stderr).toMatch(/^\s*Never left \(pending\):\s+218$/m);
    expect(r.stderr).not.toMatch(/gave up after/); // the stop ended the wait, not the idle rule
  });
});
