// A fixed packet rate without link emulation puts runs of due packets (native/loops/pacer.h
// Pacer::counts_due): the count of packets due by a clock reading, one division, and no deadline
// per packet; each burst's deadlines are stepped through at its sync for the departure errors.
// Pinned end to end through a pipe: every packet that left has a departure error, --duration
// stops at exactly the packets due before it, the rate never beats the schedule, and the CPU of
// port waits is reported apart from the sending thread's work (a part of it).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { numberedTrace } from '../helpers/numbered-trace.js';
import { pipeName, run, start, tempDir } from '../helpers/cli.js';

const tmp = tempDir();
let trace: string; // 2000 packets of 100 bytes

beforeAll(async () => {
  trace = await numberedTrace(tmp.path('numbered.pcap'), 2000, 100);
});

afterAll(() => tmp.cleanup());

/** nmreplay --json into a pipe drained by nmcap -w /dev/null; nmreplay's JSON report and nmcap's. */
async function toPipe(args: string[]): Promise<{ rep: Record<string, any>; cap: Record<string, any> }> {
  const name = pipeName('dr');
  const cap = start('nmcap', ['-i', `pipe:${name}}0`, '-w', '/dev/null', '-q', '--json']);
  await cap.waitFor(/^listening on/);
  const r = await run('nmreplay', ['-i', `pipe:${name}{0`, trace, '--json', '-q', ...args]);
  const c = await cap.done;
  expect(r.code, r.stderr).toBe(0);
  expect(c.code, c.stderr).toBe(0);
  return { rep: JSON.parse(r.stdout), cap: JSON.parse(c.stdout) };
}

describe('runs of due packets at a fixed packet rate', () => {
  it('above the quantum rate (10 Mpps): every packet sent has a departure error, and the rate never beats the schedule', async () => {
    const { rep, cap } = await toPipe(['--rate', '10Mpps', '-l', '0', '-L', '200000']);
    expect(rep.queued).toBe(200_000);
    expect(rep.packets).toBe(200_000);
    expect(cap.received).toBe(200_000);
    expect(rep.departure.count).toBe(200_000);
    expect(rep.departure.p50Ns).toBeLessThanOrEqual(rep.departure.maxNs);
    // no packet leaves before its deadline: over the sending span the rate is at most the target
    expect(rep.pacedRate).toBeLessThanOrEqual(10_000_000 * 1.0001);
    expect(rep.waitCpuNs).toBeGreaterThanOrEqual(0);
    // above 4 Mpps the pacer sleeps between quanta (when it is ahead): their CPU is measured apart
    expect(rep.sleepCpuNs).toBeGreaterThanOrEqual(0);
    expect(rep.waitCpuNs + rep.sleepCpuNs).toBeLessThanOrEqual(rep.threadCpuNs);
  });

  it('below it (200 kpps): the same, packet by packet', async () => {
    const { rep } = await toPipe(['--rate', '200kpps', '-l', '0', '-L', '4000']);
    expect(rep.queued).toBe(4000);
    expect(rep.departure.count).toBe(4000);
    expect(rep.pacedRate).toBeLessThanOrEqual(200_000 * 1.0001);
    expect(rep.waitCpuNs).toBeLessThanOrEqual(rep.threadCpuNs);
    expect(rep.sleepCpuNs).toBe(0); // below 4 Mpps the pacer spins for each deadline: no sleeps between quanta
  });

  it('--duration: exactly the packets due before it leave (packet k is due at k x 10 us)', async () => {
    // 100 kpps for 50 ms: packets 0..4999 are due before 50 ms, packet 5000 at it
    const { rep } = await toPipe(['--rate', '100kpps', '-l', '0', '--duration', '0.05']);
    expect(rep.reason).toBe('duration');
    expect(rep.queued).toBe(5000);
    expect(rep.departure.count).toBe(5000);
  });

  it('--duration above the quantum rate stops at the same packet', async () => {
    // 5 Mpps for 20 ms: packet k is due at k x 200 ns, so 100000 packets are due before 20 ms
    const { rep } = await toPipe(['--rate', '5Mpps', '-l', '0', '--duration', '0.02']);
    expect(rep.reason).toBe('duration');
    expect(rep.queued).toBe(100_000);
  });
});
