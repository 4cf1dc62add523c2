// --realtime and --cpu N: the sending thread really gets SCHED_FIFO and its CPU (read back by the
// thread from the kernel and reported in --json, and seen from outside in /proc/PID/task/TID/stat
// while it runs); where SCHED_FIFO is not permitted, one line says why and the run goes on; a bad
// CPU is a usage error.
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allowedCpus } from '../../src/replay/sender-cpus.js';
import { numberedTrace } from '../helpers/numbered-trace.js';
import { pipeName, run, start, tempDir } from '../helpers/cli.js';

const tmp = tempDir();
let trace: string;
const isRoot = process.getuid?.() === 0;
const cpus = allowedCpus() ?? [];
const lastCpu = cpus[cpus.length - 1] ?? 0;

beforeAll(async () => {
  trace = await numberedTrace(tmp.path('small.pcap'), 100);
});

afterAll(() => tmp.cleanup());

/** nmreplay into a pipe drained by nmcap; `prefix` wraps nmreplay (prlimit, setpriv). */
async function replay(args: string[], prefix: string[] = []) {
  const name = pipeName('st');
  const cap = start('nmcap', ['-i', `pipe:${name}}0`, '-w', '/dev/null', '-q']);
  await cap.waitFor(/^listening on/);
  const r = await run('nmreplay', ['-i', `pipe:${name}{0`, trace, '--json', ...args], { prefix });
  await cap.done;
  return { ...r, json: r.code === 0 ? JSON.parse(r.stdout) : undefined };
}

/** Fields of /proc/PID/task/TID/stat, numbered as proc(5) numbers them (1 = pid). */
function taskStat(pid: number, tid: string): string[] | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    const close = s.lastIndexOf(')');
    return ['', s.slice(0, s.indexOf(' ')), s.slice(s.indexOf('(') + 1, close), ...s.slice(close + 2).trim().split(' ')];
  } catch {
    return undefined; // the thread ended meanwhile
  }
}

describe('--realtime and --cpu', () => {
  it.skipIf(!isRoot || cpus.length < 2)('the sending thread runs SCHED_FIFO on the CPU asked for (needs root and 2 CPUs)', async () => {
    const r = await replay(['-t', '--realtime', '--cpu', String(lastCpu)]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.sender).toMatchObject({ policy: 'SCHED_FIFO', priority: 40, cpus: [lastCpu], realtimeError: null, cpuError: null });
    expect(r.json.packets).toBe(100);
    expect(r.stderr).not.toMatch(/not permitted/);
    // The kernel's real-time throttling, as /proc says it is now, is named when it is on.
    const runtime = Number(readFileSync('/proc/sys/kernel/sched_rt_runtime_us', 'utf8'));
    const period = Number(readFileSync('/proc/sys/kernel/sched_rt_period_us', 'utf8'));
    const line = /^nmreplay: --realtime: the kernel throttles real-time threads to (\d+) us of every (\d+) us .*sched_rt_runtime_us=-1/m.exec(r.stderr);
    if (runtime >= 0 && runtime < period) expect(line?.slice(1, 3).map(Number)).toEqual([runtime, period]);
    else expect(line).toBeNull();
  });

  it.skipIf(!isRoot || cpus.length < 2)('seen from outside while it runs: /proc/PID/task/TID/stat says policy 1 (FIFO) and the CPU', async () => {
    const name = pipeName('sx');
    const cap = start('nmcap', ['-i', `pipe:${name}}0`, '-w', '/dev/null', '-q']);
    await cap.waitFor(/^listening on/);
    const rep = start('nmreplay', ['-i', `pipe:${name}{0`, trace, '--rate', '2000', '-l', '0', '--realtime', '--cpu', String(lastCpu), '--json']);
    await rep.waitFor(/sending on/);
    const pid = rep.child.pid!;
    let found: string[] | undefined;
    for (let tries = 0; !found && tries < 500; tries++) {
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        const f = taskStat(pid, tid);
        if (f?.[41] === '1') found = f; // policy SCHED_FIFO: the sending thread, once it has placed itself
      }
      if (!found) await new Promise((r) => setTimeout(r, 10)); // between looks only
    }
    rep.child.kill('SIGINT');
    const done = await rep.done;
    await cap.done;
    expect(found, 'no thread of nmreplay ran SCHED_FIFO').toBeDefined();
    expect(found![40]).toBe('40'); // rt_priority
    expect(found![39]).toBe(String(lastCpu)); // the CPU it last ran on
    const json = JSON.parse(done.stdout);
    expect(json.sender.tid).toBe(Number(found![1]));
    expect(done.code).toBe(130);
  });

  it.skipIf(!isRoot)('where SCHED_FIFO is not permitted: one line saying why and what to do, and the run goes on', async () => {
    // Root without CAP_SYS_NICE (dropped from the bounding set, so the exec loses it) and with no real-time priority allowed.
    const r = await replay(['-t', '--realtime'], ['prlimit', '--rtprio=0', 'setpriv', '--bounding-set', '-sys_nice']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stderr.split('\n').filter((l) => /--realtime/.test(l));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^nmreplay: --realtime: SCHED_FIFO is not permitted here .*CAP_SYS_NICE.*ulimit -r.*sending with normal scheduling$/);
    expect(r.json.sender.policy).toBe('SCHED_OTHER');
    expect(r.json.sender.realtimeError).toBe(lines[0]!.slice('nmreplay: '.length));
    expect(r.json.packets).toBe(100);
  });

  it('--cpu alone pins without changing the policy', async () => {
    const r = await replay(['-t', '--cpu', String(cpus[0] ?? 0)]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.sender).toMatchObject({ policy: 'SCHED_OTHER', cpus: [cpus[0] ?? 0] });
  });

  it('a CPU this process may not run on, or no CPU number at all, is a usage error (exit 2, one line)', async () => {
    for (const bad of ['4096', '-1', 'one', '1.5']) {
      const r = await run('nmreplay', ['-i', 'pipe:nobody{0', trace, '--cpu', bad]);
      expect(r.code, `${bad}: ${r.stderr}`).toBe(2);
      expect(r.stderr.trim().split('\n'), bad).toHaveLength(1);
      expect(r.stderr, bad).toMatch(bad === 'one' || bad === '-1' ? /^nmreplay: --cpu needs a number/ : /^nmreplay: --cpu .*: give a CPU this process may run on \(/);
    }
  });
});
