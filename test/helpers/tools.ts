// Running the peer tools (tshark, capinfos, editcap, mergecap, text2pcap, tcpdump) from tests.
import { spawnSync } from 'node:child_process';

export function have(cmd: string): boolean {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0;
}

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a tool; stderr loses tshark's "running as root" notice, which is not an error. */
export function run(cmd: string, args: string[], opts: { input?: string | Buffer; env?: NodeJS.ProcessEnv } = {}): Run {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: opts.input, env: { ...process.env, ...opts.env }, maxBuffer: 256 * 1024 * 1024 });
  const stderr = (r.stderr ?? '')
    .split('\n')
    .filter((l) => !/Running as user "root"|This could be dangerous/.test(l) && l.trim() !== '')
    .join('\n');
  return { status: r.status, stdout: r.stdout ?? '', stderr };
}

/** tshark's view of a file: one array of field strings per packet. */
export function tsharkFields(path: string, fields: string[]): { rows: string[][]; stderr: string; status: number | null } {
  const r = run('tshark', ['-r', path, '-T', 'fields', ...fields.flatMap((f) => ['-e', f])]);
  const rows = r.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split('\t'));
  return { rows, stderr: r.stderr, status: r.status };
}

/** "1700000000.123456789" (tshark frame.time_epoch) as exact nanoseconds. */
export function epochToNs(s: string): bigint {
  const [sec, frac = ''] = s.split('.');
  return BigInt(sec!) * 1_000_000_000n + BigInt((frac + '000000000').slice(0, 9));
}
