// Stop conditions, spelled as dumpcap's -a (autostop) and tcpdump's -c: parsed in one place for
// every -a form, so the capture and the file writer read the same limits.
import { NmcapError } from '../errors.js';

export interface StopConditions {
  /** stop after this many packets (-c N, -a packets:N; the smaller wins) */
  packets?: number;
  /** stop after this many seconds (-a duration:S, --duration S) */
  duration?: number;
  /** stop once the output file holds this many kB (1000 bytes, as dumpcap) */
  filesizeKB?: number;
  /** with rotation (-b): stop after this many files */
  files?: number;
}

/** A stop condition that cannot be understood; the CLI reports it as a usage error. */
export class StopConditionError extends NmcapError {
  constructor(message: string) {
    super('ERR_USAGE', message);
  }
}

function positive(key: string, value: string, integer: boolean): number {
  const n = Number(value);
  const ok = value.trim() !== '' && Number.isFinite(n) && n > 0 && (!integer || Number.isInteger(n));
  if (!ok) throw new StopConditionError(`-a ${key}: needs a positive ${integer ? 'whole number' : 'number'}, got "${value}"`);
  return n;
}

/**
 * Reads -a conditions (each "key:value", as dumpcap) together with -c and --duration. A key given
 * twice keeps the last value, as dumpcap does; -c and -a packets both limit, the smaller wins.
 */
export function parseStopConditions(autostop: readonly string[] = [], count?: number, duration?: number): StopConditions {
  const c: StopConditions = {};
  for (const cond of autostop) {
    const colon = cond.indexOf(':');
    const key = colon < 0 ? cond : cond.slice(0, colon);
    const value = colon < 0 ? '' : cond.slice(colon + 1);
    switch (key) {
      case 'duration':
        c.duration = positive(key, value, false);
        break;
      case 'packets':
        c.packets = positive(key, value, true);
        break;
      case 'filesize':
        c.filesizeKB = positive(key, value, true);
        break;
      case 'files':
        c.files = positive(key, value, true);
        break;
      default:
        throw new StopConditionError(`-a "${cond}": use duration:S, packets:N, filesize:KB or files:N`);
    }
  }
  if (count !== undefined) c.packets = c.packets === undefined ? count : Math.min(c.packets, count);
  if (duration !== undefined) c.duration = c.duration === undefined ? duration : Math.min(c.duration, duration);
  return c;
}
