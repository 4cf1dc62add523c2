// What every nmcap mode shares: exit codes, the option table (one source for yargs and for the
// fast argv scanner), one-line error reporting, Ctrl-C handling and buffered line output to stdout.
// Kept free of heavy imports: the offline -r -w path loads only this, the scanner and src/pcap.

import { NmcapError, UsageError } from '../errors.js';
import { divertingInterface } from '../ports/names.js';

export const EXIT_OK = 0;
export const EXIT_RUNTIME = 1;
export const EXIT_USAGE = 2;
export const EXIT_SIGINT = 130;

export { UsageError };

export type OptionType = 'string' | 'boolean' | 'number' | 'count';

export interface OptionDef {
  /** Long name, as used in the parsed options object (camelCase is derived by yargs). */
  name: string;
  /** Single-letter alias, without the dash. */
  short?: string;
  type: OptionType;
  describe: string;
  choices?: readonly string[];
  /** Shown as the value placeholder in help. */
  arg?: string;
  /** May be given several times (string options): parsed as the list of values, in order. */
  repeat?: boolean;
  /** Other long names (tcpreplay's spellings). */
  aliases?: readonly string[];
}

/** A value option's word as the option wants it, or a UsageError in the tool's words. */
export function optionValue(d: OptionDef, spelled: string, raw: string): string | number {
  if (d.choices !== undefined && !d.choices.includes(raw)) {
    throw new UsageError(`${spelled} takes ${d.choices.join(', ')}, not '${raw}'`);
  }
  if (d.type !== 'number') return raw;
  if (!/^\s*(\d+(\.\d*)?|\.\d+)\s*$/.test(raw)) throw new UsageError(`${spelled} needs a number${d.arg ? ` (${d.arg})` : ''}, got '${raw}'`);
  return Number(raw);
}

/** nmcap's options, for offline reading (-r) and live capture (-i). */
export const NMCAP_OPTIONS: readonly OptionDef[] = [
  { name: 'interface', short: 'i', type: 'string', arg: 'PORT', repeat: true, describe: 'capture live on PORT: pipe:NAME}N, an interface (eth0), af_packet:IF, af_xdp:IF and netmap:IF (both need --divert), valeX:Y; several -i go into one file' },
  { name: 'list-interfaces', short: 'D', type: 'boolean', describe: 'list the interfaces and the capture backends usable on each, then exit' },
  { name: 'filter', short: 'f', type: 'string', arg: 'EXPR', describe: 'filter, a tcpdump expression (as dumpcap -f; or give it after the options, as tcpdump): live, or on the packets -r reads' },
  { name: 'dump-filter', short: 'd', type: 'boolean', describe: 'print the compiled capture filter as tcpdump -d does, then exit' },
  { name: 'autostop', short: 'a', type: 'string', arg: 'COND', repeat: true, describe: 'live: stop at duration:S, packets:N, filesize:KB (1 kB = 1000 bytes) or files:N (after N files of a -b rotation), as dumpcap -a' },
  { name: 'user', short: 'Z', type: 'string', arg: 'USER', describe: 'live: drop privileges to USER once the ports are open' },
  { name: 'read', short: 'r', type: 'string', arg: 'FILE', describe: 'read packets from a pcap or pcapng file ("-" = stdin)' },
  { name: 'write', short: 'w', type: 'string', arg: 'FILE', describe: 'write packets to FILE ("-" = stdout) instead of printing them' },
  {
    name: 'format',
    short: 'F',
    type: 'string',
    arg: 'FMT',
    choices: ['pcapng', 'pcap', 'pcap-ns'],
    describe: 'output format for -w: pcapng (default; a name ending .pcap/.cap/.dmp means pcap), pcap (µs; from -r, ns if the input is finer), pcap-ns',
  },
  { name: 'count', short: 'c', type: 'number', arg: 'N', describe: 'stop after N packets' },
  { name: 'snaplen', short: 's', type: 'number', arg: 'BYTES', describe: 'live: keep at most BYTES of each packet (default and 0: 262144)' },
  { name: 'duration', type: 'number', arg: 'S', describe: 'live: stop after S seconds' },
  {
    name: 'ring-buffer',
    short: 'b',
    type: 'string',
    arg: 'RULE',
    repeat: true,
    describe:
      'live, as dumpcap: a new file on filesize:KB, duration:S, interval:S (on wall-clock multiples) or packets:N; files:N keeps the newest N; printname:FILE (or stdout, stderr) gets each completed file name. Files are named OUT_00001_YYYYmmddHHMMSS.EXT',
  },
  {
    name: 'write-mode',
    type: 'string',
    arg: 'MODE',
    choices: ['auto', 'direct', 'buffered'],
    describe: 'live -w: auto (O_DIRECT where the file system supports it, else buffered), direct or buffered',
  },

  { name: 'no-promiscuous-mode', short: 'p', type: 'boolean', describe: 'live: do not put the interface into promiscuous mode' },
  { name: 'queue', type: 'number', arg: 'N', describe: 'live: capture hardware queue N only (default: all queues)' },
  {
    name: 'vale-backend',
    type: 'string',
    arg: 'B',
    choices: ['bridge', 'netmap'],
    describe: "live: VALE names on netmap's switch or a Linux bridge (default: netmap if /dev/netmap exists; env NMCAP_VALE_BACKEND)",
  },
  {
    name: 'divert',
    type: 'boolean',
    describe: 'live: allow af_xdp:IF or netmap:IF, which take every frame away from the host stack while they run (not a passive tap)',
  },
  { name: 'json', type: 'boolean', describe: 'one JSON object per packet; with -w, the final statistics as one JSON object' },
  { name: 'quiet', short: 'q', type: 'boolean', describe: 'shorter packet lines; with -w, no statistics on stderr' },
  { name: 'numeric', short: 'n', type: 'boolean', describe: 'numeric addresses and ports (always the case; accepted for tcpdump habits)' },
  { name: 'link', short: 'e', type: 'boolean', describe: 'print the link-level header on each line' },
  { name: 'verbose', short: 'v', type: 'count', describe: 'more packet fields: IP TTL, id, length, flags, checksums; ICMP errors show the packet they quote' },
  { name: 'hex', short: 'x', type: 'count', describe: 'hex dump of each packet from the network header (-xx: with the link header)' },
  { name: 'hex-ascii', short: 'X', type: 'count', describe: 'hex and ASCII dump of each packet (-XX: with the link header)' },
  { name: 'ascii', short: 'A', type: 'boolean', describe: 'each packet in ASCII (from the network header)' },
  { name: 'absolute-tcp-sequence-numbers', short: 'S', type: 'boolean', describe: 'absolute TCP sequence numbers (always the case; accepted for tcpdump habits)' },
  { name: 'timestamp', short: 't', type: 'count', describe: 'timestamps: -t none, -tt epoch seconds, -ttt delta, -tttt date and time, -ttttt since first' },
  { name: 'nano', type: 'boolean', describe: 'nanosecond timestamps (printing, and classic pcap output)' },
  {
    name: 'time-stamp-precision',
    type: 'string',
    arg: 'P',
    choices: ['micro', 'nano'],
    describe: 'micro or nano: timestamp precision for printing and classic pcap output',
  },
];

/** Options as both parsers deliver them (absent options are undefined). */
export interface NmcapArgs {
  /** the first -i PORT (all of them: interfaces) */
  interface?: string;
  interfaces?: string[];
  listInterfaces?: boolean;
  /** the filter: -f EXPR, or the words after the options */
  filter?: string;
  dumpFilter?: boolean;
  autostop?: string[];
  user?: string;
  snaplen?: number;
  duration?: number;
  noPromiscuousMode?: boolean;
  queue?: number;
  valeBackend?: string;
  divert?: boolean;
  ringBuffer?: string[];
  writeMode?: string;
  read?: string;
  write?: string;
  format?: string;
  count?: number;
  json?: boolean;
  quiet?: boolean;
  numeric?: boolean;
  link?: boolean;
  verbose?: number;
  hex?: number;
  hexAscii?: number;
  ascii?: boolean;
  absoluteTcpSequenceNumbers?: boolean;
  timestamp?: number;
  nano?: boolean;
  timeStampPrecision?: string;
}

/** Checks that hold whichever parser read the command line. */
export function validateArgs(a: NmcapArgs): void {
  if (a.count !== undefined && (!Number.isInteger(a.count) || a.count < 1)) {
    throw new UsageError(`-c needs a positive whole number of packets, got ${a.count}`);
  }
  if (a.read !== undefined && a.interface !== undefined) throw new UsageError('give either -r FILE (read a capture) or -i PORT (capture live), not both');
  if (a.read === undefined && a.interface === undefined) {
    throw new UsageError('nothing to do: give -i PORT to capture live or -r FILE to read a capture (see nmcap --help)');
  }
  if (a.read === '') throw new UsageError('-r needs a file name ("-" for stdin)');
  if (a.interface === '') throw new UsageError('-i needs a port name (an interface, or pipe:NAME}N)');
  if (a.interface === undefined) {
    for (const [flag, v] of [
      ['-s', a.snaplen],
      ['--duration', a.duration],
      ['-p', a.noPromiscuousMode],
      ['--queue', a.queue],
      ['-a', a.autostop],
      ['-Z', a.user],
      ['--vale-backend', a.valeBackend],
      ['--divert', a.divert],
      ['-b', a.ringBuffer],
      ['--write-mode', a.writeMode],
    ] as const) {
      if (v !== undefined) throw new UsageError(`${flag} is for live capture (-i PORT)`);
    }
  } else if (a.divert !== true) {
    for (const i of a.interfaces ?? [a.interface]) {
      const iface = divertingInterface(i);
      if (iface !== undefined) {
        const how = i.trim().startsWith('netmap:')
          ? "netmap's NIC mode detaches the interface from the host stack"
          : 'AF_XDP receive is a diversion, not a tap';
        throw new UsageError(
          `${i.trim()} takes every frame away from the host stack while nmcap runs (${how}): ` +
            `give --divert to do that anyway, or capture passively with af_packet:${iface}`,
        );
      }
    }
  }
  if (a.snaplen !== undefined && (!Number.isInteger(a.snaplen) || a.snaplen < 0 || a.snaplen > 262144)) {
    throw new UsageError(`-s needs a snap length from 0 to 262144 bytes, got ${String(a.snaplen)}`);
  }
  if (a.duration !== undefined && !(a.duration > 0)) throw new UsageError(`--duration needs a positive number of seconds, got ${String(a.duration)}`);
  if (a.queue !== undefined && (!Number.isInteger(a.queue) || a.queue < 0)) throw new UsageError(`--queue needs a queue number, got ${String(a.queue)}`);
  if (a.write === '') throw new UsageError('-w needs a file name ("-" for stdout)');
  if (a.format !== undefined && a.write === undefined) throw new UsageError('-F chooses the format of -w output; give -w FILE too');
  if (a.read === '-' && a.write === '-' && a.json === true) {
    // Allowed: statistics then go to stderr. Nothing to check; kept as documentation.
  }
}

/** Node system errors (ENOENT...) as one friendly line. */
export function describeError(err: unknown): string {
  if (err instanceof NmcapError) return err.message;
  const e = err as NodeJS.ErrnoException;
  if (e !== null && typeof e === 'object' && typeof e.code === 'string' && typeof e.syscall === 'string') {
    const what = e.path ?? '';
    const why: Record<string, string> = {
      ENOENT: 'No such file or directory',
      EACCES: 'Permission denied',
      EISDIR: 'Is a directory',
      ENOTDIR: 'Not a directory',
      ENOSPC: 'No space left on device',
      EPIPE: 'Broken pipe',
      EROFS: 'Read-only file system',
    };
    const text = why[e.code] ?? e.message;
    return what !== '' ? `${what}: ${text}` : text;
  }
  if (err instanceof Error) return err.message;
  return String(err);
}

/** Prints `nmcap: <message>` (one line, never a stack trace) and returns the exit code to use. */
export function reportError(err: unknown, program = 'nmcap'): number {
  const usage = err instanceof UsageError;
  let line = describeError(err).replace(/\s*\n\s*/g, ' ');
  if (!(err instanceof NmcapError) && !(err as NodeJS.ErrnoException)?.syscall && process.env['NMCAP_DEBUG']) {
    line += ` [${(err as Error)?.stack ?? ''}]`;
  }
  process.stderr.write(`${program}: ${line}\n`);
  return usage ? EXIT_USAGE : EXIT_RUNTIME;
}

export function warnLine(message: string): void {
  process.stderr.write(`nmcap: warning: ${message}\n`);
}

export const EXIT_SIGTERM = 143;

/**
 * Ctrl-C and SIGTERM: the first one calls `stop` (finish cleanly, files stay valid) and marks the
 * run as interrupted (exit code 130 for SIGINT, 143 for SIGTERM); a second one exits at once
 * with that code. SIGUSR1 prints `stats()` on stderr and the run goes on, as tcpdump does (bin/
 * holds SIGUSR1 from its first line so that Node never opens its inspector on it). Returns the
 * uninstaller.
 */
export function onInterrupt(stop: () => void, stats?: () => string[]): {
  interrupted: () => boolean;
  /** the exit code the first signal asks for, or undefined */
  exitCode: () => number | undefined;
  dispose: () => void;
} {
  let count = 0;
  let first: number | undefined;
  const handler = (code: number) => (): void => {
    count++;
    first ??= code;
    if (count === 1) stop();
    else process.exit(first);
  };
  const onInt = handler(EXIT_SIGINT);
  const onTerm = handler(EXIT_SIGTERM);
  const onUsr1 = (): void => {
    if (stats) process.stderr.write(stats().map((l) => `${l}\n`).join(''));
  };
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  process.on('SIGUSR1', onUsr1);
  return {
    interrupted: () => count > 0,
    exitCode: () => first,
    dispose: () => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      process.off('SIGUSR1', onUsr1);
    },
  };
}

/**
 * Line output to stdout, gathered into big writes, waiting for 'drain' when the pipe is full.
 * A closed pipe (EPIPE, e.g. `| head`) makes `closed` true so the producer can stop quietly.
 */
export class LineOut {
  private parts: string[] = [];
  private size = 0;
  closed = false;
  /** A write error other than EPIPE, to be reported by the caller. */
  error: Error | undefined;
  private readonly stream: NodeJS.WriteStream;

  constructor(stream: NodeJS.WriteStream = process.stdout) {
    this.stream = stream;
    stream.on('error', (err: NodeJS.ErrnoException) => {
      this.closed = true;
      if (err.code !== 'EPIPE') this.error = err;
    });
  }

  line(s: string): void {
    this.parts.push(s);
    this.size += s.length + 1;
    if (this.size >= 1 << 16) this.push();
  }

  private push(): boolean {
    if (this.parts.length === 0 || this.closed) {
      this.parts = [];
      this.size = 0;
      return true;
    }
    const text = this.parts.join('\n') + '\n';
    this.parts = [];
    this.size = 0;
    return this.stream.write(text);
  }

  /** Writes what is gathered; resolves when the stream can take more. */
  async drain(): Promise<void> {
    if (this.push() || this.closed) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        this.stream.off('drain', done);
        this.stream.off('close', done);
        resolve();
      };
      this.stream.once('drain', done);
      this.stream.once('close', done);
    });
  }

  /** Everything written and flushed to the stream. */
  async end(): Promise<void> {
    this.push();
    if (this.closed) return;
    await new Promise<void>((resolve) => {
      if (this.stream.writableNeedDrain) this.stream.once('drain', () => resolve());
      else resolve();
    });
  }
}
