// -b (ring buffer) and -a (autostop) values, as dumpcap spells them: KEY:VALUE, sizes in kB of
// 1000 bytes. -a duration and -a packets map onto --duration and -c.
import type { FileStopPlan, RotationPlan } from '../capture/rotation.js';
import { UsageError, type NmcapArgs } from './common.js';

const KB = 1000;

function split(flag: string, spec: string): [string, string] {
  const i = spec.indexOf(':');
  if (i <= 0 || i === spec.length - 1) throw new UsageError(`${flag} needs KEY:VALUE (for example ${flag} filesize:1000), got "${spec}"`);
  return [spec.slice(0, i), spec.slice(i + 1)];
}

function positive(flag: string, key: string, value: string, integer: boolean): number {
  const n = Number(value);
  if (!(n > 0) || (integer && !Number.isInteger(n)) || !Number.isFinite(n)) {
    throw new UsageError(`${flag} ${key}: needs a positive ${integer ? 'whole ' : ''}number, got "${value}"`);
  }
  return n;
}

export interface FileArgs {
  rotation?: RotationPlan;
  fileStop?: FileStopPlan;
  /** from -a duration:S */
  duration?: number;
  /** from -a packets:N */
  count?: number;
}

export function parseFileArgs(a: NmcapArgs): FileArgs {
  const out: FileArgs = {};
  const rotation: RotationPlan = {};
  for (const spec of a.ringBuffer ?? []) {
    const [key, value] = split('-b', spec);
    switch (key) {
      case 'filesize':
        rotation.filesize = positive('-b', key, value, true) * KB;
        break;
      case 'duration':
        rotation.duration = positive('-b', key, value, false);
        break;
      case 'interval':
        rotation.interval = positive('-b', key, value, true);
        break;
      case 'packets':
        rotation.packets = positive('-b', key, value, true);
        break;
      case 'files':
        rotation.files = positive('-b', key, value, true);
        break;
      case 'printname':
        rotation.printname = value;
        break;
      default:
        throw new UsageError(`-b ${key}: unknown; use filesize:KB, duration:S, interval:S, packets:N, files:N or printname:FILE`);
    }
  }
  if (a.ringBuffer !== undefined) {
    if (a.write === undefined || a.write === '-') throw new UsageError('-b writes a series of files: give -w FILE (not -w -)');
    if (rotation.filesize === undefined && rotation.duration === undefined && rotation.interval === undefined && rotation.packets === undefined) {
      throw new UsageError('-b needs a rule to start a new file: filesize:KB, duration:S, interval:S or packets:N');
    }
    out.rotation = rotation;
  }
  const stop: FileStopPlan = {};
  for (const spec of a.autostop ?? []) {
    const [key, value] = split('-a', spec);
    switch (key) {
      case 'filesize':
        stop.filesize = positive('-a', key, value, true) * KB;
        break;
      case 'files':
        stop.files = positive('-a', key, value, true);
        break;
      case 'duration':
        out.duration = positive('-a', key, value, false);
        break;
      case 'packets':
        out.count = positive('-a', key, value, true);
        break;
      default:
        throw new UsageError(`-a ${key}: unknown; use duration:S, filesize:KB, files:N or packets:N`);
    }
  }
  if (stop.filesize !== undefined || stop.files !== undefined) {
    if (a.write === undefined || a.write === '-') throw new UsageError('-a filesize and -a files are about files: give -w FILE');
    if (stop.files !== undefined && out.rotation === undefined) throw new UsageError('-a files:N stops after N files of a rotation: give -b too');
    out.fileStop = stop;
  }
  return out;
}
