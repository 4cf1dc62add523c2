// How much slower this host is than the machine the suite's time limits were written on. Every
// limit in the suite is a safety net that only a broken test reaches (tests wait on events: a line
// from a child, a count, a file reaching N packets); it must not fire on a host that is merely slow
// (the suite also runs on an emulated netmap kernel where node takes ~3 s to start), yet a broken
// test must still fail rather than hang. So each limit is written for this machine and multiplied
// by one factor, measured once per run: how long `node -e 0` takes to spawn here, against the
// ~50 ms it takes on the 2-core development VM. vitest.config.ts measures it and puts it in the
// environment, so test workers and every child process they start (which inherit it) agree.
// Plain JavaScript so that the child scripts under test/*/scripts can use it too.
import { spawnSync } from 'node:child_process';

/** The environment variable carrying the factor; set it to force one (e.g. on a known slow host). */
export const SLOWNESS_ENV = 'NMCAP_TEST_SLOWNESS';

/** `node -e 0`, spawned, on the machine the limits were written on (ms). */
const NODE_START_MS = 50;

/** Spawns `node -e 0` up to three times and returns the median time over NODE_START_MS (at least 1). */
export function measureSlowness() {
  const times = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    spawnSync(process.execPath, ['-e', '0'], { stdio: 'ignore' });
    times.push(performance.now() - t0);
    if (times[0] > 20 * NODE_START_MS) break; // unmistakably slow: one sample says enough
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  return Math.max(1, Math.round((median / NODE_START_MS) * 10) / 10);
}

/** The factor of this run: from the environment, else measured now (and put there for children). */
export function slowness() {
  const given = Number(process.env[SLOWNESS_ENV]);
  if (Number.isFinite(given) && given >= 1) return given;
  const measured = measureSlowness();
  process.env[SLOWNESS_ENV] = String(measured);
  return measured;
}

/** A safety limit written for the development machine (ms), scaled to this host. */
export function scaled(ms) {
  return Math.ceil(ms * slowness());
}

/** Resolves once `cond()` holds, checking every `everyMs`; rejects with `what` after the scaled `ms`. */
export async function eventually(cond, what, ms = 10_000, everyMs = 20) {
  const deadline = Date.now() + scaled(ms);
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
