// nmcap's command line. `main` parses (the fast scanner first, yargs for everything else), then runs
// the mode. Offline reading (-r) is implemented here; live capture (-i) will slot in beside it.
// Errors end as one `nmcap: ...` line on stderr: exit 2 for usage, 1 at run time, 130 after Ctrl-C.

import { assertReadable } from '../files.js';
import { scanArgs } from './argv.js';
import { EXIT_OK, NMCAP_OPTIONS, UsageError, reportError, validateArgs, type NmcapArgs } from './common.js';

/** Parsed options into NmcapArgs: every -i in `interfaces` (the first in `interface`), and the
 *  filter from -f or from the words after the options (tcpdump's way), not both. */
function normalizeArgs(args: Record<string, unknown>): NmcapArgs {
  const { interface: ifs, expression, ...rest } = args as { interface?: string[]; expression?: string[] };
  const a = rest as NmcapArgs;
  if (ifs !== undefined) {
    a.interfaces = ifs;
    a.interface = ifs[0];
  }
  if (expression !== undefined && expression.length > 0) {
    if (a.filter !== undefined) throw new UsageError('give the filter either with -f or after the options, not both');
    a.filter = expression.join(' ');
  }
  if (a.filter !== undefined && a.filter.trim() === '') throw new UsageError('the filter expression is empty');
  return a;
}

const USAGE = `Usage: $0 -i PORT... [-w OUT] [-s N] [-c N] [-a COND] [-Z USER] [-p] [--divert] [EXPR]
       $0 -r FILE [-w OUT [-F pcapng|pcap|pcap-ns]] [-c N] [--json] [-q] [-e] [-t...] [--nano] [EXPR]
       $0 -D
       $0 --diff EXPECTED ACTUAL [--ignore FIELD,...] [--unordered|--per-flow] [--timing T] [--json]

-i captures live from every RX ring of PORT into pcapng (-w -: stdout); without -w it prints one
line per packet, like tcpdump -n. PORT: pipe:NAME}N (shared-memory pipe), an interface (eth0: the
best passive backend), or af_packet:IF, af_xdp:IF, netmap:IF, valeX:Y to force one. Capture is
passive: af_xdp:IF takes every frame away from the host stack while it runs, so it needs --divert.
EXPRESSION (or -f) is a tcpdump filter, compiled by libpcap and run in the kernel where the backend
allows (AF_PACKET).
-r reads a pcap or pcapng capture: prints it (--json: one JSON object per line) or rewrites it with
-w (pcapng by default, classic pcap with -F pcap); EXPRESSION keeps only the packets it accepts.`;

export async function main(argv: string[]): Promise<void> {
  try {
    if (argv.includes('--diff')) {
      const { runDiff } = await import('./nmcap-diff.js'); // its own options: see nmcap-diff.ts
      process.exitCode = await runDiff(argv);
      return;
    }
    let args = scanArgs(argv, NMCAP_OPTIONS);
    if (args === undefined) {
      const { parseWithYargs } = await import('./yargs-args.js');
      const parsed = await parseWithYargs(argv, NMCAP_OPTIONS, { scriptName: 'nmcap', usage: USAGE, positional: 'expression' });
      if (parsed === null) {
        process.exitCode = EXIT_OK;
        return;
      }
      args = parsed;
    }
    const a = normalizeArgs(args);
    if (a.listInterfaces) {
      const { listInterfaces } = await import('./nmcap-list.js');
      process.exitCode = listInterfaces();
      return;
    }
    validateArgs(a);
    if (a.interface !== undefined) {
      const { runLive } = await import('./nmcap-live.js');
      process.exitCode = await runLive(a);
      return;
    }
    if (a.read !== '-') assertReadable(a.read!);
    const { runOffline } = await import('./nmcap-offline.js');
    process.exitCode = await runOffline(a);
  } catch (err) {
    process.exitCode = reportError(err);
  }
}
