// A bridge-backed VALE port (`valeX:Y` without netmap: a veth pair, one end on a Linux bridge,
// ours opened through AF_PACKET) whose veth goes down mid-run: both tools say so in the report
// and in --json `links` (read through our veth end, named in `via`), and end as any run does
// (a capture stopped by SIGINT exits 0, an interrupted replay 130). A run whose link stayed up
// says nothing, although its veth is deleted when the port closes. Real namespace, real bridge;
// the link changes between events the tools report, never after a fixed sleep.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { linuxNames } from '../../src/ports/vale-bridge.js';
import { SO_FAR, start, tempDir, untilCount, type Running } from '../helpers/cli.js';
import { netnsUnavailable } from '../helpers/netns.js';
import { BRIDGE_ENV, createNamespace, type Namespace } from '../helpers/vale.js';

const demo = new URL('../fixtures/demo.pcapng', import.meta.url).pathname;
const why = netnsUnavailable();
const tmp = tempDir();

interface Link {
  ifname: string;
  via?: string;
  carrierChanges: number;
  wentDown: boolean;
  downAtEnd: boolean;
  gone: boolean;
}

describe.skipIf(why !== null)(`bridge-backed VALE: a veth that went down during the run${why ? ` (skipped: ${why})` : ''}`, () => {
  let n: Namespace;
  beforeEach(() => {
    n = createNamespace();
  });
  afterEach(() => {
    n.destroy();
  });
  const opts = () => ({ prefix: n.prefix, env: BRIDGE_ENV });
  const bounce = (ifname: string): void => {
    n.ip(['link', 'set', ifname, 'down']);
    n.ip(['link', 'set', ifname, 'up']);
  };
  /** SIGINT, then the exit code it must give, and the run's --json links. */
  async function interrupt(run: Running, code: number): Promise<{ stderr: string; links: Link[] }> {
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.code, r.stderr).toBe(code);
    return { stderr: r.stderr, links: (JSON.parse(r.stdout) as { links: Link[] }).links };
  }

  it('nmcap on vale0:b: the bridge end of its veth down and up while it listens', async () => {
    const { inner, outer } = linuxNames('vale0', 'b');
    const c = start('nmcap', ['-i', 'vale0:b', '-w', tmp.path(`${n.ns}-b.pcapng`), '--json'], opts());
    await c.waitFor(/^listening on/);
    bounce(inner);
    const r = await interrupt(c, 0);
    expect(r.links).toEqual([expect.objectContaining({ ifname: 'vale0:b', via: outer, carrierChanges: 2, wentDown: true, downAtEnd: false, gone: false })]);
    expect(r.stderr).toMatch(new RegExp(`^the link of vale0:b \\(veth ${outer}\\) went down during the run \\(carrier changed 2 times\\)$`, 'm'));
    expect(n.valeLinks()).toEqual([]); // and the port is gone with the capture
  });

  it('nmcap on vale0:b: our end taken down and left down: said as down at the end, exit 0', async () => {
    const { outer } = linuxNames('vale0', 'b');
    const c = start('nmcap', ['-i', 'vale0:b', '-w', tmp.path(`${n.ns}-own.pcapng`), '--json'], opts());
    await c.waitFor(/^listening on/);
    n.ip(['link', 'set', outer, 'down']);
    const r = await interrupt(c, 0); // a capture stopped by Ctrl-C, whatever its link did
    expect(r.links).toEqual([expect.objectContaining({ ifname: 'vale0:b', via: outer, wentDown: true, downAtEnd: true, gone: false })]);
    expect(r.stderr).toMatch(new RegExp(`^the link of vale0:b \\(veth ${outer}\\) went down during the run and is down at the end \\(carrier changed \\d+ times?\\)$`, 'm'));
    expect(n.valeLinks()).toEqual([]);
  });

  it('nmreplay into vale0:a: the bridge end down and up while it sends, exit 130; a run with the link up says nothing', async () => {
    const { inner, outer } = linuxNames('vale0', 'a');
    const r = start('nmreplay', ['-i', 'vale0:a', '--rate', '2000', '-l', '0', '--json', demo], opts());
    await r.waitFor(/sending on/); // its signal handlers are in place
    await untilCount(r, SO_FAR.nmreplay, 10);
    bounce(inner);
    const done = await interrupt(r, 130); // an interrupted replay
    expect(done.links).toEqual([expect.objectContaining({ ifname: 'vale0:a', via: outer, carrierChanges: 2, wentDown: true, gone: false })]);
    expect(done.stderr).toMatch(new RegExp(`^nmreplay: the link of vale0:a \\(veth ${outer}\\) went down during the run \\(carrier changed 2 times\\)$`, 'm'));

    // The port's veth pair is deleted at close, before the report: that is no link going away.
    const q = await start('nmreplay', ['-i', 'vale0:a', '-t', '--json', demo], opts()).done;
    expect(q.code, q.stderr).toBe(0);
    expect((JSON.parse(q.stdout) as { links: Link[] }).links).toEqual([expect.objectContaining({ ifname: 'vale0:a', via: outer, carrierChanges: 0, wentDown: false, gone: false })]);
    expect(q.stderr).not.toMatch(/went (down|away)/);
    expect(n.valeLinks()).toEqual([]);
  });
});
