// A link that goes down during a run is said in the final report and in --json of both tools
// (as tcpreplay does): the peer of a veth taken down and up again mid-run, between events each
// tool reports (listening, packets sent so far), never after a fixed sleep.
import { describe, expect, it } from 'vitest';

import { SO_FAR, start, tempDir, untilCount } from '../helpers/cli.js';
import { netnsUnavailable, vethBedPerTest } from '../helpers/netns.js';

const demo = new URL('../fixtures/demo.pcapng', import.meta.url).pathname;
const why = netnsUnavailable();
const tmp = tempDir();

interface Link {
  ifname: string;
  carrierChanges: number;
  wentDown: boolean;
}

describe.skipIf(why !== null)(`a link that went down during the run${why ? ` (skipped: ${why})` : ''}`, () => {
  const v = vethBedPerTest();

  it('nmcap: the peer of its interface down and up while it listens', async () => {
    const c = start('nmcap', ['-i', `af_packet:${v.bed.b}`, '-w', tmp.path('down.pcapng'), '--json'], { prefix: v.ns });
    await c.waitFor(/^listening on/);
    v.bed.exec('ip', ['link', 'set', v.bed.a, 'down']);
    v.bed.exec('ip', ['link', 'set', v.bed.a, 'up']);
    c.child.kill('SIGINT');
    const r = await c.done;
    expect(r.code, r.stderr).toBe(0);
    const links = (JSON.parse(r.stdout) as { links: Link[] }).links;
    expect(links).toEqual([expect.objectContaining({ ifname: v.bed.b, carrierChanges: 2, wentDown: true })]);
    expect(r.stderr).toMatch(/^the link of vb went down during the run.* \(carrier changed 2 times\)$/m);
  });

  it('nmcap: its interface deleted while it listens is said as gone, not as a link change', async () => {
    const c = start('nmcap', ['-i', `af_packet:${v.bed.b}`, '-w', tmp.path('gone.pcapng'), '--json'], { prefix: v.ns });
    await c.waitFor(/^listening on/);
    v.bed.exec('ip', ['link', 'del', v.bed.a]); // takes its peer vb with it
    const r = await c.done;
    const links = (JSON.parse(r.stdout) as { links: (Link & { gone: boolean })[] }).links;
    expect(links).toEqual([expect.objectContaining({ ifname: v.bed.b, gone: true, wentDown: true })]);
    expect(r.stderr).toMatch(/^the interface vb went away during the run$/m);
  });

  it('nmreplay: the peer down and up while it sends; a run with the link up says nothing', async () => {
    // Looping until stopped: the link changes while it surely still sends.
    const args = ['-i', `af_packet:${v.bed.a}`, '--rate', '2000', '-l', '0', '--json', demo];
    const r = start('nmreplay', args, { prefix: v.ns });
    await r.waitFor(/sending on/); // its signal handlers are in place
    await untilCount(r, SO_FAR.nmreplay, 10);
    v.bed.exec('ip', ['link', 'set', v.bed.b, 'down']);
    v.bed.exec('ip', ['link', 'set', v.bed.b, 'up']);
    r.child.kill('SIGINT');
    const done = await r.done;
    expect(done.code, done.stderr).toBe(130); // an interrupted replay
    const links = (JSON.parse(done.stdout) as { links: Link[] }).links;
    expect(links).toEqual([expect.objectContaining({ ifname: v.bed.a, carrierChanges: 2, wentDown: true })]);
    expect(done.stderr).toMatch(/^nmreplay: the link of va went down during the run.* \(carrier changed 2 times\)$/m);

    const quiet = start('nmreplay', ['-i', `af_packet:${v.bed.a}`, '-t', '--json', demo], { prefix: v.ns });
    const q = await quiet.done;
    expect(q.code, q.stderr).toBe(0);
    expect((JSON.parse(q.stdout) as { links: Link[] }).links).toEqual([expect.objectContaining({ carrierChanges: 0, wentDown: false })]);
    expect(q.stderr).not.toMatch(/went down/);
  });
});
