// nmreplay's command line: `nmreplay -i PORT [options] FILE...`, with tcpreplay's habits
// (-t, -p, -M, -x, -l, -L, -K, --duration) and nmreplay's --rate. Statistics at the end in
// tcpreplay's form on stderr, or one JSON object on stdout with --json.
import { VALE_BACKEND_ENV } from '../ports/vale-bridge.js';
import { NmcapError } from '../errors.js';
import { REPLAY_COUNTERS, countersJson } from '../counters.js';
import type { PcapWarning } from '../pcap/index.js';
import type { NativeReplayStats } from '../ports/binding.js';
import { LinkWatch, linkDownLine } from '../ports/link-watch.js';
import { formatRate, formatSi, parseMultiplier, parseRate, type Rate } from '../replay/rate.js';
import { describeLinkEmu, linkEmuConfig } from '../replay/link-emu.js';
import { allowedCpus, rtThrottlingLine } from '../replay/sender-cpus.js';
import { Replay, parseMac, vlanEdit, type ReplayResult } from '../replay/replay.js';
import { EXIT_OK, EXIT_RUNTIME, UsageError, onInterrupt, reportError, type OptionDef } from './common.js';

const PROGRAM = 'nmreplay';

interface ReplayArgs {
  intf1: string;
  files: string[];
  rate?: string;
  pps?: number;
  mbps?: number;
  multiplier?: string;
  topspeed?: boolean;
  loop: number;
  limit?: number;
  duration?: number;
  preload?: boolean;
  burst?: number;
  truncate?: boolean;
  dmac?: string;
  smac?: string;
  vlanPush?: number;
  vlanPcp?: number;
  vlanPop?: boolean;
  delay?: string;
  loss?: string;
  bandwidth?: string;
  seed?: number;
  realtime?: boolean;
  cpu?: string;
  threads?: number;
  json?: boolean;
  quiet?: boolean;
  stats?: number;
  queue?: number;
  txSlots?: number;
  txBudget?: number;
  valeBackend?: string;
  drainTimeout?: number;
}

function say(line: string): void {
  process.stderr.write(`${PROGRAM}: ${line}\n`);
}

const USAGE = `Usage: $0 -i PORT [--rate R | -p PPS | -M MBPS | -x X | -t] [-l N] [-L N] [--duration S] [-K] FILE...

Replays pcap and pcapng files into a port's TX ring at a controlled rate, then waits until every
packet has left. Without a rate option the trace's own timing is followed (-x 1).
PORT: pipe:NAME{N or pipe:NAME}N (shared-memory pipe), an interface (eth0: best backend), or
af_packet:IF, af_xdp:IF, netmap:IF, valeX:Y to force one.`;

/** nmreplay's options, with tcpreplay's letters. */
export const NMREPLAY_OPTIONS: readonly OptionDef[] = [
  { name: 'intf1', short: 'i', aliases: ['interface'], type: 'string', arg: 'PORT', describe: 'port to send on' },
  { name: 'rate', type: 'string', arg: 'R', describe: 'constant rate: packets/s (10Mpps, 250kpps, 5000, 1e6) or bits/s (1Gbps, 100Mbps)' },
  { name: 'pps', short: 'p', type: 'number', arg: 'PPS', describe: 'constant rate in packets per second (tcpreplay --pps)' },
  { name: 'mbps', short: 'M', type: 'number', arg: 'MBPS', describe: 'constant rate in megabits per second (tcpreplay --mbps)' },
  { name: 'multiplier', short: 'x', type: 'string', arg: 'X', describe: "follow the trace's timing, X times as fast" },
  { name: 'topspeed', short: 't', type: 'boolean', describe: 'as fast as the port takes them' },
  { name: 'loop', short: 'l', type: 'number', arg: 'N', describe: 'passes over the files (default 1; 0 = until stopped)' },
  { name: 'limit', short: 'L', type: 'number', arg: 'N', describe: 'stop after N packets' },
  { name: 'duration', type: 'number', arg: 'S', describe: 'stop after S seconds' },
  { name: 'preload', short: 'K', aliases: ['preload-pcap'], type: 'boolean', describe: 'read the whole trace into memory first' },
  { name: 'burst', type: 'number', arg: 'N', describe: 'most packets handed over per TX sync (default: 64 paced, 512 topspeed)' },
  { name: 'truncate', type: 'boolean', describe: 'send the first MTU bytes of packets too big for the port (default: skip and count them as failed)' },
  { name: 'dmac', type: 'string', arg: 'MAC', describe: 'rewrite the destination MAC of every frame (aa:bb:cc:dd:ee:ff)' },
  { name: 'smac', type: 'string', arg: 'MAC', describe: 'rewrite the source MAC of every frame' },
  { name: 'vlan-push', type: 'number', arg: 'VID', describe: 'put an 802.1Q tag with VLAN ID VID after the MACs of every frame (tcprewrite --enet-vlan=add)' },
  { name: 'vlan-pcp', type: 'number', arg: 'P', describe: 'with --vlan-push: the tag\'s priority, 0-7 (default 0)' },
  { name: 'vlan-pop', type: 'boolean', describe: 'take the outer VLAN tag (802.1Q or 802.1ad) off every frame that has one (tcprewrite --enet-vlan=del)' },
  { name: 'delay', short: 'D', type: 'string', arg: 'D', describe: 'emulated link delay: 10us, 10us..50us (uniform,MIN,MAX), exp,MEAN,MIN; never reorders' },
  { name: 'loss', type: 'string', arg: 'L', describe: 'emulated link loss: a packet loss rate (0.01, 1%, plr,0.01) or a bit error rate (ber,1e-6)' },
  { name: 'bandwidth', short: 'B', type: 'string', arg: 'BW', describe: "emulated link bandwidth in bits/s (1Gbps); ',eth' adds Ethernet's 24 bytes of framing per packet" },
  { name: 'seed', type: 'number', arg: 'N', describe: 'seed for --delay/--loss, to repeat a run (default: a random one, printed in the report)' },
  { name: 'realtime', type: 'boolean', describe: 'run the sending thread SCHED_FIFO (needs root or CAP_SYS_NICE; without, a warning and normal scheduling)' },
  { name: 'cpu', type: 'string', arg: 'N', describe: 'pin the sending thread to CPU N; with --threads a list (0,1): ring k on the k-th CPU of the list (repeated if shorter)' },
  { name: 'threads', type: 'number', arg: 'N', describe: 'one sending thread per TX queue, on queues 0 to N-1 (netmap pkt-gen -p); packets of one flow keep to one queue (default 1)' },
  { name: 'json', type: 'boolean', describe: 'print the final statistics as one JSON object on stdout' },
  { name: 'quiet', short: 'q', type: 'boolean', describe: 'no statistics on stderr' },
  { name: 'stats', type: 'number', arg: 'S', describe: 'print progress every S seconds on stderr' },
  { name: 'queue', type: 'number', arg: 'N', describe: 'send on this hardware queue only (AF_XDP/netmap)' },
  { name: 'tx-slots', type: 'number', arg: 'N', describe: 'TX ring size in slots (backend default otherwise)' },
  { name: 'tx-budget', type: 'number', arg: 'N', describe: 'AF_XDP: packets per kick (default: the largest the kernel allows)' },
  { name: 'drain-timeout', type: 'number', arg: 'S', describe: 'after the last packet, give up once nothing has left for S seconds (default: wait for the reader); after Ctrl-C, wait at most S seconds for pending packets (default 2)' },
  { name: 'vale-backend', type: 'string', arg: 'B', choices: ['bridge', 'netmap'], describe: `VALE names: netmap's switch or a Linux bridge (default: netmap if /dev/netmap exists; env ${VALE_BACKEND_ENV})` },
];

/** At most one way of choosing the speed. */
const SPEED_OPTIONS = [
  ['rate', '--rate'],
  ['pps', '-p'],
  ['mbps', '-M'],
  ['multiplier', '-x'],
  ['topspeed', '-t'],
] as const;

async function parse(argv: string[]): Promise<ReplayArgs | null> {
  const { parseWithYargs } = await import('./yargs-args.js');
  const p = await parseWithYargs(argv, NMREPLAY_OPTIONS, { scriptName: PROGRAM, usage: USAGE, positional: 'files' });
  if (p === null) return null;
  if (p['intf1'] === undefined) throw new UsageError('give the port to send on with -i PORT (see nmreplay --help)');
  const speeds = SPEED_OPTIONS.filter(([k]) => p[k] !== undefined && p[k] !== false).map(([, f]) => f);
  if (speeds.length > 1) throw new UsageError(`${speeds.join(' and ')} both choose the speed: give one of them`);
  return { ...(p as unknown as ReplayArgs), files: (p['files'] as string[] | undefined) ?? [], loop: (p['loop'] as number | undefined) ?? 1 };
}

function wholeNumber(name: string, v: number | undefined, min: number): void {
  if (v !== undefined && (!Number.isInteger(v) || v < min)) {
    throw new UsageError(`${name} needs a whole number${min > 0 ? ` of at least ${min}` : ''}, got ${String(v)}`);
  }
}

/** --cpu N, or with --threads a list N,M,...: each a CPU this process may run on. */
function cpuList(a: ReplayArgs): number[] | undefined {
  if (a.cpu === undefined) return undefined;
  const parts = String(a.cpu).split(',');
  if (parts.length > 1 && (a.threads ?? 1) === 1) throw new UsageError(`--cpu ${a.cpu}: a list of CPUs is for --threads N (one CPU per sending thread); give one CPU`);
  const allowed = allowedCpus();
  return parts.map((part) => {
    if (!/^\s*(\d+(\.\d*)?|\.\d+)\s*$/.test(part)) throw new UsageError(`--cpu needs a number (N) or, with --threads, a list (0,1), got '${a.cpu}'`);
    const cpu = Number(part);
    if (!Number.isInteger(cpu) || (allowed !== undefined && !allowed.includes(cpu))) {
      throw new UsageError(`--cpu ${part.trim()}: give a CPU this process may run on${allowed ? ` (${allowed.join(', ')})` : ''}`);
    }
    return cpu;
  });
}

function rateOf(a: ReplayArgs): Rate | undefined {
  if (a.rate !== undefined) return parseRate(a.rate);
  if (a.pps !== undefined) return parseRate(String(a.pps));
  if (a.mbps !== undefined) return parseRate(`${a.mbps}Mbps`);
  return undefined;
}

function validate(a: ReplayArgs): void {
  if (a.files.length === 0) throw new UsageError('no trace file given: nmreplay -i PORT FILE...');
  wholeNumber('--loop', a.loop, 0);
  wholeNumber('--limit', a.limit, 1);
  wholeNumber('--burst', a.burst, 1);
  wholeNumber('--queue', a.queue, 0);
  wholeNumber('--tx-slots', a.txSlots, 2);
  wholeNumber('--tx-budget', a.txBudget, 1);
  if (a.drainTimeout !== undefined && !(a.drainTimeout > 0)) throw new UsageError(`--drain-timeout needs a positive number of seconds, got ${String(a.drainTimeout)}`);
  for (const [opt, v] of [['--dmac', a.dmac], ['--smac', a.smac]] as const) {
    if (v === undefined) continue;
    try {
      parseMac(opt, v);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  try {
    vlanEdit(a);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (a.duration !== undefined && !(a.duration > 0)) throw new UsageError(`--duration needs a positive number of seconds`);
  linkEmuConfig(a); // the forms of --delay, --loss, --bandwidth and --seed (the run draws its own seed)
  wholeNumber('--threads', a.threads, 1);
  if ((a.threads ?? 1) > 1 && a.queue !== undefined) {
    throw new UsageError(`--threads ${a.threads} sends on queues 0 to ${a.threads! - 1}: drop --queue, or use --threads 1 --queue Q`);
  }
  cpuList(a);
  if (a.stats !== undefined && !(a.stats > 0)) throw new UsageError(`--stats needs a positive number of seconds`);
  if (a.loop === 0 && a.limit === undefined && a.duration === undefined && !process.stdin.isTTY) {
    // Looping forever is allowed (tcpreplay -l 0); Ctrl-C or a signal ends it.
  }
}

// --- output ----------------------------------------------------------------------------------------

function seconds(s: number): string {
  return s >= 1 ? s.toFixed(2) : s.toFixed(6);
}

function duration(ns: number): string {
  if (ns < 1_000) return `${ns.toFixed(0)} ns`;
  if (ns < 1_000_000) return `${(ns / 1_000).toFixed(1)} µs`;
  if (ns < 1_000_000_000) return `${(ns / 1_000_000).toFixed(2)} ms`;
  return `${(ns / 1e9).toFixed(3)} s`;
}

function pad(label: string, v: number): string {
  return `\t${label.padEnd(27)}${v}`;
}

/** tcpreplay's end report, plus what nmreplay measures about pacing. */
export function formatReport(r: ReplayResult): string[] {
  const lines: string[] = [];
  lines.push(`Actual: ${r.packets} packets (${r.bytes} bytes) sent in ${seconds(r.seconds)} seconds`);
  const mbps = r.bps / 1e6;
  lines.push(`Rated: ${(r.bps / 8).toFixed(1)} Bps, ${mbps < 1 ? mbps.toFixed(3) : mbps.toFixed(2)} Mbps, ${r.pps.toFixed(2)} pps`);
  if (r.failed) lines.push(`Failed write attempts: ${r.failed}`);
  if (r.mode !== 'topspeed' && r.pacedRate !== undefined) {
    let s = `Pacing: ${r.mode === 'multiplier' ? 'trace timing' : `target ${formatSi(r.target!)}${r.mode}`}`;
    if (r.mode === 'pps' && r.target) {
      const dev = ((r.pacedRate - r.target) / r.target) * 100;
      s += `, achieved ${r.pacedRate.toFixed(1)} pps over the sending span (${dev >= 0 ? '+' : ''}${dev.toFixed(3)}%)`;
    }
    lines.push(s);
  }
  if (r.linkEmu) lines.push(`Link emulation: ${describeLinkEmu(r.linkEmu)}; ${r.emuDropped} packets dropped on purpose`);
  lines.push(`Bursts: ${r.bursts.syncs} TX syncs, ${r.bursts.mean.toFixed(1)} packets per sync on average, at most ${r.bursts.max}`);
  if (r.departure) {
    const d = r.departure;
    lines.push(
      `Departure error: p50 ${duration(d.p50Ns)}, p90 ${duration(d.p90Ns)}, p99 ${duration(d.p99Ns)}, p99.9 ${duration(d.p999Ns)}, max ${duration(d.maxNs)}`,
    );
  }
  if (r.rings.length > 1) lines.push(`Rings: ${r.rings.length} sending threads: ${r.rings.map((g) => `ring ${g.ring} ${g.sent} packets${g.pending ? ` (${g.pending} pending)` : ''}`).join(', ')}`);
  lines.push(`Statistics for network device: ${r.port}`);
  lines.push(pad('Successful packets:', r.packets));
  lines.push(pad('Failed packets:', r.failed));
  lines.push(pad('Truncated packets:', r.truncated));
  if (r.unconvertible) lines.push(pad('Not made Ethernet (failed):', r.unconvertible));
  if (r.linkEmu) lines.push(pad('Dropped on purpose:', r.emuDropped));
  if (r.pending) lines.push(pad('Never left (pending):', r.pending));
  return lines;
}

/** A run shorter than this (packets or sending span) measures start-up, not a rate. */
const SHORT_RUN_PACKETS = 1000;
const SHORT_RUN_SECONDS = 0.02;

/** When a fixed rate was missed, say by how much and what held it back. */
export function shortfall(r: ReplayResult): string | undefined {
  if (r.mode !== 'pps' && r.mode !== 'bps') return undefined;
  if (!r.target || r.packets < 2 || r.reason === 'stopped') return undefined;
  const achieved = r.mode === 'pps' ? r.pacedRate ?? r.pps : r.bps;
  if (achieved >= r.target * 0.99) return undefined;
  const unit = r.mode;
  const pct = ((achieved / r.target) * 100).toFixed(1);
  const span = r.seconds || 1;
  const threads = Math.max(1, r.rings.length); // --threads: CPU time is summed over the sending threads
  const sendSpan = r.queued > 1 && r.pacedRate ? (r.queued - 1) / r.pacedRate : span;
  let why: string;
  if (r.queued < SHORT_RUN_PACKETS || sendSpan < SHORT_RUN_SECONDS) {
    why = `the run was too short to hold a rate (${r.queued} packets in ${(sendSpan * 1e3).toFixed(3)} ms): start-up (the first syncs, waking the receiver) weighs on it; send more packets (-l, -L) to measure the rate`;
  } else if (r.ringFullSeconds > span * 0.2) {
    why = `the port was full for ${((r.ringFullSeconds / span) * 100).toFixed(0)}% of the run (the receiver or the link takes packets slower than that)`;
  } else if (r.inputWaits > 10 || (r.inputWaits > 0 && r.bursts.syncs === 0)) {
    why = `the sender waited ${r.inputWaits} times for the trace to be read: reading and parsing it is slower than sending (try --preload)`;
  } else if (r.senderCpuSeconds / threads < span * 0.8 && r.preemptions > 0) {
    why = `the sending thread${threads > 1 ? 's' : ''} had a CPU for only ${((r.senderCpuSeconds / threads / span) * 100).toFixed(0)}% of the run${threads > 1 ? ' each, on average' : ''} (descheduled ${r.preemptions} times: the machine is busy)`;
  } else {
    const ns = ((r.senderCpuSeconds * 1e9 - r.waitCpuNs - r.sleepCpuNs) / Math.max(1, r.queued));
    why = `the sender's per-packet cost is the limit on this machine (${ns.toFixed(0)} ns of CPU per packet, waits and sleeps left out; bursts grew to ${r.bursts.max} packets per sync)`;
  }
  return `reached ${formatSi(achieved)}${unit} of the ${formatSi(r.target)}${unit} target (${pct}%): ${why}`;
}

function jsonReport(r: ReplayResult): Record<string, unknown> {
  return {
    ...countersJson(REPLAY_COUNTERS, r),
    seconds: r.seconds,
    pps: r.pps,
    bps: r.bps,
    reason: r.reason,
    port: r.port,
    backend: r.backend,
    mode: r.mode,
    target: r.target ?? null,
    pacedRate: r.pacedRate ?? null,
    bursts: r.bursts,
    departure: r.departure,
    loops: r.loops,
    ringFullSeconds: r.ringFullSeconds,
    senderCpuSeconds: r.senderCpuSeconds,
    preemptions: r.preemptions,
    inMemory: r.inMemory,
    unconvertible: r.unconvertible,
    linkEmulation: r.linkEmu ? { ...r.linkEmu, dropped: r.emuDropped } : null,
    sender: r.sender,
    rings: r.rings,
    warnings: r.warnings.map((w) => w.message),
    error: r.error ? { code: r.error.code, message: r.error.message } : r.inputError ? { code: r.inputError.code, message: r.inputError.message } : null,
  };
}

function progressLine(p: NativeReplayStats): string {
  const s = p.sendNs / 1e9;
  return `progress: ${p.sent} packets sent, ${p.queued} queued, ${s > 0 ? formatSi(p.queued / s) : 0}pps`;
}

// --- main ----------------------------------------------------------------------------------------

export async function main(argv: string[]): Promise<void> {
  let a: ReplayArgs | null;
  let rate: Rate | undefined;
  let multiplier: { num: number; den: number } | undefined;
  try {
    a = await parse(argv);
    if (a === null) {
      process.exitCode = EXIT_OK;
      return;
    }
    validate(a);
    rate = rateOf(a);
    if (a.multiplier !== undefined) multiplier = parseMultiplier(a.multiplier);
  } catch (e) {
    process.exitCode = reportError(e, PROGRAM);
    return;
  }

  if (a.valeBackend) process.env[VALE_BACKEND_ENV] = a.valeBackend; // read where VALE names are opened
  let lastProgress = 0;
  let progress: NativeReplayStats | undefined;
  let link: LinkWatch | undefined; // the port's interface, where it is one: did its link go down?
  const replay = new Replay({
    port: a.intf1,
    files: a.files,
    rate,
    multiplier,
    topspeed: a.topspeed,
    loop: a.loop,
    limit: a.limit,
    duration: a.duration,
    preload: a.preload,
    burst: a.burst,
    truncate: a.truncate,
    dmac: a.dmac,
    smac: a.smac,
    vlanPush: a.vlanPush,
    vlanPcp: a.vlanPcp,
    vlanPop: a.vlanPop,
    delay: a.delay,
    loss: a.loss,
    bandwidth: a.bandwidth,
    seed: a.seed,
    realtime: a.realtime,
    threads: a.threads,
    ...((a.threads ?? 1) > 1 ? { cpus: cpuList(a) } : { cpu: cpuList(a)?.[0] }),
    onNotice: (m) => {
      if (!a.quiet) say(m);
    },
    portOptions: { queue: a.queue, txSlots: a.txSlots, txBudget: a.txBudget },
    drainTimeout: a.drainTimeout,
    onStall: (pending) =>
      say(
        `waiting for a reader on ${a.intf1}: ${pending} packets pending and none taken for 1 s (a pipe or VALE port gives no sign when its reader stops); ` +
          `${a.drainTimeout ? `giving up after ${a.drainTimeout} s without progress` : '--drain-timeout S gives up after S seconds, Ctrl-C stops'}`,
      ),
    onOpen: (p) => {
      link = LinkWatch.start(p.info.ifname);
      if (p.choice && !a.quiet) say(p.choice);
      // Printed once the signal handlers are in place: scripts may wait for this line to signal us.
      if (!a.quiet) say(`sending on ${p.name} ${rate ? `at ${formatRate(rate)}` : a.topspeed ? 'as fast as it takes them' : "at the trace's timing"}`);
    },
    onProgress: (p) => {
      progress = p;
      if (a.stats === undefined || a.quiet) return;
      const now = Date.now();
      if (now - lastProgress >= a.stats * 1000) {
        lastProgress = now;
        say(progressLine(p));
      }
    },
    onWarning: (w: PcapWarning) => say(`warning: ${w.message}`),
  });

  const sig = onInterrupt(
    () => replay.stop(),
    () => [`${PROGRAM}: ${progress ? progressLine(progress) : 'progress: 0 packets sent, 0 queued, 0pps'}`],
  );
  try {
    const r = await replay.run();
    const links = link ? [link.end()] : [];
    for (const why of new Set(r.rings.flatMap((g) => [g.sender.realtimeError, g.sender.cpuError]))) if (why) say(why);
    if (a.realtime && r.sender.policy === 'SCHED_FIFO') {
      const throttled = rtThrottlingLine();
      if (throttled && !a.quiet) say(throttled);
    }
    if (!a.quiet) for (const line of formatReport(r)) process.stderr.write(`${line}\n`);
    if (a.json) process.stdout.write(`${JSON.stringify({ ...jsonReport(r), links })}\n`);
    for (const l of links) {
      const down = linkDownLine(l);
      if (down) say(down);
    }
    const over = r.failed && !a.truncate && r.failed > 0;
    if (over && !a.quiet) say(`${r.failed} packets were not sent (empty, or larger than ${r.port} takes; --truncate sends their first bytes)`);
    // A stop that came while draining leaves the reason 'done': it is the stop's bound that ended the
    // wait then (the report says what never left), not the idle rule.
    const gaveUp =
      a.drainTimeout !== undefined && r.pending > 0 && (r.reason === 'done' || r.reason === 'limit') && sig.exitCode() === undefined;
    if (gaveUp) say(`gave up after ${a.drainTimeout} s without progress: ${r.pending} packets never left ${r.port} (no reader took them)`);
    const miss = shortfall(r);
    if (miss) say(miss);
    if (r.inputError) say(r.inputError.message);
    if (r.error) say(r.error.message);
    process.exitCode = sig.exitCode() ?? (r.error || r.inputError || gaveUp ? EXIT_RUNTIME : EXIT_OK);
  } catch (e) {
    process.exitCode = reportError(e, PROGRAM);
  } finally {
    sig.dispose();
  }
}
