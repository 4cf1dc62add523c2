// Stop conditions, spelled as dumpcap's -a (autostop) and tcpdump's -c: the one home of the -a
// keys, their units (kB of 1000 bytes, as dumpcap) and their error wording. The CLI and library
// callers read them here; the capture gets packets/duration, the file writer fileStopPlan().
import { UsageError } from '../errors.js';
import type { FileStopPlan } from './rotation.js';

/** dumpcap's kB, for -a filesize and -b filesize. */
export const KB = 1000;

export interface StopConditions {
  /** stop after this many packets (-c N, -a packets:N; the smaller wins) */
  packets?: number;
  /** stop after this many seconds (-a duration:S, --duration S; the smaller wins) */
  duration?: number;
  /** stop once the output file holds this many kB (1000 bytes, as dumpcap) */
  filesizeKB?: number;
  /** with rotation (-b): stop after this many files */
  files?: number;
}

/**
 * A KEY:VALUE value of `flag` (-a, -b) that must be a positive (whole) number; otherwise a
 * UsageError saying so, in the words every such flag uses.
 */
export function positiveValue(flag: string, key: string, value: string, integer: boolean): number {
  const n = Number(value);
  const ok = value.trim() !== '' && Number.isFinite(n) && n > 0 && (!integer || Number.isInteger(n));
  if (!ok) throw new UsageError(`${flag} ${key}: needs a positive ${integer ? 'whole number' : 'number'}, got "${value}"`);
  return n;
}

/**
 * Reads -a conditions (each "key:value", as dumpcap) together with -c and --duration. A key given
 * twice keeps the last value, as dumpcap does; -c and -a packets both limit, the smaller wins, and
 * so do --duration and -a duration. Throws UsageError (ERR_USAGE) with one line.
 */
export function parseStopConditions(autostop: readonly string[] = [], count?: number, duration?: number): StopConditions {
  const c: StopConditions = {};
  for (const cond of autostop) {
    const colon = cond.indexOf(':');
    const key = colon < 0 ? cond : cond.slice(0, colon);
    const value = colon < 0 ? '' : cond.slice(colon + 1);
    switch (key) {
      case 'duration':
        c.duration = positiveValue('-a', key, value, false);
        break;
      case 'packets':
        c.packets = positiveValue('-a', key, value, true);
        break;
      case 'filesize':
        c.filesizeKB = positiveValue('-a', key, value, true);
        break;
      case 'files':
        c.files = positiveValue('-a', key, value, true);
        break;
      default:
        throw new UsageError(`-a "${cond}": use duration:S, packets:N, filesize:KB or files:N`);
    }
  }
  if (count !== undefined) c.packets = c.packets === undefined ? count : Math.min(c.packets, count);
  if (duration !== undefined) c.duration = c.duration === undefined ? duration : Math.min(c.duration, duration);
  return c;
}

/**
 * The file writer's part of the stop conditions (-a filesize in bytes, -a files), or undefined when
 * there is none. Both are about files written by name: `toFile` says there is one (-w FILE, not
 * stdout), `rotating` that -b is on, which -a files needs.
 */
export function fileStopPlan(c: StopConditions, toFile: boolean, rotating: boolean): FileStopPlan | undefined {
  if (c.filesizeKB === undefined && c.files === undefined) return undefined;
  if (!toFile) throw new UsageError('-a filesize:KB and -a files:N are about files: give -w FILE (not -w -)');
  if (c.files !== undefined && !rotating) throw new UsageError('-a files:N stops after N files of a rotation: give -b too');
  const plan: FileStopPlan = {};
  if (c.filesizeKB !== undefined) plan.filesize = c.filesizeKB * KB;
  if (c.files !== undefined) plan.files = c.files;
  return plan;
}
