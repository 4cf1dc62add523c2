// The daily-use features on veth in a namespace (AF_PACKET): two -i into one file, -Z dropping
// root once the packet sockets are open (they keep working), stop at a count over both ports.
import { chmodSync, readFileSync, statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { PcapWriter, openSink, readPacketsSync } from '../../src/pcap/index.js';
import { run, start, tempDir } from '../helpers/cli.js';
import { createVethBed, netnsUnavailable, type VethBed } from '../helpers/netns.js';
import { scaled } from '../helpers/slowness.mjs';

const why = netnsUnavailable();
const N = 200;

describe.skipIf(why !== null)(`daily use on veth${why ? ` (skipped: ${why})` : ''}`, () => {
  const tmp = tempDir('nmcap-dv-');
  let bed: VethBed;
  let trace: string;
  beforeAll(async () => {
    chmodSync(tmp.dir, 0o777); // the capture writes its file as nobody
    bed = createVethBed();
    trace = tmp.path('t.pcap');
    const w = new PcapWriter(openSink(trace), { linkType: 1, snapLen: 65535 });
    for (let i = 0; i < N; i++) {
      const d = Buffer.alloc(80, i & 0xff);
      Buffer.from([0x02, 0, 0, 0, 0, 0x0b, 0x02, 0, 0, 0, 0, 0x0a, 0x88, 0xb5]).copy(d);
      d.writeUInt32BE(i, 14);
      w.writePacket({ ts: BigInt(i) * 1000n, data: d });
    }
    await w.close();
  });
  afterAll(() => {
    bed?.destroy();
    tmp.cleanup();
  });

  it('-i va -i vb -Z nobody: one file, one IDB per port, every frame received on its port, inbound', async () => {
    const ns = ['ip', 'netns', 'exec', bed.ns];
    const out = tmp.path('two.pcapng');
    // The count ends the capture; the duration only stops a broken run (scaled to this host).
    const safety = `duration:${Math.ceil(scaled(60_000) / 1000)}`;
    const c = start('nmcap', ['-i', 'af_packet:va', '-i', 'af_packet:vb', '-w', out, '-Z', 'nobody', '-c', String(2 * N), '-a', safety, '--json'], {
      prefix: ns,
    });
    await c.waitFor(/^listening on af_packet:vb/);
    // Frames sent by nmreplay skip the sender's own taps (qdisc bypass): each side sees only what it receives.
    for (const [tx] of [['va'], ['vb']]) {
      const rep = await run('nmreplay', ['-i', `af_packet:${tx}`, '--rate', '20kpps', trace], { prefix: ns });
      expect(rep.code, rep.stderr).toBe(0);
    }
    const cap = await c.done;
    expect(cap.code, cap.stderr).toBe(0);
    expect(JSON.parse(cap.stdout)).toMatchObject({ captured: 2 * N, dropped: 0, reason: 'count' });
    const nobody = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }));
    expect(statSync(out).uid).toBe(nobody);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    // The file was created after the switch: nobody owns it (the watched pid is ip netns exec's).
    const got = readPacketsSync(readFileSync(out));
    expect(got[0]!.section.interfaces.map((i) => i.name)).toEqual(['va', 'vb']);
    // va->vb frames arrive on vb (interface 1), vb->va frames on va (interface 0), all in order, all inbound.
    for (const k of [0, 1]) {
      const mine = got.filter((p) => p.interface === k);
      expect(mine.map((p) => p.data.readUInt32BE(14))).toEqual([...Array(N).keys()]);
      expect(mine.every((p) => p.extras?.flags === 1)).toBe(true);
    }
  });
});
