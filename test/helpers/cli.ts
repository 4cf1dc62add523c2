// Running nmcap/nmreplay as users do: real processes, real exit codes, real stdout/stderr.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll } from 'vitest';

import { scaled } from './slowness.mjs';

export const BIN = {
  nmcap: new URL('../../bin/nmcap', import.meta.url).pathname,
  nmreplay: new URL('../../bin/nmreplay', import.meta.url).pathname,
};

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Running {
  child: ChildProcess;
  /** resolves when stderr has printed a line matching re; rejects if the process ends first, or
   * after timeoutMs (a safety net written for the development machine, scaled to this host) */
  waitFor(re: RegExp, timeoutMs?: number): Promise<string>;
  done: Promise<Finished>;
  stdout(): string;
  stderr(): string;
}

// Processes started here and still running. A test that fails or times out while waiting on
// one (a capture waiting for packets that never came) would leave it behind, holding its
// namespace, files and CPU for the rest of the suite: they are killed after the test file.
const running = new Set<ChildProcess>();
afterAll(() => {
  for (const c of running) c.kill('SIGKILL');
});

/** Start a command (node script or executable). `prefix` (e.g. ['ip','netns','exec',ns]) wraps it. */
export function start(cmd: keyof typeof BIN | string, args: string[], opts: SpawnOptions & { prefix?: string[] } = {}): Running {
  const file = cmd in BIN ? BIN[cmd as keyof typeof BIN] : cmd;
  const argv = cmd in BIN ? [process.execPath, file, ...args] : [file, ...args];
  const full = [...(opts.prefix ?? []), ...argv];
  const child = spawn(full[0]!, full.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  let out = '';
  let err = '';
  const watchers: { re: RegExp; resolve: (l: string) => void }[] = [];
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
    for (const w of [...watchers]) {
      const m = err.split('\n').find((l) => w.re.test(l));
      if (m !== undefined) {
        watchers.splice(watchers.indexOf(w), 1);
        w.resolve(m);
      }
    }
  });
  running.add(child);
  const done = new Promise<Finished>((resolve) => {
    child.on('close', (code, signal) => {
      running.delete(child);
      resolve({ code, signal, stdout: out, stderr: err });
    });
  });
  return {
    child,
    done,
    stdout: () => out,
    stderr: () => err,
    waitFor(re, timeoutMs = 10_000) {
      const m = err.split('\n').find((l) => re.test(l));
      if (m !== undefined) return Promise.resolve(m);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`timed out waiting for ${re} on stderr; got:\n${err}`)), scaled(timeoutMs));
        const w = {
          re,
          resolve: (l: string) => {
            clearTimeout(t);
            resolve(l);
          },
        };
        watchers.push(w);
        void done.then(() => {
          if (watchers.includes(w)) {
            clearTimeout(t);
            reject(new Error(`process ended before ${re} appeared on stderr:\n${err}`));
          }
        });
      });
    },
  };
}

export function run(cmd: keyof typeof BIN | string, args: string[], opts: SpawnOptions & { prefix?: string[] } = {}): Promise<Finished> {
  return start(cmd, args, opts).done;
}

/** A temporary directory, removed by the returned cleanup. */
export function tempDir(prefix = 'nmcap-test-'): { dir: string; path: (name: string) => string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, path: (n) => join(dir, n), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

let seq = 0;
/** A pipe name no other test uses. */
export function pipeName(tag = 'p'): string {
  return `${tag}${process.pid}n${seq++}`;
}

/** The counts nmcap and nmreplay print on SIGUSR1. */
export const SO_FAR = {
  nmcap: /^(\d+) packets? captured so far/,
  nmreplay: /^nmreplay: progress: (\d+) packets sent/,
};

/**
 * Sends SIGUSR1 to a running nmcap or nmreplay (it prints its statistics so far and goes on) and
 * resolves with the count of the line it prints (`re`'s first group).
 */
export async function askCount(r: Running, re: RegExp): Promise<number> {
  const matching = (): string[] => r.stderr().split('\n').filter((l) => re.test(l));
  const before = matching().length;
  r.child.kill('SIGUSR1');
  while (matching().length === before) {
    if (r.child.exitCode !== null || r.child.signalCode !== null) throw new Error(`process ended before answering SIGUSR1:\n${r.stderr()}`);
    await new Promise<void>((resolve) => {
      const wake = (): void => {
        r.child.stderr!.off('data', wake);
        r.child.off('exit', wake);
        resolve();
      };
      r.child.stderr!.on('data', wake);
      r.child.on('exit', wake);
    });
  }
  return Number(re.exec(matching()[before]!)![1]);
}

/** Asks (SIGUSR1) until the count reaches `n`: waits on the process's own progress, not on a clock. */
export async function untilCount(r: Running, re: RegExp, n: number): Promise<number> {
  for (;;) {
    const got = await askCount(r, re);
    if (got >= n) return got;
    await new Promise((resolve) => setTimeout(resolve, 20)); // between questions only, not a wait for an event
  }
}
