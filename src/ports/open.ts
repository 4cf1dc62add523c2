// Opening a port by name: tries the candidates of a bare interface name in order and says which
// one it took (and why the better ones were skipped).
import { PortError, PortErrorCode } from '../errors.js';
import { native, type NativePort, type NativePortInfo, type PortOptions } from './binding.js';
import { divertsTraffic, resolvePortName, type PortDirection } from './names.js';

export interface OpenedPort {
  port: NativePort;
  info: NativePortInfo;
  /** the explicit name that was opened, e.g. "af_packet:eth0" */
  name: string;
  /** when a backend was chosen for a bare name: one line saying which and why */
  choice?: string;
}

// Failures that concern one backend only: the next candidate may still work.
const BACKEND_SPECIFIC = new Set<string>([
  PortErrorCode.BUSY,
  PortErrorCode.UNSUPPORTED,
  PortErrorCode.PERMISSION,
  PortErrorCode.NETMAP_UNAVAILABLE,
]);

export interface OpenPortOptions extends PortOptions {
  /** receive on af_xdp:IF although it takes every frame away from the host stack (default false) */
  divert?: boolean;
}

export function openPort(spec: string, direction: PortDirection, opts: OpenPortOptions = {}): OpenedPort {
  const { divert, ...options } = opts;
  if (direction === 'rx' && divertsTraffic(spec) && divert !== true) {
    throw new PortError(
      PortErrorCode.DIVERT,
      `${spec.trim()} takes every frame away from the host stack while it receives: pass divert: true to do that anyway, or use af_packet:`,
    );
  }
  const resolved = resolvePortName(spec, direction);
  const skipped: string[] = [];
  let lastError: unknown;
  for (const c of resolved.candidates) {
    try {
      const port = new native.Port(c.name, { ...options, direction });
      const info = port.info();
      let choice: string | undefined;
      if (resolved.auto) {
        choice = `using ${c.name} (${info.mode || info.backend})`;
        if (skipped.length) choice += `; skipped ${skipped.join('; ')}`;
      }
      return { port, info, name: c.name, choice };
    } catch (e) {
      const err = PortError.from(e);
      lastError = err;
      if (!resolved.auto || !(err instanceof PortError) || !BACKEND_SPECIFIC.has(err.code)) throw err;
      skipped.push(`${c.name}: ${err.message}`);
    }
  }
  throw lastError;
}
