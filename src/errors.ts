// Error classes with stable string codes. Callers branch on `err.code`, never on the message text.

/** Base class of every error nmcap raises on purpose. `code` is stable across releases. */
export class NmcapError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
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
