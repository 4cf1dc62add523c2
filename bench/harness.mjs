// Shared pieces of the benchmarks: traces, timed processes (wall, user, sys, max RSS through
// /usr/bin/time), and printing results with ratios against the peer tools run in the same session.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statfsSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = new URL('..', import.meta.url).pathname;
export const BIN = { nmcap: join(ROOT, 'bin/nmcap'), nmreplay: join(ROOT, 'bin/nmreplay') };

/** A scratch directory on tmpfs when there is one (the benchmarks measure us, not the disk). */
export function scratch(tag) {
  const base = existsSync('/dev/shm') ? '/dev/shm' : '/tmp';
  const dir = mkdtempSync(join(base, `nmcap-bench-${tag}-`));
  return { dir, path: (n) => join(dir, n), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The file system the disk rows write to: BENCH_DISK_DIR, else /var/tmp. */
export const DISK_DIR = process.env.BENCH_DISK_DIR ?? '/var/tmp';

/** A scratch directory in DISK_DIR; `tmpfs` says whether that is a tmpfs after all (no disk there). */
export function diskScratch(tag) {
  const dir = mkdtempSync(join(DISK_DIR, `nmcap-bench-${tag}-`));
  const tmpfs = statfsSync(dir).type === 0x01021994; // TMPFS_MAGIC
  return { dir, tmpfs, path: (n) => join(dir, n), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A 64-byte (or `size`) Ethernet/IPv4/UDP frame with a valid IP header checksum, numbered `seq`. */
export function udpFrame(size = 64, seq = 0) {
  const frame = Buffer.alloc(size);
  Buffer.from([0x02, 0, 0, 0, 0, 0x0b, 0x02, 0, 0, 0, 0, 0x0a, 0x08, 0x00]).copy(frame, 0);
  const ipLen = size - 14;
  Buffer.from([0x45, 0, ipLen >> 8, ipLen & 0xff, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]).copy(frame, 14);
  let s = 0;
  for (let i = 0; i < 20; i += 2) s += frame.readUInt16BE(14 + i);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  frame.writeUInt16BE(~s & 0xffff, 24);
  frame.writeUInt16BE(9000, 34);
  frame.writeUInt16BE(9001, 36);
  frame.writeUInt16BE(ipLen - 20, 38);
  frame.writeUInt32BE(seq, 42);
  return frame;
}

/**
 * A classic pcap of `count` such frames of `size` bytes, numbered in the payload, 1 us apart,
 * written with src/pcap's encoders (dist/).
 */
export async function udpTrace(path, count, size = 64) {
  const { writeFileSync } = await import('node:fs');
  const { encodePcapHeader, encodePcapRecord } = await import('../dist/pcap/index.js');
  const parts = [encodePcapHeader({ linkType: 1, snapLen: 65535 })];
  const frame = udpFrame(size);
  const t0 = 1_767_225_600;
  for (let i = 0; i < count; i++) {
    frame.writeUInt32BE(i, 42);
    parts.push(encodePcapRecord(t0 + Math.floor(i / 1e6), i % 1e6, frame));
  }
  writeFileSync(path, Buffer.concat(parts));
  return path;
}

/** Starts a command under /usr/bin/time; `done` resolves with its output and resource use. */
export function startTimed(cmd, args, opts = {}) {
  const timeFile = join(opts.dir ?? '/tmp', `time-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const useNode = cmd in BIN;
  // Our tools run as a user runs them, through their launcher's #! line (with its Node flags).
  const argv = useNode ? [BIN[cmd], ...args] : [cmd, ...args];
  const full = [...(opts.prefix ?? []), '/usr/bin/time', '-f', '%e %U %S %M', '-o', timeFile, ...argv];
  const child = spawn(full[0], full.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const done = new Promise((resolve) => {
    child.on('close', (code) => {
      let wall = NaN, user = NaN, sys = NaN, rssKB = NaN;
      try {
        const last = readFileSync(timeFile, 'utf8').trim().split('\n').at(-1);
        [wall, user, sys, rssKB] = last.split(/\s+/).map(Number);
        rmSync(timeFile, { force: true });
      } catch {
        /* killed before time wrote */
      }
      resolve({ code, stdout, stderr, wall, user, sys, cpu: user + sys, rssKB });
    });
  });
  return {
    child,
    done,
    stderr: () => stderr,
    /** Signals the measured command itself: /usr/bin/time ignores SIGINT and SIGQUIT. */
    signal(sig) {
      for (const pid of childrenOf(child.pid)) {
        try {
          process.kill(pid, sig);
        } catch {
          /* gone */
        }
      }
    },
    async waitFor(re, ms = 15000) {
      const t0 = Date.now();
      while (!re.test(stderr)) {
        if (Date.now() - t0 > ms) throw new Error(`timeout waiting for ${re}: ${stderr}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
  };
}

function childrenOf(ppid) {
  const out = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === ppid) out.push(Number(d));
    } catch {
      /* raced with its exit */
    }
  }
  return out;
}

export function timed(cmd, args, opts) {
  return startTimed(cmd, args, opts).done;
}

export function have(tool) {
  return ['/usr/bin', '/usr/sbin', '/bin', '/sbin', '/usr/local/bin'].some((d) => existsSync(join(d, tool)));
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export const fmt = {
  mpps: (pps) => `${(pps / 1e6).toFixed(3)} Mpps`,
  kpps: (pps) => `${(pps / 1e3).toFixed(1)} kpps`,
  ns: (n) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} ms` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} µs` : `${Math.round(n)} ns`),
  s: (x) => `${x.toFixed(3)} s`,
  ratio: (a, b) => (b > 0 ? `${(a / b).toFixed(2)}x` : 'n/a'),
};

/** Prints a table of rows (arrays of cells), left-aligned first column. */
export function table(rows) {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)));
  for (const r of rows) {
    console.log('  ' + r.map((cell, c) => (c === 0 ? String(cell).padEnd(widths[c]) : String(cell).padStart(widths[c]))).join('  '));
  }
}

/** A target line: PASS/MISS with the numbers, never hiding a miss. */
export function verdict(label, ok, detail) {
  console.log(`  ${ok ? 'PASS' : 'MISS'}  ${label}: ${detail}`);
  return ok;
}

/**
 * A veth pair va/vb in a throwaway namespace (named after `tag` and the pid) for tcpreplay, root
 * only; null where it cannot run. `prefix` runs a command inside, `close` deletes the namespace.
 */
export function vethNamespace(tag) {
  if (process.getuid?.() !== 0 || !have('tcpreplay')) return null;
  const ns = `nmc${tag}${process.pid}`;
  const ip = (...args) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  ip('netns', 'add', ns);
  ip('-n', ns, 'link', 'add', 'va', 'type', 'veth', 'peer', 'name', 'vb');
  ip('-n', ns, 'link', 'set', 'va', 'up');
  ip('-n', ns, 'link', 'set', 'vb', 'up');
  return {
    prefix: ['ip', 'netns', 'exec', ns],
    close: () => {
      try {
        ip('netns', 'del', ns);
      } catch {
        /* gone */
      }
    },
  };
}

/** tcpreplay's own report: packets, seconds of sending, Mbps and pps. */
export function tcpreplayReport(out) {
  const rated = /Rated: [\d.]+ Bps, ([\d.]+) Mbps, ([\d.]+) pps/.exec(out);
  return {
    packets: Number(/Actual: (\d+) packets/.exec(out)?.[1] ?? NaN),
    seconds: Number(/Actual: \d+ packets \(\d+ bytes\) sent in ([\d.]+) seconds/.exec(out)?.[1] ?? NaN),
    mbps: Number(rated?.[1] ?? NaN),
    pps: Number(rated?.[2] ?? NaN),
  };
}

/**
 * `perf stat` attached to every thread of a running process, from now until stop(): what that
 * process really spent while attached, none of its start-up or shutdown. Counts task-clock (CPU
 * time, exact) and, where the CPU has a PMU (not in most VMs), cycles and instructions.
 * stop() resolves with { threads: [{ tid, name, cpuNs, cycles, instructions }], cpuNs, cycles,
 * instructions, pmu } (cycles/instructions null where perf says "not supported").
 */
export function perfStat(pid, dir = '/tmp') {
  const file = join(dir, `perf-${pid}-${Math.random().toString(36).slice(2)}.csv`);
  const child = spawn('perf', ['stat', '-x', ',', '--per-thread', '-e', 'task-clock,cycles,instructions', '-p', String(pid), '-o', file], { stdio: 'ignore' });
  const started = new Promise((r) => setTimeout(r, 100)); // perf has opened its counters by then
  return {
    started,
    async stop() {
      const closed = new Promise((r) => child.on('close', r));
      child.kill('SIGINT');
      await closed;
      const threads = new Map();
      for (const line of readFileSync(file, 'utf8').split('\n')) {
        const [who, value, , event] = line.split(',');
        const m = /^(.*)-(\d+)$/.exec(who ?? '');
        if (!m || !event) continue;
        const t = threads.get(m[2]) ?? { tid: Number(m[2]), name: m[1], cpuNs: 0, cycles: null, instructions: null };
        const v = Number(value);
        if (event.startsWith('task-clock')) t.cpuNs = Number.isFinite(v) ? v * 1e6 : 0; // msec
        else if (event.startsWith('cycles') && Number.isFinite(v)) t.cycles = v;
        else if (event.startsWith('instructions') && Number.isFinite(v)) t.instructions = v;
        threads.set(m[2], t);
      }
      rmSync(file, { force: true });
      const list = [...threads.values()].sort((a, b) => b.cpuNs - a.cpuNs);
      const pmu = list.some((t) => t.cycles !== null);
      const sum = (k) => (pmu ? list.reduce((s, t) => s + (t[k] ?? 0), 0) : null);
      return { threads: list, cpuNs: list.reduce((s, t) => s + t.cpuNs, 0), cycles: sum('cycles'), instructions: sum('instructions'), pmu };
    },
  };
}

/** The pid of the command a startTimed() wrapper runs: the first process under it that is neither `ip` nor `time`. */
export function measuredPid(wrapperPid) {
  let pids = [wrapperPid];
  for (let depth = 0; depth < 4 && pids.length; depth++) {
    for (const p of pids) {
      try {
        if (!['ip', 'time'].includes(readFileSync(`/proc/${p}/comm`, 'utf8').trim())) return p;
      } catch {
        /* gone */
      }
    }
    pids = pids.flatMap((p) => childrenOf(p));
  }
  return null;
}

/** Waits until process `pid` has a thread named `name` (perf stat -p counts only threads that exist when it attaches). */
export async function waitForThread(pid, name, ms = 15000) {
  const t0 = Date.now();
  for (;;) {
    try {
      if (readdirSync(`/proc/${pid}/task`).some((t) => readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8').trim() === name)) return;
    } catch {
      /* a thread ended while we looked */
    }
    if (Date.now() - t0 > ms) throw new Error(`no thread ${name} in process ${pid} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
