// One definition per counter: the keys of the objects the addon really hands over (a capture and a
// replay over a pipe, a port's counters) are exactly the counters of src/counters.ts plus the
// event's non-counter fields; results and --json carry the same keys.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Capture } from '../../src/capture/capture.js';
import { CAPTURE_COUNTERS, PORT_COUNTERS, REPLAY_COUNTERS, countersOf } from '../../src/counters.js';
import { readPacketsSync } from '../../src/pcap/index.js';
import { native, type CaptureEndEvent, type ReplayEndEvent } from '../../src/ports/binding.js';
import { Replay } from '../../src/replay/replay.js';
import { pipeName, run, start, tempDir } from '../helpers/cli.js';

const demo = new URL('../fixtures/demo.pcapng', import.meta.url).pathname;
const tmp = tempDir();

const natives = (t: readonly { native: string }[]): string[] => t.map((c) => c.native).sort();
const keys = (t: readonly { key: string }[]): string[] => t.map((c) => c.key);

describe('counter tables', () => {
  it('each table names each key once', () => {
    for (const t of [CAPTURE_COUNTERS, REPLAY_COUNTERS, PORT_COUNTERS]) {
      expect(new Set(keys(t)).size).toBe(t.length);
      expect(new Set(natives(t)).size).toBe(t.length);
    }
  });

  it("match the keys of a port's counters()", () => {
    const port = new native.Port(`pipe:${pipeName('k')}{0`);
    try {
      const c = port.counters();
      expect(Object.keys(c).sort()).toEqual(natives(PORT_COUNTERS));
      for (const v of Object.values(countersOf(PORT_COUNTERS, c))) expect(v === null || Number.isInteger(v)).toBe(true);
    } finally {
      port.close();
    }
  });

  it('match the keys of the native capture and replay end events, and the results carry them', async () => {
    const name = pipeName('k');
    let captureEnd: CaptureEndEvent | undefined;
    let replayEnd: ReplayEndEvent | undefined;
    // Seen as the addon hands them over: wrap the session constructors' callbacks.
    const Cap = native.CaptureSession;
    const Rep = native.ReplaySession;
    const spy = native as { CaptureSession: unknown; ReplaySession: unknown };
    spy.CaptureSession = function (p: never, c: never, cb: (k: string, e: unknown) => void) {
      return new Cap(p, c, ((k: string, e: unknown) => {
        if (k === 'end') captureEnd = e as CaptureEndEvent;
        cb(k, e);
      }) as never);
    };
    spy.ReplaySession = function (p: never, c: never, cb: (k: string, e: unknown) => void) {
      return new Rep(p, c, (k, e) => {
        if (k === 'end') replayEnd = e as ReplayEndEvent;
        cb(k, e);
      });
    };
    try {
      const capture = new Capture({ port: `pipe:${name}}0`, output: tmp.path('k.pcapng') });
      const captured = capture.run();
      const sent = await new Replay({ port: `pipe:${name}{0`, files: [demo], topspeed: true }).run();
      const got = await captured;
      const want = readPacketsSync(readFileSync(demo)).length;
      expect(sent.packets).toBe(want);
      expect(got.captured).toBe(want);

      const captureFields = ['reason', 'code', 'message', 'firstTsNs', 'lastTsNs'];
      expect(Object.keys(captureEnd!).sort()).toEqual([...natives(CAPTURE_COUNTERS), ...captureFields].sort());
      const replayFields = ['reason', 'code', 'message', 'departure', 'sender'];
      expect(Object.keys(replayEnd!).sort()).toEqual([...natives(REPLAY_COUNTERS), ...replayFields].sort());
      for (const k of keys(CAPTURE_COUNTERS)) expect(got, k).toHaveProperty(k);
      for (const k of keys(REPLAY_COUNTERS)) expect(sent, k).toHaveProperty(k);
    } finally {
      spy.CaptureSession = Cap;
      spy.ReplaySession = Rep;
    }
  });

  it('--json of both tools carries every counter under its table key', async () => {
    const name = pipeName('k');
    const c = start('nmcap', ['-i', `pipe:${name}}0`, '-w', tmp.path('j.pcapng'), '--json']);
    await c.waitFor(/^listening on/);
    const rep = await run('nmreplay', ['-i', `pipe:${name}{0`, '-t', '--json', demo]);
    const cap = await c.done;
    expect(rep.code, rep.stderr).toBe(0);
    expect(cap.code, cap.stderr).toBe(0);
    const cj = JSON.parse(cap.stdout) as Record<string, unknown>;
    const rj = JSON.parse(rep.stdout) as Record<string, unknown>;
    for (const k of keys(CAPTURE_COUNTERS)) expect(cj, k).toHaveProperty(k);
    for (const k of keys(REPLAY_COUNTERS)) expect(rj, k).toHaveProperty(k);
    expect(cj['received']).toBe(rj['packets']);
  });
});
