// Opening a port by name: tries the candidates of a bare interface name in order and says which
// one it took (and why the better ones were skipped). VALE names go to netmap's switch where
// /dev/netmap exists and to a Linux bridge elsewhere (src/ports/vale-bridge.ts).
import { PortError, PortErrorCode } from '../errors.js';
import { native, type NativePort, type NativePortInfo, type PortOptions } from './binding.js';
import { divertsTraffic, resolvePortName, type Backend, type PortCandidate, type PortDirection } from './names.js';
import { chooseValeBackend, isValeName, openValeBridgePort } from './vale-bridge.js';

export interface OpenedPort {
  port: NativePort;
  info: NativePortInfo;
  /** the explicit name that was opened, e.g. "af_packet:eth0" */
  name: string;
  /** when a backend was chosen for a bare name (or a VALE switch): one line saying which and why */
  choice?: string;
  /** a bridge-backed VALE port: the Linux bridge and veth ends behind it */
  switch?: { switchName: string; bridge: string; inner: string; outer: string };
}

export interface OpenPortOptions extends PortOptions {
  /** VALE names: netmap's switch or a Linux bridge (default: NMCAP_VALE_BACKEND, else netmap if /dev/netmap exists) */
  valeBackend?: string;
  /** receive on af_xdp:IF although it takes every frame away from the host stack (default false) */
  divert?: boolean;
}

// Failures that concern one backend only: the next candidate may still work.
const BACKEND_SPECIFIC = new Set<string>([
  PortErrorCode.BUSY,
  PortErrorCode.UNSUPPORTED,
  PortErrorCode.PERMISSION,
  PortErrorCode.NETMAP_UNAVAILABLE,
]);

// netmap on a bare interface name is a first try only: the module (or its generic adapter) may not
// take this interface at all, which shows as an I/O-class error; AF_PACKET/AF_XDP may still work.
const NETMAP_FALLBACK = new Set<string>([PortErrorCode.IO, PortErrorCode.NOT_FOUND]);

/** Does a failure of this backend, for a bare name, let the next candidate try? */
export function fallsBack(backend: Backend, code: string): boolean {
  return BACKEND_SPECIFIC.has(code) || (backend === 'netmap' && NETMAP_FALLBACK.has(code));
}

type Opener = (c: PortCandidate) => { port: NativePort; info: NativePortInfo };

/** Tries the candidates in order; exported with its opener so the choice can be tested without a kernel. */
export function openFirst(candidates: PortCandidate[], auto: boolean, open: Opener): OpenedPort {
  const skipped: string[] = [];
  let lastError: unknown;
  for (const c of candidates) {
    try {
      const { port, info } = open(c);
      let choice: string | undefined;
      if (auto) {
        choice = `using ${c.name} (${info.mode || info.backend})`;
        if (skipped.length) choice += `; skipped ${skipped.join('; ')}`;
      }
      return { port, info, name: c.name, choice };
    } catch (e) {
      const err = PortError.from(e);
      lastError = err;
      if (!auto || !(err instanceof PortError) || !fallsBack(c.backend, err.code)) throw err;
      skipped.push(`${c.name}: ${err.message}`);
    }
  }
  throw lastError;
}

/** A port opened both ways (the harness sends and captures on each) resolves bare names as a receiver. */
export type OpenDirection = PortDirection | 'both';

export function openPort(spec: string, direction: OpenDirection, options: OpenPortOptions = {}): OpenedPort {
  const { valeBackend, divert, ...portOptions } = options;
  if (direction !== 'tx' && divertsTraffic(spec) && divert !== true) {
    throw new PortError(
      PortErrorCode.DIVERT,
      `${spec.trim()} takes every frame away from the host stack while it receives: pass divert: true to do that anyway, or use af_packet:`,
    );
  }
  if (isValeName(spec.trim())) {
    const sw = chooseValeBackend(valeBackend);
    if (sw.backend === 'bridge') return openValeBridgePort(spec.trim(), direction, portOptions, sw.why);
    const opened = openFirst([{ backend: 'netmap', name: spec.trim() }], false, nativeOpener(direction, portOptions));
    return { ...opened, choice: `${spec.trim()} is a port of netmap's VALE switch (${sw.why})` };
  }
  const resolved = resolvePortName(spec, direction === 'both' ? 'rx' : direction);
  return openFirst(resolved.candidates, resolved.auto, nativeOpener(direction, portOptions));
}

function nativeOpener(direction: OpenDirection, options: PortOptions): Opener {
  return (c) => {
    const port = new native.Port(c.name, { ...options, direction });
    return { port, info: port.info() };
  };
}
