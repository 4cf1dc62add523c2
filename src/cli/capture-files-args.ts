// -b (ring buffer) values, as dumpcap spells them: KEY:VALUE, sizes in kB of 1000 bytes; and the
// file writer's stop conditions (-a filesize/files), read from the one -a parser in capture/stop.
import { KB, fileStopPlan, positiveValue, type StopConditions } from '../capture/stop.js';
import type { FileStopPlan, RotationPlan } from '../capture/rotation.js';
import { UsageError, type NmcapArgs } from './common.js';

function split(flag: string, spec: string): [string, string] {
  const i = spec.indexOf(':');
  if (i <= 0 || i === spec.length - 1) throw new UsageError(`${flag} needs KEY:VALUE (for example ${flag} filesize:1000), got "${spec}"`);
  return [spec.slice(0, i), spec.slice(i + 1)];
}

export interface FileArgs {
  rotation?: RotationPlan;
  fileStop?: FileStopPlan;
}

/** -b, and the file stops among the already parsed -a conditions (which need -w FILE, and -b for files:N). */
export function parseFileArgs(a: NmcapArgs, stop: StopConditions): FileArgs {
  const out: FileArgs = {};
  const rotation: RotationPlan = {};
  for (const spec of a.ringBuffer ?? []) {
    const [key, value] = split('-b', spec);
    switch (key) {
      case 'filesize':
        rotation.filesize = positiveValue('-b', key, value, true) * KB;
        break;
      case 'duration':
        rotation.duration = positiveValue('-b', key, value, false);
        break;
      case 'interval':
        rotation.interval = positiveValue('-b', key, value, true);
        break;
      case 'packets':
        rotation.packets = positiveValue('-b', key, value, true);
        break;
      case 'files':
        rotation.files = positiveValue('-b', key, value, true);
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
  const fileStop = fileStopPlan(stop, a.write !== undefined && a.write !== '-', out.rotation !== undefined);
  if (fileStop !== undefined) out.fileStop = fileStop;
  return out;
}
