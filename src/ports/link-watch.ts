// Did the link go down while a port was in use? Ports are checked for a link at open only; this
// reads the kernel's own record of the interface at the start and at the end of a run, never per
// packet: carrier_changes counts every carrier change (our end taken down, or a veth peer's), and
// operstate says how it is now. tcpreplay reports a link that went down the same way.
import { readFileSync } from 'node:fs';

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
}

function sysfs(ifname: string, attr: string): string | undefined {
  try {
    return readFileSync(`/sys/class/net/${ifname}/${attr}`, 'utf8').trim();
  } catch {
    return undefined; // no such interface here (a pipe, a netmap VALE port), or it went away
  }
}

const isDown = (state: string): boolean => state === 'down' || state === 'lowerlayerdown' || state === 'notpresent';

export class LinkWatch {
  private constructor(
    readonly ifname: string,
    private readonly changesAtStart: number,
  ) {}

  /** Starts watching the interface; undefined where it is no network interface of this namespace. */
  static start(ifname: string | undefined): LinkWatch | undefined {
    if (!ifname || ifname.includes('/')) return undefined;
    const changes = sysfs(ifname, 'carrier_changes');
    if (changes === undefined || !/^\d+$/.test(changes)) return undefined;
    return new LinkWatch(ifname, Number(changes));
  }

  /** What happened since start(). An interface gone by now reads as down, with the changes unknown (0). */
  end(): LinkReport {
    const now = sysfs(this.ifname, 'carrier_changes');
    const state = sysfs(this.ifname, 'operstate');
    const gone = state === undefined;
    const changes = now !== undefined && /^\d+$/.test(now) ? Math.max(0, Number(now) - this.changesAtStart) : 0;
    const downAtEnd = gone || isDown(state);
    return { ifname: this.ifname, carrierChanges: changes, operstateAtEnd: state ?? 'gone', wentDown: changes > 0 || downAtEnd, downAtEnd, gone };
  }
}

/** One report line for a link that went down, or undefined when it stayed up. */
export function linkDownLine(r: LinkReport): string | undefined {
  if (!r.wentDown) return undefined;
  if (r.gone) return `the interface ${r.ifname} went away during the run`;
  const times = `carrier changed ${r.carrierChanges} time${r.carrierChanges === 1 ? '' : 's'}`;
  return `the link of ${r.ifname} went down during the run${r.downAtEnd ? ` and is ${r.operstateAtEnd} at the end` : ''} (${times})`;
}
