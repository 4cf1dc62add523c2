// Error classes with stable string codes. Callers branch on `err.code`, never on the message text.
// The CLI prints `nmcap: <message>` for any NmcapError, so messages are written to stand alone on one
// line and to say what is wrong and, where it helps, what to do.

/** Base class of every error nmcap raises on purpose. `code` is stable across releases. */
export class NmcapError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Codes of PcapFormatError: something in the bytes of a capture file is wrong. */
export const PcapErrorCode = {
  /** The file starts with neither a pcap magic nor a pcapng Section Header Block. */
  BAD_MAGIC: 'ERR_PCAP_BAD_MAGIC',
  /** The file ends inside its header (a last record cut short is a warning instead). */
  TRUNCATED: 'ERR_PCAP_TRUNCATED',
  /** A pcapng block length that is too small, not a multiple of 4, absurd, or disagrees with its trailer. */
  BAD_BLOCK_LENGTH: 'ERR_PCAP_BAD_BLOCK_LENGTH',
  /** A captured length beyond its block, beyond the snap length rules, or beyond reason. */
  BAD_CAPLEN: 'ERR_PCAP_BAD_CAPLEN',
  /** A block names an interface that no Interface Description Block of its section described yet. */
  UNKNOWN_INTERFACE: 'ERR_PCAP_UNKNOWN_INTERFACE',
  /** A pcap or pcapng version this reader does not understand. */
  UNSUPPORTED_VERSION: 'ERR_PCAP_UNSUPPORTED_VERSION',
  /** An option that overruns its block or has a length its type does not allow. */
  BAD_OPTION: 'ERR_PCAP_BAD_OPTION',
  /** A block body too short for its fixed fields, or whose inner records overrun it. */
  BAD_BLOCK: 'ERR_PCAP_BAD_BLOCK',
  /** Reserved bits set in a classic pcap link-type word. */
  BAD_LINKTYPE: 'ERR_PCAP_BAD_LINKTYPE',
} as const;
export type PcapErrorCode = (typeof PcapErrorCode)[keyof typeof PcapErrorCode];

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
export const WriteErrorCode = {
  /** An argument out of range: unknown interface index, negative timestamp, a packet over 4 GiB, ... */
  BAD_ARGUMENT: 'ERR_PCAP_BAD_ARGUMENT',
  /** Classic pcap holds one link type; the input has packets of another. */
  LINKTYPE_MISMATCH: 'ERR_PCAP_LINKTYPE_MISMATCH',
  /** A write after close(). */
  CLOSED: 'ERR_PCAP_WRITER_CLOSED',
} as const;
export type WriteErrorCode = (typeof WriteErrorCode)[keyof typeof WriteErrorCode];

/** A writer refused its input; nothing of the refused packet or block was written. */
export class PcapWriteError extends NmcapError {
  constructor(code: WriteErrorCode, message: string) {
    super(code, message);
  }
}

/** Codes of OutputError: the file (or pipe) that packets go to stopped taking them. */
export const OutputErrorCode = {
  /** The file system is full (ENOSPC). */
  NO_SPACE: 'ERR_OUTPUT_NO_SPACE',
  /** A disk quota is exhausted (EDQUOT). */
  QUOTA: 'ERR_OUTPUT_QUOTA',
  /** The file reached the largest size allowed (EFBIG, ulimit -f). */
  TOO_BIG: 'ERR_OUTPUT_TOO_BIG',
  /** The reader of a pipe went away (EPIPE). */
  BROKEN_PIPE: 'ERR_OUTPUT_BROKEN_PIPE',
  /** Any other failed write (EIO, ...). */
  IO: 'ERR_OUTPUT_IO',
} as const;
export type OutputErrorCode = (typeof OutputErrorCode)[keyof typeof OutputErrorCode];

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

/** Codes of warnings: the reader carried on, but the caller should know. */
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
export const PortErrorCode = {
  BAD_NAME: 'ERR_PORT_BAD_NAME',
  NOT_FOUND: 'ERR_PORT_NOT_FOUND',
  DOWN: 'ERR_PORT_DOWN',
  PERMISSION: 'ERR_PORT_PERMISSION',
  NETMAP_UNAVAILABLE: 'ERR_NETMAP_UNAVAILABLE',
  BUSY: 'ERR_PORT_BUSY',
  UNSUPPORTED: 'ERR_PORT_UNSUPPORTED',
  PEER_DIED: 'ERR_PEER_DIED',
  PEER_CLOSED: 'ERR_PEER_CLOSED',
  GONE: 'ERR_PORT_GONE',
  IO: 'ERR_PORT_IO',
  CLOSED: 'ERR_PORT_CLOSED',
} as const;
export type PortErrorCode = (typeof PortErrorCode)[keyof typeof PortErrorCode];

/** A port could not be opened or stopped working. `errno` is set when a system call failed. */
export class PortError extends NmcapError {
  readonly errno: number | undefined;

  constructor(code: string, message: string, errno?: number) {
    super(code, message);
    this.errno = errno;
  }

  /** Wraps an error thrown by the addon (a plain Error with `code`) into a PortError. */
  static from(e: unknown): PortError | unknown {
    if (e instanceof NmcapError) return e;
    const err = e as { code?: unknown; message?: unknown; errno?: unknown };
    if (e instanceof Error && typeof err.code === 'string' && /^ERR_(PORT|PEER|NETMAP)_/.test(err.code)) {
      return new PortError(err.code, String(err.message), typeof err.errno === 'number' ? err.errno : undefined);
    }
    return e;
  }
}
