// The netmap backend on a real netmap kernel: pipes and VALE round trips, links that are down,
// interfaces that vanish, clear errors. Runs where /dev/netmap exists and skips with the reason
// elsewhere. Nothing here waits on the clock: every step waits for an event (a line on stderr, a
// process exit, a kernel counter).
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';

import { readPacketsSync } from '../../src/pcap/index.js';
import { netmapAvailable } from '../../src/ports/names.js';
import { switchLoss } from '../../src/ports/vale-loss.js';
import { pipeName, run, start, tempDir } from '../helpers/cli.js';
import { netnsUnavailable, vethBedPerTest } from '../helpers/netns.js';
import { switchDeliveries } from '../helpers/switch-model.js';

const TRACE = new URL('../fixtures/demo.pcapng', import.meta.url).pathname;
const want = readPacketsSync(readFileSync(TRACE));
// Into VALE: a trace that a learning switch floods (no frame is for a MAC it learns at the ingress
// port), so the port under test should get all of it. The demo is a conversation: VALE would keep
// 217 of its 218 frames from b, which is learning, not loss.
const FLOODED = new URL('../fixtures/print-zoo.pcap', import.meta.url).pathname;
const flooded = readPacketsSync(readFileSync(FLOODED));
const why = netmapAvailable() ? null : 'needs /dev/netmap (the netmap kernel module is not loaded here)';
const tmp = tempDir();
afterAll(() => tmp.cleanup());

/** Is `got` the trace in order with some packets missing (what a switch that drops may deliver)? */
function inOrderSubset(got: Buffer[], sent: Buffer[]): boolean {
  let j = 0;
  for (const g of got) {
    while (j < sent.length && Buffer.compare(g, sent[j]!) !== 0) j++;
    if (j === sent.length) return false;
    j++;
  }
  return true;
}

describe.skipIf(why !== null)(`netmap kernel: pipes and VALE${why ? ` (skipped: ${why})` : ''}`, () => {
  for (const order of ['reader first', 'sender first'] as const) {
    it(`netmap pipe, ${order}: every packet byte-exact`, async () => {
      const id = pipeName('nk');
      const out = tmp.path(`${id}.pcapng`);
      const capture = () => start('nmcap', ['-i', `netmap:${id}}0`, '-c', String(want.length), '-w', out, '--json']);
      let c;
      let r;
      if (order === 'reader first') {
        c = capture();
        await c.waitFor(/^listening on/);
        r = start('nmreplay', ['-i', `netmap:${id}{0`, '-t', '--json', TRACE]);
      } else {
        r = start('nmreplay', ['-i', `netmap:${id}{0`, '-t', '--json', TRACE]);
        await r.waitFor(/^nmreplay: waiting for a reader/, 30_000);
        c = capture();
      }
      const [rep, cap] = await Promise.all([r.done, c.done]);
      expect(rep.code, rep.stderr).toBe(0);
      expect(cap.code, cap.stderr).toBe(0);
      expect(JSON.parse(rep.stdout)).toMatchObject({ packets: want.length, pending: 0 });
      const got = readPacketsSync(readFileSync(out));
      expect(got.map((p) => p.data)).toEqual(want.map((p) => p.data));
    });
  }

  it('VALE (netmap): a replay into one port reaches another; any loss is counted and said', async () => {
    const sw = `vale${process.pid % 100}`;
    const out = tmp.path(`${sw}-b.pcapng`);
    const c = start('nmcap', ['-i', `${sw}:b${process.pid}`, '--vale-backend', 'netmap', '-w', out, '--json']);
    await c.waitFor(/^listening on/);
    expect(c.stderr().split('\n')[0]).toMatch(new RegExp(`^nmcap: ${sw}:b\\d+ is a port of netmap's VALE switch`));
    const rep = await run('nmreplay', ['-i', `${sw}:a${process.pid}`, '--vale-backend', 'netmap', '--rate', '2kpps', '--json', FLOODED]);
    expect(rep.code, rep.stderr).toBe(0);
    // VALE delivers inside the sender's txsync: once nmreplay has exited, everything is in b's ring or dropped.
    c.child.kill('SIGTERM');
    const cap = await c.done;
    expect(cap.code, cap.stderr).toBe(0);
    const sent = JSON.parse(rep.stdout);
    const got = readPacketsSync(readFileSync(out)).map((p) => p.data);
    // What b should get is the learning switch's answer (VALE never sends a frame back out of its
    // ingress port); for this trace that is all of it.
    const expected = switchDeliveries(flooded.map((p) => ({ port: 'a', frame: p.data })), ['b']).get('b')!;
    expect(expected).toHaveLength(flooded.length);
    expect(sent.packets).toBe(flooded.length);
    expect(inOrderSubset(got, expected)).toBe(true);
    const loss = switchLoss({ packets: sent.packets, port: `${sw}:a` }, { captured: got.length, port: `${sw}:b` }, expected.length, 'netmap');
    if (loss.lost > 0) console.warn(loss.message); // reported, never hidden
    expect(loss.received + loss.lost).toBe(expected.length);
    expect(loss.extra).toBe(0);
  });

  it('unknown ports and bad names: one line, exit 1', async () => {
    const r = await run('nmcap', ['-i', 'netmap:nosuch0', '-w', tmp.path('x.pcapng')]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^nmcap: netmap: netmap:nosuch0: /);
  });
});

const bedWhy = why ?? netnsUnavailable();
describe.skipIf(bedWhy !== null)(`netmap kernel: NIC ports on veth${bedWhy ? ` (skipped: ${bedWhy})` : ''}`, () => {
  const t = vethBedPerTest();

  it('a link that is down, ours or the peer\'s, is refused at open like af_packet\'s', async () => {
    t.bed.exec('ip', ['link', 'set', 'vb', 'down']);
    const own = await run('nmcap', ['-i', 'netmap:vb', '--divert', '-w', tmp.path('d1.pcapng')], { prefix: t.ns });
    expect(own.code).toBe(1);
    expect(own.stderr.trim()).toBe('nmcap: netmap: netmap:vb: interface vb is down: ip link set vb up');
    t.bed.exec('ip', ['link', 'set', 'vb', 'up']);
    t.bed.exec('ip', ['link', 'set', 'va', 'down']);
    const peer = await run('nmreplay', ['-i', 'netmap:vb', '-t', TRACE], { prefix: t.ns });
    expect(peer.code).toBe(1);
    expect(peer.stderr).toMatch(/^nmreplay: netmap: netmap:vb: interface vb is down \(no carrier/m);
  });

  it('the interface vanishing mid-run: the capture says the port went away and keeps what it got', async () => {
    const out = tmp.path(`${t.bed.ns}-vanish.pcapng`);
    const c = start('nmcap', ['-i', 'netmap:vb', '--divert', '-w', out, '--json'], { prefix: t.ns });
    await c.waitFor(/^listening on/);
    const r = start('nmreplay', ['-i', 'af_packet:va', '--rate', '2kpps', '-l', '0', TRACE], { prefix: t.ns });
    while (t.bed.stats('va').tx_packets < 100) await new Promise((res) => setTimeout(res, 20));
    t.bed.exec('ip', ['link', 'del', 'va']);
    const [cap] = await Promise.all([c.done, r.done]);
    expect(cap.code).toBe(1);
    expect(cap.stderr).toMatch(/went away|no longer exists/);
    const stats = JSON.parse(cap.stdout);
    expect(readPacketsSync(readFileSync(out)).length).toBe(stats.captured);
  });
});
