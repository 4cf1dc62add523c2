// nmcap's command line. `main` parses (the fast scanner first, yargs for everything else), then runs
// the mode. Offline reading (-r) is implemented here; live capture (-i) will slot in beside it.
// Errors end as one `nmcap: ...` line on stderr: exit 2 for usage, 1 at run time, 130 after Ctrl-C.

import { assertReadable } from '../files.js';
import { scanArgs } from './argv.js';
import { EXIT_OK, NMCAP_OPTIONS, reportError, validateArgs, type NmcapArgs } from './common.js';

const USAGE = `Usage: $0 -i PORT [-w OUT.pcapng] [-s SNAPLEN] [-c N] [--duration S] [-p] [--divert] [--json]
       $0 -r FILE [-w OUT [-F pcapng|pcap|pcap-ns]] [-c N] [--json] [-q] [-e] [-t...] [--nano]

-i captures live from every RX ring of PORT into pcapng (-w -: stdout); without -w it prints one
line per packet, like tcpdump -n. PORT: pipe:NAME}N (shared-memory pipe), an interface (eth0: the
best passive backend), or af_packet:IF, af_xdp:IF, netmap:IF, valeX:Y to force one. Capture is
passive: af_xdp:IF takes every frame away from the host stack while it runs, so it needs --divert.
-r reads a pcap or pcapng capture: prints it (--json: one JSON object per line) or rewrites it with
-w (pcapng by default, classic pcap with -F pcap).`;

export async function main(argv: string[]): Promise<void> {
  try {
    let args = scanArgs(argv, NMCAP_OPTIONS);
    if (args === undefined) {
      const { parseWithYargs } = await import('./yargs-args.js');
      const parsed = await parseWithYargs(argv, NMCAP_OPTIONS, {
        scriptName: 'nmcap',
        usage: USAGE,
        positionalHint: 'filter expressions are not supported',
      });
      if (parsed === null) {
        process.exitCode = EXIT_OK;
        return;
      }
      args = parsed;
    }
    const a = args as NmcapArgs;
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
