// -Z USER: once the ports are open, the capture runs on as USER (as tcpdump -Z and dumpcap do):
// supplementary groups from the group database, then the user's primary group, then the user,
// in that order (each later step removes the right to take the earlier ones). The user is looked
// up in /etc/passwd; nothing runs a shell or another program.
import { readFileSync } from 'node:fs';

import { NmcapError } from '../errors.js';

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}

export class PrivilegeError extends NmcapError {
  constructor(message: string) {
    super('ERR_PRIVILEGES', message);
  }
}

/** The user named `user` (a name or a numeric uid), from /etc/passwd. */
export function lookupUser(user: string, passwd = readFileSync('/etc/passwd', 'utf8')): PasswdEntry {
  for (const line of passwd.split('\n')) {
    const f = line.split(':');
    if (f.length < 4 || line.startsWith('#')) continue;
    if (f[0] === user || (/^\d+$/.test(user) && f[2] === user)) return { name: f[0]!, uid: Number(f[2]), gid: Number(f[3]) };
  }
  throw new PrivilegeError(`-Z ${user}: no such user in /etc/passwd`);
}

/** Becomes `user` for good; throws PrivilegeError (one line) if any step fails. */
export function dropPrivileges(user: string): PasswdEntry {
  const u = lookupUser(user);
  try {
    // In Node since 0.9 on POSIX; missing from the type definitions this project uses.
    (process as unknown as { initgroups(user: string, group: number): void }).initgroups(u.name, u.gid);
    process.setgid!(u.gid);
    process.setuid!(u.uid);
  } catch (e) {
    throw new PrivilegeError(`-Z ${user}: cannot switch to uid ${u.uid} gid ${u.gid}: ${(e as Error).message} (run as root to use -Z)`);
  }
  // The saved set-user-ID went too: getting root back must be impossible.
  let regained = false;
  try {
    process.setuid!(0);
    regained = u.uid !== 0;
  } catch {
    // expected
  }
  if (regained) throw new PrivilegeError(`-Z ${user}: root could be regained after the switch; stopping`);
  return u;
}
