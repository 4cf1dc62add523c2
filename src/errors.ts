// Every error nmcap raises on purpose, in one table: its stable code, the class that carries it and
// what it means (the shape of undici's lib/core/errors.js). Callers branch on `err.code`, never on
// the message text. The native addon throws plain Errors with codes from the same table
// (native/ring/port.h errc); `fromNative` turns them into these classes, and
// test/errors/codes.test.ts checks that every code the addon or src/ can raise is listed here.
// The CLI prints `nmcap: <message>` for any NmcapError, so messages are written to stand alone on
// one line and to say what is wrong and, where it helps, what to do.

type ErrorClassName =
  | 'UsageError'
  | 'OptionError'
  | 'OutOfRangeError'
  | 'PcapFormatError'
  | 'PcapWriteError'
  | 'PortError'
  | 'TraceError'
  | 'AddonError'
  | 'HarnessError'
  | 'PrivilegeError'
  | 'OutputError'
  | 'FilterError';

interface ErrorEntry {
  readonly class: ErrorClassName;
  readonly meaning: string;
}

/** Every error code, with the class that carries it and what it means. */
export const ERROR_CODES = {
  // --- command lines (exit code 2)
  ERR_USAGE: { class: 'UsageError', meaning: 'A command line that cannot be run as given.' },
  ERR_USAGE_BAD_RATE: { class: 'UsageError', meaning: 'A rate that is not packets/s (10Mpps, 5000) or bits/s (1Gbps), or is zero.' },
  ERR_USAGE_BAD_MULTIPLIER: { class: 'UsageError', meaning: 'A speed multiplier that is not a positive number.' },

  // --- options objects given to the API (plain JavaScript callers get no type check)
  ERR_OPTION_UNKNOWN: { class: 'OptionError', meaning: 'An options object has a key the API does not know (a typo, or an option of another class).' },
  ERR_OPTION_TYPE: { class: 'OptionError', meaning: 'An option has the wrong type or an impossible value.' },
  ERR_OUT_OF_RANGE: { class: 'OutOfRangeError', meaning: 'An index or argument outside the range the object holds.' },

  // --- capture files: reading
  ERR_PCAP_BAD_MAGIC: { class: 'PcapFormatError', meaning: 'The file starts with neither a pcap magic nor a pcapng Section Header Block.' },
  ERR_PCAP_TRUNCATED: { class: 'PcapFormatError', meaning: 'The file ends inside its header (a last record cut short is a warning instead).' },
  ERR_PCAP_BAD_BLOCK_LENGTH: { class: 'PcapFormatError', meaning: 'A pcapng block length that is too small, not a multiple of 4, absurd, or disagrees with its trailer.' },
  ERR_PCAP_BAD_CAPLEN: { class: 'PcapFormatError', meaning: 'A captured length beyond its block, beyond the snap length rules, or beyond reason.' },
  ERR_PCAP_UNKNOWN_INTERFACE: { class: 'PcapFormatError', meaning: 'A block names an interface that no Interface Description Block of its section described yet.' },
  ERR_PCAP_UNSUPPORTED_VERSION: { class: 'PcapFormatError', meaning: 'A pcap or pcapng version this reader does not understand.' },
  ERR_PCAP_BAD_OPTION: { class: 'PcapFormatError', meaning: 'An option that overruns its block or has a length its type does not allow.' },
  ERR_PCAP_BAD_BLOCK: { class: 'PcapFormatError', meaning: 'A block body too short for its fixed fields, or whose inner records overrun it.' },
  ERR_PCAP_BAD_LINKTYPE: { class: 'PcapFormatError', meaning: 'Reserved bits set in a classic pcap link-type word.' },

  // --- capture files: writing
  ERR_PCAP_BAD_ARGUMENT: { class: 'PcapWriteError', meaning: 'An argument out of range: unknown interface index, negative timestamp, a packet over 4 GiB, ...' },
  ERR_PCAP_LINKTYPE_MISMATCH: { class: 'PcapWriteError', meaning: 'Classic pcap holds one link type; the input has packets of another.' },
  ERR_PCAP_WRITER_CLOSED: { class: 'PcapWriteError', meaning: 'A write after close().' },

  // --- traces given to a replay
  ERR_TRACE_UNREADABLE: { class: 'TraceError', meaning: 'A trace file that does not exist, is a directory or cannot be read.' },
  ERR_TRACE_EMPTY: { class: 'TraceError', meaning: 'The trace files hold no packet at all: there is nothing to send.' },

  // --- ports (codes shared with native/ring/port.h errc and native/js)
  ERR_PORT_BAD_NAME: { class: 'PortError', meaning: 'A port name no backend can take.' },
  ERR_PORT_NOT_FOUND: { class: 'PortError', meaning: 'No such interface or pipe.' },
  ERR_PORT_DOWN: { class: 'PortError', meaning: 'The interface is down.' },
  ERR_PORT_PERMISSION: { class: 'PortError', meaning: 'Missing privileges (CAP_NET_RAW, CAP_NET_ADMIN, CAP_BPF).' },
  ERR_NETMAP_UNAVAILABLE: { class: 'PortError', meaning: 'No /dev/netmap: the netmap kernel module is not loaded.' },
  ERR_PORT_BUSY: { class: 'PortError', meaning: 'The port is taken: another XDP program, or a session holds it.' },
  ERR_PORT_UNSUPPORTED: { class: 'PortError', meaning: 'The backend cannot do what was asked on this port.' },
  ERR_PORT_DIVERT: { class: 'PortError', meaning: 'Receiving on this port takes the frames away from the host stack (AF_XDP), and that was not asked for.' },
  ERR_PORT_PROTOCOL: { class: 'PortError', meaning: 'A peer broke the ring protocol (an index or length out of bounds in shared memory).' },
  ERR_PEER_DIED: { class: 'PortError', meaning: 'The pipe peer went away without closing.' },
  ERR_PEER_CLOSED: { class: 'PortError', meaning: 'The pipe peer closed its end in order.' },
  ERR_PORT_GONE: { class: 'PortError', meaning: 'The interface vanished while in use.' },
  ERR_PORT_IO: { class: 'PortError', meaning: 'A system call on the port failed.' },
  ERR_PORT_CLOSED: { class: 'PortError', meaning: 'The port was closed.' },
  ERR_PACKET_TOO_BIG: { class: 'PortError', meaning: 'A packet larger than the port sends.' },

  // --- outputs (capture files, pipes)
  ERR_OUTPUT_NO_SPACE: { class: 'OutputError', meaning: 'The file system is full (ENOSPC).' },
  ERR_OUTPUT_QUOTA: { class: 'OutputError', meaning: 'A disk quota is exhausted (EDQUOT).' },
  ERR_OUTPUT_TOO_BIG: { class: 'OutputError', meaning: 'The file reached the largest size allowed (EFBIG, ulimit -f).' },
  ERR_OUTPUT_BROKEN_PIPE: { class: 'OutputError', meaning: 'The reader of a pipe went away (EPIPE).' },
  ERR_OUTPUT_IO: { class: 'OutputError', meaning: 'Any other failed write (EIO, ...).' },
  ERR_DIRECT_UNSUPPORTED: { class: 'OutputError', meaning: '--write-mode direct on a file system that does not take O_DIRECT writes.' },
  ERR_DIRECT_OPEN: { class: 'OutputError', meaning: 'The capture file could not be opened for O_DIRECT writing.' },

  // --- privileges
  ERR_PRIVILEGES: { class: 'PrivilegeError', meaning: 'Privileges could not be dropped to the user -Z names (unknown user, or setuid failed).' },

  // --- capture filters (tcpdump expressions)
  ERR_FILTER_NO_LIBPCAP: { class: 'FilterError', meaning: 'libpcap, which compiles tcpdump expressions, is not installed.' },
  ERR_FILTER_SYNTAX: { class: 'FilterError', meaning: 'libpcap refused the filter expression.' },
  ERR_FILTER_INVALID: { class: 'FilterError', meaning: 'A filter program that fails the checks the kernel makes before running one.' },

  // --- the regression harness (nmcap/harness)
  ERR_HARNESS_BAD_PACKET: { class: 'HarnessError', meaning: 'A packet description the builder cannot turn into bytes (bad address, out-of-range field...).' },
  ERR_HARNESS_BAD_EXPECTATION: { class: 'HarnessError', meaning: 'An expectation, field name or matcher option that makes no sense.' },
  ERR_HARNESS_SETTLE_TIMEOUT: { class: 'HarnessError', meaning: 'Settling did not happen within the timeout: the test cannot be judged.' },
  ERR_HARNESS_CAPTURE_LOSS: { class: 'HarnessError', meaning: 'A capture lost packets (ring overflow, backend drops, or the harness buffer limit).' },
  ERR_HARNESS_PORT: { class: 'HarnessError', meaning: 'A port could not be armed, or was used in a way its role does not allow.' },

  // --- the addon itself
  ERR_ADDON_MISSING: { class: 'AddonError', meaning: 'The native addon is not built.' },
} as const satisfies Record<string, ErrorEntry>;

export type ErrorCode = keyof typeof ERROR_CODES;
/** The codes one class carries. */
export type CodeOf<C extends ErrorClassName> = {
  [K in ErrorCode]: (typeof ERROR_CODES)[K]['class'] extends C ? K : never;
}[ErrorCode];

/** Is `code` one of nmcap's error codes? */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_CODES, code);
}

/** Base class of every error nmcap raises on purpose. `code` is stable across releases. */
export class NmcapError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A command line that cannot be run as given. Printed as one line; exit code 2. */
export class UsageError extends NmcapError {
  constructor(message: string, code: CodeOf<'UsageError'> = 'ERR_USAGE') {
    super(code, message);
  }
}

/** An options object given to the API has an unknown key or a value of the wrong type. */
export class OptionError extends NmcapError {
  constructor(code: CodeOf<'OptionError'>, message: string) {
    super(code, message);
  }
}

/** An index or argument outside what the object holds (the RangeError of nmcap's API). */
export class OutOfRangeError extends NmcapError {
  constructor(message: string) {
    super('ERR_OUT_OF_RANGE', message);
  }
}

/** A trace given to a replay cannot be read at all. */
export class TraceError extends NmcapError {
  constructor(message: string, code: CodeOf<'TraceError'> = 'ERR_TRACE_UNREADABLE') {
    super(code, message);
  }
}

/** The native addon could not be loaded. */
export class AddonError extends NmcapError {
  constructor(message: string) {
    super('ERR_ADDON_MISSING', message);
  }
}

/** Named codes of one class, spelled once in ERROR_CODES; the names keep existing callers' spelling. */
function codes<C extends ErrorClassName, T extends Record<string, CodeOf<C>>>(_class: C, named: T): T {
  return named;
}

/** Codes of PcapFormatError: something in the bytes of a capture file is wrong. */
export const PcapErrorCode = codes('PcapFormatError', {
  BAD_MAGIC: 'ERR_PCAP_BAD_MAGIC',
  TRUNCATED: 'ERR_PCAP_TRUNCATED',
  BAD_BLOCK_LENGTH: 'ERR_PCAP_BAD_BLOCK_LENGTH',
  BAD_CAPLEN: 'ERR_PCAP_BAD_CAPLEN',
  UNKNOWN_INTERFACE: 'ERR_PCAP_UNKNOWN_INTERFACE',
  UNSUPPORTED_VERSION: 'ERR_PCAP_UNSUPPORTED_VERSION',
  BAD_OPTION: 'ERR_PCAP_BAD_OPTION',
  BAD_BLOCK: 'ERR_PCAP_BAD_BLOCK',
  BAD_LINKTYPE: 'ERR_PCAP_BAD_LINKTYPE',
} as const);
export type PcapErrorCode = CodeOf<'PcapFormatError'>;

/** A capture file is malformed at byte `offset` (from the start of the stream) because of `reason`. */
export class PcapFormatError extends NmcapError {
  readonly offset: number;
  readonly reason: string;

  constructor(code: PcapErrorCode, offset: number, reason: string) {
    super(code, `${reason} (at byte offset ${offset})`);
    this.offset = offset;
    this.reason = reason;
  }
}

/** Codes of errors raised by writers and sinks: the caller asked for something the format cannot hold. */
export const WriteErrorCode = codes('PcapWriteError', {
  BAD_ARGUMENT: 'ERR_PCAP_BAD_ARGUMENT',
  LINKTYPE_MISMATCH: 'ERR_PCAP_LINKTYPE_MISMATCH',
  CLOSED: 'ERR_PCAP_WRITER_CLOSED',
} as const);
export type WriteErrorCode = CodeOf<'PcapWriteError'>;

/** A writer refused its input; nothing of the refused packet or block was written. */
export class PcapWriteError extends NmcapError {
  constructor(code: WriteErrorCode, message: string) {
    super(code, message);
  }
}

/** Codes of OutputError: the file (or pipe) that packets go to stopped taking them. */
export const OutputErrorCode = codes('OutputError', {
  NO_SPACE: 'ERR_OUTPUT_NO_SPACE',
  QUOTA: 'ERR_OUTPUT_QUOTA',
  TOO_BIG: 'ERR_OUTPUT_TOO_BIG',
  BROKEN_PIPE: 'ERR_OUTPUT_BROKEN_PIPE',
  IO: 'ERR_OUTPUT_IO',
});
export type OutputErrorCode = CodeOf<'OutputError'>;

const OUTPUT_CODE_OF_ERRNO: Record<string, OutputErrorCode> = {
  ENOSPC: OutputErrorCode.NO_SPACE,
  EDQUOT: OutputErrorCode.QUOTA,
  EFBIG: OutputErrorCode.TOO_BIG,
  EPIPE: OutputErrorCode.BROKEN_PIPE,
};

const OUTPUT_ERRNO_TEXT: Record<string, string> = {
  ENOSPC: 'No space left on device',
  EDQUOT: 'Disk quota exceeded',
  EFBIG: 'File too large',
  EPIPE: 'Broken pipe',
  EIO: 'Input/output error',
};

/**
 * A write to an output failed. `output` names it (a path, "stdout"), `cause` is the system error;
 * what did reach the output is said by the sink that raised it (ByteSink.failure).
 */
export class OutputError extends NmcapError {
  readonly output: string;
  readonly errno: string | undefined;

  constructor(output: string, cause: unknown) {
    const errno = (cause as NodeJS.ErrnoException | undefined)?.code;
    const raw = cause instanceof Error ? cause.message : String(cause);
    // Node's "ENOSPC: no space left on device, write" and a stream's "write EPIPE" read better
    // as the C library says them.
    const m = /^E[A-Z]+: (.*?)(?:, \w+)?$/.exec(raw);
    const why = OUTPUT_ERRNO_TEXT[errno ?? ''] ?? (m === null ? raw : m[1]!.charAt(0).toUpperCase() + m[1]!.slice(1));
    super(OUTPUT_CODE_OF_ERRNO[errno ?? ''] ?? OutputErrorCode.IO, `cannot write ${output}: ${why}`, { cause });
    this.output = output;
    this.errno = errno;
  }
}

/** Codes of warnings: the reader carried on, but the caller should know. Warnings are not thrown. */
export const PcapWarningCode = {
  /** The last record of the file is cut short (a capture killed mid-write); complete packets were read. */
  TRUNCATED: 'WARN_PCAP_TRUNCATED',
  /** An option with a bad length was skipped (only options that do not change how packets read). */
  BAD_OPTION: 'WARN_PCAP_BAD_OPTION',
  /** A classic pcap timestamp fraction was 1 s or more and was carried into the seconds. */
  BAD_TIMESTAMP: 'WARN_PCAP_BAD_TIMESTAMP',
} as const;
export type PcapWarningCode = (typeof PcapWarningCode)[keyof typeof PcapWarningCode];

/** Something odd but survivable in a capture file, found at byte `offset`. */
export interface PcapWarning {
  code: PcapWarningCode;
  offset: number;
  message: string;
}

/** Codes of PortError: opening or driving a port (a pipe end, a NIC through some backend) failed. */
export const PortErrorCode = codes('PortError', {
  BAD_NAME: 'ERR_PORT_BAD_NAME',
  NOT_FOUND: 'ERR_PORT_NOT_FOUND',
  DOWN: 'ERR_PORT_DOWN',
  PERMISSION: 'ERR_PORT_PERMISSION',
  NETMAP_UNAVAILABLE: 'ERR_NETMAP_UNAVAILABLE',
  BUSY: 'ERR_PORT_BUSY',
  UNSUPPORTED: 'ERR_PORT_UNSUPPORTED',
  DIVERT: 'ERR_PORT_DIVERT',
  PROTOCOL: 'ERR_PORT_PROTOCOL',
  PEER_DIED: 'ERR_PEER_DIED',
  PEER_CLOSED: 'ERR_PEER_CLOSED',
  GONE: 'ERR_PORT_GONE',
  IO: 'ERR_PORT_IO',
  CLOSED: 'ERR_PORT_CLOSED',
  PACKET_TOO_BIG: 'ERR_PACKET_TOO_BIG',
} as const);
export type PortErrorCode = CodeOf<'PortError'>;

/** A port could not be opened or stopped working. `errno` is set when a system call failed. */
export class PortError extends NmcapError {
  readonly errno: number | undefined;

  constructor(code: PortErrorCode, message: string, errno?: number) {
    super(code, message);
    this.errno = errno;
  }

  /** Wraps an error thrown by the addon (a plain Error with `code`) into its NmcapError class. */
  static from(e: unknown): PortError | unknown {
    return fromNative(e);
  }
}

/**
 * An error thrown by the addon (a plain Error whose `code` is in ERROR_CODES) as the NmcapError
 * subclass the table names; anything else is returned unchanged.
 */
export function fromNative(e: unknown): unknown {
  if (e instanceof NmcapError || !(e instanceof Error)) return e;
  const { code, errno } = e as { code?: unknown; errno?: unknown };
  if (!isErrorCode(code)) return e;
  const message = e.message;
  switch (ERROR_CODES[code].class) {
    case 'PortError':
      return new PortError(code as PortErrorCode, message, typeof errno === 'number' ? errno : undefined);
    case 'OptionError':
      return new OptionError(code as CodeOf<'OptionError'>, message);
    case 'OutOfRangeError':
      return new OutOfRangeError(message);
    case 'FilterError':
      return new FilterError(code as FilterErrorCode, message);
    default:
      return new NmcapError(code, message);
  }
}

/** The error a native session reported in its end event (code and message), as an NmcapError. */
export function endError(code: string, message: string): NmcapError {
  const e = fromNative(Object.assign(new Error(message), { code: isErrorCode(code) ? code : 'ERR_PORT_IO' }));
  return e as NmcapError;
}

/** Codes of HarnessError: the regression harness (nmcap/harness) could not build, run or judge a test. */
export const HarnessErrorCode = codes('HarnessError', {
  BAD_PACKET: 'ERR_HARNESS_BAD_PACKET',
  BAD_EXPECTATION: 'ERR_HARNESS_BAD_EXPECTATION',
  SETTLE_TIMEOUT: 'ERR_HARNESS_SETTLE_TIMEOUT',
  CAPTURE_LOSS: 'ERR_HARNESS_CAPTURE_LOSS',
  PORT: 'ERR_HARNESS_PORT',
});
export type HarnessErrorCode = CodeOf<'HarnessError'>;

/** A harness test could not be built, run or judged (a failed expectation is a result, not an error). */
export class HarnessError extends NmcapError {
  constructor(code: HarnessErrorCode, message: string) {
    super(code, message);
  }
}

/** Codes of FilterError: a capture filter expression could not be turned into a program we run. */
export const FilterErrorCode = codes('FilterError', {
  NO_LIBPCAP: 'ERR_FILTER_NO_LIBPCAP',
  SYNTAX: 'ERR_FILTER_SYNTAX',
  INVALID: 'ERR_FILTER_INVALID',
});
export type FilterErrorCode = CodeOf<'FilterError'>;

/** A capture filter could not be compiled or checked. */
export class FilterError extends NmcapError {
  constructor(code: FilterErrorCode, message: string) {
    super(code, message);
  }

  /** Wraps an error thrown by the addon's filter functions. */
  static from(e: unknown): unknown {
    return fromNative(e);
  }
}

/** Codes of replay errors about its input (the trace as a whole). */
export const ReplayErrorCode = codes('TraceError', {
  /** The trace files hold no packet at all: there is nothing to send. */
  TRACE_EMPTY: 'ERR_TRACE_EMPTY',
});
