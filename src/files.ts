// Input files checked before anything else is done with them, so a failure names the file (a read
// of a directory fails with EISDIR and no path) and comes before any port is opened.
import { accessSync, constants, statSync } from 'node:fs';

import { TraceError } from './errors.js';

/** Throws TraceError (ERR_TRACE_UNREADABLE) `PATH: why` unless `path` is a readable file or stream. */
export function assertReadable(path: string): void {
  let why: string | undefined;
  try {
    accessSync(path, constants.R_OK);
    if (statSync(path).isDirectory()) why = 'Is a directory';
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    why = code === 'ENOENT' ? 'No such file or directory' : code === 'EACCES' ? 'Permission denied' : (e as Error).message;
  }
  if (why !== undefined) throw new TraceError(`${path}: ${why}`);
}
