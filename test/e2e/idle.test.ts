// Idle waiting does not spin the CPU: a capture with nothing to read, and a replay whose peer's
// ring is full, both sleep (eventfd/socket wake-ups), measured as CPU time from /proc.
import { readFileSync } from 'node:fs';
import { afterAll, expect, it } from 'vitest';
import { pipeName, start, tempDir, untilCount } from '../helpers/cli.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());
const demo = new URL('../fixtures/demo.pcapng', import.meta.url).pathname;
const TICK = 100; // USER_HZ: /proc/PID/stat counts CPU time in 1/100 s

/** user + system CPU seconds of a process and its threads so far */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / TICK;
}

/**
 * CPU seconds used in the quieter of two back-to-back windows of `seconds` each: a spinning thread
 * burns most of both, a sleeping one next to nothing in at least one, whatever start-up work (JIT,
 * GC, a slow machine) is left over in the first. No fixed wait for start-up to be over.
 */
async function idleCpu(pid: number, seconds: number): Promise<number> {
  const used: number[] = [];
  for (let w = 0; w < 2; w++) {
    const before = cpuSeconds(pid);
    await new Promise((r) => setTimeout(r, seconds * 1000));
    used.push(cpuSeconds(pid) - before);
  }
  return Math.min(...used);
}

it('a capture waiting for packets sleeps', async () => {
  const c = start('nmcap', ['-i', `pipe:${pipeName()}}0`, '-w', tmp.path('idle.pcapng')]);
  await c.waitFor(/^listening on/);
  const used = await idleCpu(c.child.pid!, 0.75);
  c.child.kill('SIGINT');
  await c.done;
  expect(used).toBeLessThan(0.075); // a spinning thread would use ~0.75 s
});

it.each([['streaming', []], ['preloaded', ['-K']]])('a replay (%s) whose peer does not read sleeps once the ring is full', async (_, extra) => {
  const name = pipeName();
  // The receiver opens the pipe and never reads: the sender fills the ring, then must wait.
  const hold = start(process.execPath, [new URL('../ports/scripts/pipe-peer.mjs', import.meta.url).pathname, `pipe:${name}}0`, 'hold']);
  await new Promise((resolve) => hold.child.stdout!.once('data', resolve)); // 'open'
  const r = start('nmreplay', ['-i', `pipe:${name}{0`, '-t', '-l', '0', ...(extra as string[]), demo]);
  await r.waitFor(/^nmreplay: sending on/); // its SIGUSR1 handler is in place
  await untilCount(r, /^nmreplay: progress: \d+ packets sent, (\d+) queued/, 4095); // the ring is full
  const used = await idleCpu(r.child.pid!, 0.75);
  r.child.kill('SIGINT');
  hold.child.kill('SIGKILL');
  await r.done;
  expect(used).toBeLessThan(0.075);
});
