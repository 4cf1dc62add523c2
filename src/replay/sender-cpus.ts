// The CPUs this process may run on (its affinity mask, as the kernel lists it in
// /proc/self/status), so that --cpu N is checked before anything is opened.
import { readFileSync } from 'node:fs';

/** "0-3,6,8-9" as [0, 1, 2, 3, 6, 8, 9]; undefined where /proc says nothing. */
export function allowedCpus(): number[] | undefined {
  let status: string;
  try {
    status = readFileSync('/proc/self/status', 'utf8');
  } catch {
    return undefined;
  }
  const m = /^Cpus_allowed_list:\s*(.+)$/m.exec(status);
  if (!m) return undefined;
  const out: number[] = [];
  for (const part of m[1]!.trim().split(',')) {
    const [a, b] = part.split('-').map(Number);
    for (let c = a!; c <= (b ?? a!); c++) out.push(c);
  }
  return out;
}
