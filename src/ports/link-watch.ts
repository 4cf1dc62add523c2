// Did the link go down while a port was in use? Ports are checked for a link at open only; this
// reads the kernel's own record of the interface at the start and at the end of a run, never per
// packet: carrier_changes counts every carrier change (our end taken down, or a veth peer's), and
// operstate says how it is now. tcpreplay reports a link that went down the same way.
// A bridge-backed VALE port (vale-bridge.ts) is watched through our end of its veth pair: that
// end's carrier changes when it is taken down and when the bridge's end is.
import { readFileSync } from 'node:fs';

import { isValeName, onValePortRemoval, parseValeBridgeName } from './vale-bridge.js';

/** What the kernel says of an interface's link between the start and the end of a run. */
export interface LinkReport {
  ifname: string;
  /** carrier changes during the run (down and up each count one) */
  carrierChanges: number;
  /** operstate at the end (up, down, lowerlayerdown, ...) */
  operstateAtEnd: string;
  /** the link was down at some point during the run */
  wentDown: boolean;
  /** ... and still is at the end */
  downAtEnd: boolean;
  /** the interface no longer exists at the end (deleted, or its namespace went away) */
  gone: boolean;
  /** the Linux interface whose link was read, where it is not `ifname` (a bridge-backed VALE port's veth end) */
  via?: string;
}

function sysfs(ifname: string, attr: string): string | undefined {
  try {
    return readFileSync(`/sys/class/net/${ifname}/${attr}`, 'utf8').trim();
  } catch {
    return undefined; // no such interface here (a pipe, a netmap VALE port), or it went away
  }
}

const isDown = (state: string): boolean => state === 'down' || state === 'lowerlayerdown' || state === 'notpresent';

/** Our veth end of a bridge-backed VALE port, or undefined for any other name. */
function valeVeth(name: string): string | undefined {
  if (!isValeName(name)) return undefined;
  try {
    return parseValeBridgeName(name).outer;
  } catch {
    return undefined; // a name only netmap's VALE takes: no Linux interface behind it
  }
}

export class LinkWatch {
  private atRemoval: LinkReport | undefined;

  private constructor(
    readonly ifname: string,
    private readonly sysName: string,
    private readonly changesAtStart: number,
  ) {}

  /**
   * Starts watching the interface (or a bridge-backed VALE port's veth); undefined where it is no
   * network interface of this namespace (a pipe, a netmap VALE port).
   */
  static start(ifname: string | undefined): LinkWatch | undefined {
    if (!ifname) return undefined;
    const veth = valeVeth(ifname);
    const sysName = veth ?? ifname;
    if (sysName.includes('/')) return undefined;
    const changes = sysfs(sysName, 'carrier_changes');
    if (changes === undefined || !/^\d+$/.test(changes)) return undefined;
    const w = new LinkWatch(ifname, sysName, Number(changes));
    // Closing the port deletes its veth pair: read the link's record just before.
    if (veth) onValePortRemoval(veth, () => (w.atRemoval = w.read()));
    return w;
  }

  /** What happened since start(). An interface gone by now reads as down, with the changes unknown (0). */
  end(): LinkReport {
    return this.atRemoval ?? this.read();
  }

  private read(): LinkReport {
    const now = sysfs(this.sysName, 'carrier_changes');
    const state = sysfs(this.sysName, 'operstate');
    const gone = state === undefined;
    const changes = now !== undefined && /^\d+$/.test(now) ? Math.max(0, Number(now) - this.changesAtStart) : 0;
    const downAtEnd = gone || isDown(state);
    const r: LinkReport = { ifname: this.ifname, carrierChanges: changes, operstateAtEnd: state ?? 'gone', wentDown: changes > 0 || downAtEnd, downAtEnd, gone };
    if (this.sysName !== this.ifname) r.via = this.sysName;
    return r;
  }
}

/** One report line for a link that went down, or undefined when it stayed up. */
export function linkDownLine(r: LinkReport): string | undefined {
  if (!r.wentDown) return undefined;
  const name = r.via ? `${r.ifname} (veth ${r.via})` : r.ifname;
  if (r.gone) return `the interface ${name} went away during the run`;
  const times = `carrier changed ${r.carrierChanges} time${r.carrierChanges === 1 ? '' : 's'}`;
  return `the link of ${name} went down during the run${r.downAtEnd ? ` and is ${r.operstateAtEnd} at the end` : ''} (${times})`;
}
