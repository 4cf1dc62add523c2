// What nmreplay says about a run is what happened: passes made, empty or foreign input refused
// before anything is sent, and a missed rate explained by its real cause. Real pipes, real files,
// a real receiver (nmcap in its own process).
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PcapWriter, encodePcapHeader, openSink } from '../../src/pcap/index.js';
import { Replay, type ReplayOptions, type ReplayResult } from '../../src/replay/replay.js';
import { shortfall } from '../../src/cli/nmreplay.js';
import { pipeName, run, start, tempDir } from '../helpers/cli.js';

const tmp = tempDir();
let ten: string; // 10 packets, 1 ms apart

beforeAll(async () => {
  ten = tmp.path('ten.pcap');
  const w = new PcapWriter(openSink(ten), { linkType: 1, snapLen: 65535 });
  for (let i = 0; i < 10; i++) {
    const d = Buffer.alloc(60, i);
    d.writeUInt32BE(i, 14);
    w.writePacket({ ts: 1_700_000_000_000_000_000n + BigInt(i) * 1_000_000n, data: d });
  }
  await w.close();
});

afterAll(() => tmp.cleanup());

/** A replay through the API into a pipe drained by nmcap (to /dev/null); nmcap's JSON too. */
async function replayToPipe(opts: Omit<ReplayOptions, 'port'>): Promise<{ r: ReplayResult; captured: number }> {
  const name = pipeName('h');
  const cap = start('nmcap', ['-i', `pipe:${name}}0`, '-w', '/dev/null', '--json']);
  await cap.waitFor(/^listening on/);
  const r = await new Replay({ port: `pipe:${name}{0`, ...opts }).run();
  const c = await cap.done;
  expect(c.code, c.stderr).toBe(0);
  return { r, captured: JSON.parse(c.stdout).captured };
}

describe('passes actually made', () => {
  it('streamed, --loop 0 with a limit: the passes completed, not the count asked for', async () => {
    const { r, captured } = await replayToPipe({ files: [ten], topspeed: true, loop: 0, limit: 25, preload: false });
    expect(r).toMatchObject({ packets: 25, reason: 'limit', inMemory: false, loops: 2 });
    expect(captured).toBe(25);
  });

  it('streamed, --loop 3 to the end: three passes', async () => {
    const { r, captured } = await replayToPipe({ files: [ten, ten], topspeed: true, loop: 3, preload: false });
    expect(r).toMatchObject({ packets: 60, reason: 'done', loops: 3 });
    expect(captured).toBe(60);
  });

  it('a small looped trace is kept in memory by itself (no -K), and counts its passes', async () => {
    const { r, captured } = await replayToPipe({ files: [ten], topspeed: true, loop: 0, limit: 300_000 });
    expect(r).toMatchObject({ packets: 300_000, reason: 'limit', inMemory: true, loops: 30_000 });
    expect(captured).toBe(300_000);
  });

  it('a single pass streams (nothing to gain from memory)', async () => {
    const { r } = await replayToPipe({ files: [ten], topspeed: true });
    expect(r).toMatchObject({ packets: 10, inMemory: false, loops: 1 });
  });
});

describe('input that holds nothing to send', () => {
  it('a trace with no packets, or a file that is not a trace: one error line, exit 1, nothing sent', async () => {
    const empty = tmp.path('empty.pcap');
    writeFileSync(empty, encodePcapHeader({ linkType: 1, snapLen: 65535 }));
    const junk = tmp.path('junk.pcap');
    writeFileSync(junk, 'hello, this is not a capture file\n');
    for (const [file, want] of [
      [empty, /^nmreplay: .*empty\.pcap: no packets to send/],
      [junk, /^nmreplay: .*junk\.pcap: not a pcap or pcapng file/],
    ] as const) {
      for (const extra of [[], ['-K'], ['-l', '0']]) {
        // No receiver: nothing may be sent, so nothing waits for one.
        const r = await run('nmreplay', ['-i', `pipe:${pipeName('e')}{0`, ...extra, file]);
        expect(r.code, r.stderr).toBe(1);
        const lines = r.stderr.trim().split('\n');
        expect(lines, r.stderr).toHaveLength(1);
        expect(lines[0]).toMatch(want);
        expect(r.stderr).not.toMatch(/packets \(\d+ bytes\) sent/);
      }
    }
  });
});

describe('why a rate was missed', () => {
  const base: ReplayResult = {
    packets: 10, bytes: 600, seconds: 0.00002, pps: 0, bps: 0, failed: 0, truncated: 0, pending: 0, queued: 10,
    reason: 'done', port: 'pipe:x{0', backend: 'pipe', mode: 'pps', target: 10e6, pacedRate: 5e6,
    bursts: { syncs: 2, max: 8, mean: 5 }, departure: null, loops: 1, inputWaits: 0, ringFullWaits: 0,
    ringFullSeconds: 0, senderCpuSeconds: 0.00002, preemptions: 0, inMemory: true, warnings: [],
    unconvertible: 0, queuedBytes: 600, syncs: 2, burstMax: 8, loopsDone: 1, ringFullNs: 0, sendNs: 20000, durationNs: 20000, threadCpuNs: 20000, waitCpuNs: 0, sleepCpuNs: 0,
    emuDropped: 0, sender: { tid: 1, policy: 'SCHED_OTHER', priority: 0, cpus: [0], realtimeError: null, cpuError: null }, rings: [],
  };

  it('a short trace: start-up, not per-packet cost', () => {
    const why = shortfall(base)!;
    expect(why).toMatch(/too short to hold a rate \(10 packets/);
    expect(why).not.toMatch(/per-packet cost/);
  });

  it('a full port, a slow reader, a busy machine, or the sender itself, each named as such', () => {
    const long = { ...base, packets: 2e6, queued: 2e6, seconds: 0.4, pacedRate: 5e6 };
    expect(shortfall({ ...long, ringFullSeconds: 0.2 })).toMatch(/port was full for 50%/);
    expect(shortfall({ ...long, inputWaits: 50, senderCpuSeconds: 0.4 })).toMatch(/waited 50 times for the trace/);
    expect(shortfall({ ...long, senderCpuSeconds: 0.1, preemptions: 900 })).toMatch(/CPU for only 25% .*900 times: the machine is busy/);
    expect(shortfall({ ...long, senderCpuSeconds: 0.4 })).toMatch(/per-packet cost .*200 ns of CPU per packet/);
    expect(shortfall({ ...long, pacedRate: 9.95e6 })).toBeUndefined();
  });
});
