// The af_packet backend on a real veth pair in a throwaway namespace: TX ring on va, RX ring on
// vb, checked against each other and against tcpdump and tcpreplay.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createVethBed, netnsUnavailable, type VethBed } from '../helpers/netns.js';
import { eventually, scaled } from '../helpers/slowness.mjs';
import {
  decode,
  frameSizes,
  makeFrame,
  type PacketJson,
  Peer,
  readPcap,
  runPeer,
  TempDir,
  writeFrames,
  writePcap,
} from './af_packet-helpers.js';

const why = netnsUnavailable();
const has = (cmd: string) => {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

interface TxRxResult {
  t0: string;
  t1: string;
  pendingAfterSync: number;
  pendingAfterWait: number;
  rxInfo: Record<string, unknown>;
  txInfo: Record<string, unknown>;
  rxRing: { numSlots: number; index: number };
  txRing: { numSlots: number; bufSize: number };
  rxCounters: { rxReceived: string | null; rxDrops: string | null; rxRingFull: string | null };
  rxCounterTypes: Record<string, string>;
  txCounters: { rxReceived: string | null; rxDrops: string | null };
  packets: PacketJson[];
}

describe.skipIf(why !== null)(`af_packet backend on veth${why ? ` (skipped: ${why})` : ''}`, () => {
  let bed: VethBed;
  let tmp: TempDir;

  beforeAll(() => {
    bed = createVethBed();
    tmp = new TempDir();
    // An Ethernet device that stays down, for the "interface down" refusal.
    bed.exec('ip', ['link', 'add', 'vdown', 'type', 'veth', 'peer', 'name', 'vdown1']);
  });
  afterAll(() => {
    bed?.destroy();
    tmp?.remove();
  });

  async function txrx(name: string, frames: Buffer[], rxOpts: object = {}, late = false): Promise<TxRxResult> {
    const file = tmp.file(`${name}.frames`);
    writeFrames(file, frames);
    return runPeer<TxRxResult>(bed, ['txrx', file, JSON.stringify(rxOpts), ...(late ? ['late'] : [])]);
  }

  it('delivers TX on va to RX on vb byte-exact and in order, with kernel timestamps and wire lengths', async () => {
    // 5000 frames wrap the 4096-frame TX ring and fill ~30 RX blocks.
    const frames = frameSizes(5000).map((len, i) => makeFrame(i, len));
    const r = await txrx('order', frames);

    expect(r.packets.length).toBe(frames.length);
    let prevTs = 0n;
    const lo = BigInt(r.t0) - 5_000_000n;
    const hi = BigInt(r.t1) + 5_000_000n;
    for (let i = 0; i < frames.length; i++) {
      const p = r.packets[i];
      const data = decode(p);
      if (!data.equals(frames[i])) throw new Error(`packet ${i}: bytes differ (len ${data.length} vs ${frames[i].length})`);
      expect(p.wireLen).toBe(frames[i].length);
      expect(p.ring).toBe(0);
      const ts = BigInt(p.tsNs);
      expect(ts >= prevTs).toBe(true);
      expect(ts >= lo && ts <= hi).toBe(true);
      prevTs = ts;
    }
    expect(r.pendingAfterWait).toBe(0);

    expect(r.rxInfo).toMatchObject({
      name: 'af_packet:vb',
      backend: 'af_packet',
      ifname: 'vb',
      linkType: 1,
      maxFrame: 1518,
      tsSource: 'packet-ns',
      knowsRxDrops: true,
      knowsRxReceived: true,
      rxRings: 1,
      txRings: 0,
    });
    expect(r.rxInfo.mode).toMatch(/TPACKET_V3/);
    expect(r.txInfo).toMatchObject({ tsSource: 'none', knowsRxDrops: false, rxRings: 0, txRings: 1 });
    expect(r.txInfo.mode).toMatch(/TPACKET_V2 tx, qdisc bypass/);
    // Default geometry of native/ports/af_packet/af_packet_port.h: 8 RX blocks of 1 MiB, each
    // holding 6898 60-byte frames (+1 slot), and 4096 TX frames.
    expect(r.rxRing.numSlots).toBe(8 * 6898 + 1);
    expect(r.txRing.numSlots).toBe(4096);
    expect(r.txRing.bufSize).toBeGreaterThanOrEqual(1518);

    // Counters are bigints (JSON carries them as strings), measured, and drop-free for this load.
    expect(r.rxCounterTypes).toEqual({ rxReceived: 'bigint', rxDrops: 'bigint', rxRingFull: 'null' });
    expect(BigInt(r.rxCounters.rxReceived!)).toBeGreaterThanOrEqual(BigInt(frames.length));
    expect(r.rxCounters.rxDrops).toBe('0');
    expect(r.txCounters.rxReceived).toBeNull(); // a TX-only port measures no RX: unknown, not 0
    expect(r.txCounters.rxDrops).toBeNull();
  });

  it('truncates at snaplen in the kernel and still reports the length on the wire', async () => {
    const frames = frameSizes(300).map((len, i) => makeFrame(i, len));
    const r = await txrx('snaplen', frames, { snaplen: 100 });
    expect(r.packets.length).toBe(frames.length);
    r.packets.forEach((p, i) => {
      const data = decode(p);
      expect(data.length).toBe(Math.min(100, frames[i].length));
      expect(data.equals(frames[i].subarray(0, data.length))).toBe(true);
      expect(p.wireLen).toBe(frames[i].length);
    });
  });

  it('loses nothing with a slot ring smaller than one block (blocks are walked in parts)', async () => {
    const frames = frameSizes(2000).map((len, i) => makeFrame(i, Math.min(len, 200)));
    const r = await txrx('smallring', frames, { rxSlots: 64 });
    expect(r.rxRing.numSlots).toBe(64);
    expect(r.packets.length).toBe(frames.length);
    r.packets.forEach((p, i) => expect(decode(p).equals(frames[i])).toBe(true));
    expect(r.rxCounters.rxDrops).toBe('0');
  });

  it('counts drops when the ring overflows: received = delivered + dropped, exactly', async () => {
    // rxSlots 64 gives the smallest block ring (4 x 1 MiB); 12000 frames of ~800 bytes (~10 MiB
    // in the blocks) sent before anything is read cannot all fit.
    const frames = frameSizes(12000).map((len, i) => makeFrame(i, len));
    const r = await txrx('overflow', frames, { rxSlots: 64 }, true);
    const drops = BigInt(r.rxCounters.rxDrops!);
    expect(drops).toBeGreaterThan(0n);
    expect(BigInt(r.rxCounters.rxReceived!)).toBe(BigInt(r.packets.length) + drops);
    expect(BigInt(r.packets.length) + drops).toBe(BigInt(frames.length));
    // What did arrive is intact and in order (a prefix of what was sent, then later runs).
    let last = -1;
    for (const p of r.packets) {
      const seq = decode(p).readUInt32BE(14);
      expect(seq).toBeGreaterThan(last);
      expect(decode(p).equals(frames[seq])).toBe(true);
      last = seq;
    }
  });

  it('sleeps in poll while the link is idle (no busy wait)', async () => {
    const r = await runPeer<{ results: string[]; wallMs: number; cpuUs: number }>(bed, ['idle']);
    expect(r.results).toEqual(['timeout', 'timeout', 'timeout']);
    expect(r.wallMs).toBeGreaterThanOrEqual(250);
    expect(r.cpuUs).toBeLessThan(r.wallMs * 1000 * 0.25); // a spinning wait would burn ~100%
  });

  it('refuses frames the link cannot carry, without stalling the frames after them', async () => {
    const tagged = makeFrame(9, 1518, 1, 0x8100); // 802.1Q-tagged: 4 bytes over MTU + 14 allowed
    const frames = [
      makeFrame(1, 60),
      makeFrame(2, 1600), // over MTU + 18
      makeFrame(3, 100),
      makeFrame(4, 1518), // untagged, over MTU + 14
      makeFrame(5, 200),
      tagged,
      makeFrame(6, 13), // shorter than an Ethernet header
      makeFrame(7, 300),
    ];
    const r = await txrx('refuse', frames);
    const want = [frames[0], frames[2], frames[4], tagged, frames[7]];
    expect(r.packets.map((p) => decode(p).toString('hex'))).toEqual(want.map((f) => f.toString('hex')));
    expect(r.pendingAfterWait).toBe(0);
  });

  it.skipIf(!has('tcpdump'))('frames sent by the TX ring are what tcpdump -i vb captures, byte for byte', async () => {
    const frames = frameSizes(400).map((len, i) => makeFrame(i, len, 3));
    const file = tmp.file('oracle-tx.frames');
    const pcap = tmp.file('oracle-tx.pcap');
    writeFrames(file, frames);
    // -Z root: tcpdump would otherwise drop to its own user, which cannot write into our temp dir.
    const td = bed.spawn('tcpdump', ['-Z', 'root', '-i', 'vb', '-U', '--immediate-mode', '-c', String(frames.length),
      '-w', pcap, 'ether proto 0x88b5']);
    const exited = new Promise<number | null>((resolve) => td.on('exit', (code) => resolve(code)));
    let err = '';
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`tcpdump did not start: ${err}`)), scaled(10_000));
      void exited.then(() => reject(new Error(`tcpdump exited: ${err}`)));
      td.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        if (/listening on/.test(err)) {
          clearTimeout(t);
          resolve();
        }
      });
    });
    const sent = await runPeer<{ pendingAfterWait: number }>(bed, ['tx', file, 'va']);
    expect(sent.pendingAfterWait).toBe(0);
    // tcpdump -c ends by itself; the timer only stops a broken run.
    const t = setTimeout(() => td.kill('SIGINT'), scaled(5000));
    const exit = await exited;
    clearTimeout(t);
    expect(exit, err).toBe(0);
    const { linkType, records } = readPcap(pcap);
    expect(linkType).toBe(1);
    expect(records.length).toBe(frames.length);
    records.forEach((rec, i) => {
      expect(rec.origLen).toBe(frames[i].length);
      expect(rec.data.equals(frames[i])).toBe(true);
    });
  });

  it.skipIf(!has('tcpreplay'))('frames tcpreplay -i va sends arrive identical on the RX ring', async () => {
    const frames = frameSizes(300).map((len, i) => makeFrame(i, len, 4));
    // 802.1Q (priority 1, VLAN 100) and QinQ frames: the kernel takes the outer tag out of band on
    // receive; the RX ring must show it where it was.
    const vlan = (i: number, tags: [number, number][]) => {
      const f = makeFrame(i, 200, 4);
      const hdr = Buffer.alloc(4 * tags.length);
      tags.forEach(([tpid, tci], k) => {
        hdr.writeUInt16BE(tpid, 4 * k);
        hdr.writeUInt16BE(tci, 4 * k + 2);
      });
      return Buffer.concat([f.subarray(0, 12), hdr, f.subarray(12)]);
    };
    frames.push(vlan(300, [[0x8100, 0x2064]]), vlan(301, [[0x88a8, 0x0007], [0x8100, 0x0064]]), makeFrame(302, 60, 4));
    const pcap = tmp.file('oracle-rx.pcap');
    writePcap(pcap, frames);
    const rx = Peer.start(bed, ['rx', String(frames.length), 'vb']);
    await rx.next(); // ready
    bed.exec('tcpreplay', ['-q', '-i', 'va', '--topspeed', pcap]);
    const r = await rx.next<{ packets: PacketJson[] }>();
    await rx.exited;
    // Only our frames (source MAC ending in 04) count; nothing else should be on this link anyway.
    const ours = r.packets.filter((p) => decode(p)[11] === 4);
    expect(ours.length).toBe(frames.length);
    ours.forEach((p, i) => {
      expect(decode(p).equals(frames[i])).toBe(true);
      expect(p.wireLen).toBe(frames[i].length);
    });
  });

  // A packet socket's PACKET_MR_PROMISC membership raises the device's promiscuity count; the
  // PROMISC flag `ip link show` prints is only the administrative one (ip link set promisc on).
  it.skipIf(!has('tcpreplay'))('shows each packet once on loopback, where the kernel taps it going out and coming in', async () => {
    bed.exec('ip', ['link', 'set', 'lo', 'up']);
    const frames = frameSizes(50).map((len, i) => makeFrame(i, len, 5));
    const pcap = tmp.file('lo.pcap');
    writePcap(pcap, frames);
    // Duplicates would interleave (out, in, out, in), so the first 50 packets would show them.
    const rx = Peer.start(bed, ['rx', String(frames.length), 'lo']);
    const ready = await rx.next<{ info: { linkType: number; maxFrame: number } }>();
    expect(ready.info.linkType).toBe(1);
    bed.exec('tcpreplay', ['-q', '-i', 'lo', '--topspeed', pcap]);
    const r = await rx.next<{ packets: PacketJson[] }>();
    await rx.exited;
    const ours = r.packets.filter((p) => decode(p)[11] === 5);
    expect(ours.map((p) => decode(p).toString('hex'))).toEqual(frames.map((f) => f.toString('hex')));
  });

  const promisc = () => Number(/promiscuity (\d+)/.exec(bed.exec('ip', ['-d', 'link', 'show', 'vb']))![1]) > 0;

  it('promiscuous mode: on while open, off after close() and after SIGKILL, never with promisc:false', async () => {
    expect(promisc()).toBe(false);

    const a = Peer.start(bed, ['hold', 'af_packet:vb', '{"direction":"rx"}']);
    await a.next();
    expect(promisc()).toBe(true);
    a.send('close');
    expect(await a.next()).toEqual({ closed: true }); // the process is still alive here
    await eventually(() => !promisc(), 'vb to leave promiscuous mode');
    a.send('exit');
    await a.exited;

    const b = Peer.start(bed, ['hold', 'af_packet:vb', '{"direction":"rx","promisc":false}']);
    await b.next();
    expect(promisc()).toBe(false);
    b.send('exit');
    await b.exited;

    const c = Peer.start(bed, ['hold', 'af_packet:vb', '{"direction":"rx"}']);
    await c.next();
    expect(promisc()).toBe(true);
    c.child.kill('SIGKILL');
    expect((await c.exited).signal).toBe('SIGKILL');
    await eventually(() => !promisc(), 'vb to leave promiscuous mode');
  });

  interface ErrorResult {
    name: string;
    opts: object;
    opened?: boolean;
    info?: Record<string, unknown>;
    code?: string;
    message?: string;
  }

  it('refuses bad names, missing and down interfaces, bad queues and sizes with stable codes', async () => {
    const cases = [
      { name: 'af_packet:eth9' },
      { name: 'af_packet:vdown' },
      { name: 'af_packet:a/b' },
      { name: 'af_packet:way-too-long-name0' },
      { name: 'af_packet:' },
      { name: 'af_packet:x y' },
      { name: 'af_packet:..' },
      { name: 'af_packet:vb', opts: { direction: 'rx', queue: 3 } },
      { name: 'af_packet:vb', opts: { rxSlots: 10 } },
      { name: 'af_packet:vb', opts: { direction: 'rx' } },
      { name: 'af_packet:va' }, // both directions: one RX and one TX ring
    ];
    const { results } = await runPeer<{ results: ErrorResult[] }>(bed, ['errors', JSON.stringify(cases)]);
    const by = (n: string, q?: number) => results.find((r) => r.name === n && (q === undefined || (r.opts as { queue?: number }).queue === q))!;

    expect(by('af_packet:eth9')).toMatchObject({ code: 'ERR_PORT_NOT_FOUND', message: "no interface 'eth9' (see `ip link`)" });
    expect(by('af_packet:vdown')).toMatchObject({ code: 'ERR_PORT_DOWN', message: 'interface vdown is down: ip link set vdown up' });
    for (const n of ['af_packet:a/b', 'af_packet:way-too-long-name0', 'af_packet:', 'af_packet:x y', 'af_packet:..']) {
      expect(by(n).code).toBe('ERR_PORT_BAD_NAME');
      expect(by(n).message).toMatch(/is not a valid interface name: 1 to 15 characters/);
    }
    expect(by('af_packet:vb', 3)).toMatchObject({ code: 'ERR_PORT_NOT_FOUND' });
    expect(by('af_packet:vb', 3).message).toMatch(/vb has 1 RX queue\(s\).*no queue 3/);
    expect(results.find((r) => (r.opts as { rxSlots?: number }).rxSlots === 10)).toMatchObject({ code: 'ERR_PORT_UNSUPPORTED' });
    expect(results.at(-2)).toMatchObject({ opened: true });
    expect(results.at(-1)).toMatchObject({ opened: true, info: { rxRings: 1, txRings: 1, maxFrame: 1518 } });
    expect(results.at(-1)!.info!.mode).toBe('TPACKET_V3 rx, TPACKET_V2 tx, qdisc bypass');

    for (const r of results) {
      expect(r.message ?? '').not.toMatch(/\n/); // one line each
    }
  });

  it.skipIf(!has('setpriv'))('without CAP_NET_RAW the open fails with ERR_PORT_PERMISSION and says what to do', async () => {
    const cases = [{ name: 'af_packet:vb', opts: { direction: 'rx' } }, { name: 'af_packet:va', opts: { direction: 'tx' } }];
    const { results } = await runPeer<{ results: ErrorResult[] }>(bed, ['errors', JSON.stringify(cases)], [
      'setpriv',
      '--bounding-set=-net_raw',
      '--inh-caps=-net_raw',
    ]);
    for (const r of results) {
      expect(r.code).toBe('ERR_PORT_PERMISSION');
      expect(r.message).toBe('needs CAP_NET_RAW: run as root or setcap cap_net_raw,cap_net_admin+ep $(which node)');
    }
  });
});

describe.skipIf(why !== null)(`af_packet on a 2-queue veth${why ? ` (skipped: ${why})` : ''}`, () => {
  it('gives one RX ring per queue (ring.index = queue) and receives everything sent on both TX queues', async () => {
    const bed = createVethBed({ queues: 2 });
    const tmp = new TempDir();
    try {
      const per = 1500;
      const fa = tmp.file('q0.frames');
      const fb = tmp.file('q1.frames');
      writeFrames(fa, frameSizes(per).map((len, i) => makeFrame(i, len, 1)));
      writeFrames(fb, frameSizes(per).map((len, i) => makeFrame(i, len, 2)));
      const rx = Peer.start(bed, ['rx', String(2 * per), 'vb']);
      const ready = await rx.next<{ info: { rxRings: number; mode: string }; rings: { index: number }[] }>();
      // A second capture of queue 1 alone, side by side (every packet socket gets its own copy).
      const rx1 = Peer.start(bed, ['rx', String(per), 'vb', '{"queue":1}']);
      const ready1 = await rx1.next<{ info: { rxRings: number; description: string }; rings: { index: number }[] }>();
      expect(ready1.info.rxRings).toBe(1);
      expect(ready1.rings[0].index).toBe(1);
      expect(ready1.info.description).toMatch(/queue 1 only/);
      expect(ready.info.rxRings).toBe(2);
      expect(ready.rings.map((r) => r.index)).toEqual([0, 1]);
      expect(ready.info.mode).toMatch(/fanout/);

      // With qdisc bypass the kernel picks the TX queue from the sending CPU (cpu % queues), and
      // veth delivers TX queue q to RX queue q: pin one sender per CPU to use both queues.
      const twoCpus = (await import('node:os')).cpus().length >= 2;
      const pin = (cpu: number) => (twoCpus ? ['taskset', '-c', String(cpu)] : []);
      await Promise.all([runPeer(bed, ['tx', fa, 'va'], pin(0)), runPeer(bed, ['tx', fb, 'va'], pin(1))]);
      const r = await rx.next<{ counters: { rxDrops: string }; packets: PacketJson[] }>();
      await rx.exited;

      const ours = r.packets.filter((p) => decode(p).readUInt16BE(12) === 0x88b5);
      expect(ours.length).toBe(2 * per);
      expect(r.counters.rxDrops).toBe('0');
      // Per sender: everything arrived, in order.
      for (const sender of [1, 2]) {
        const seqs = ours.filter((p) => decode(p)[11] === sender).map((p) => decode(p).readUInt32BE(14));
        expect(seqs).toEqual([...Array(per).keys()]);
      }
      const r1 = await rx1.next<{ packets: PacketJson[] }>();
      await rx1.exited;
      const ours1 = r1.packets.filter((p) => decode(p).readUInt16BE(12) === 0x88b5);
      if (twoCpus) {
        // Queue 1 alone: exactly the second sender's frames, on a ring labelled 1.
        expect(ours1.length).toBe(per);
        expect(ours1.every((p) => decode(p)[11] === 2 && p.ring === 1)).toBe(true);
        // Each queue's traffic sits on its own ring.
        const ringsOf = (sender: number) => new Set(ours.filter((p) => decode(p)[11] === sender).map((p) => p.ring));
        expect([...ringsOf(1)]).toEqual([0]);
        expect([...ringsOf(2)]).toEqual([1]);
      }
    } finally {
      bed.destroy();
      tmp.remove();
    }
  });
});

describe.skipIf(why !== null)(`af_packet when the interface goes away${why ? ` (skipped: ${why})` : ''}`, () => {
  it('ends RX with ERR_PORT_DOWN when the interface is set down', async () => {
    const bed = createVethBed();
    try {
      const p = Peer.start(bed, ['gone', 'rx']);
      await p.next(); // ready; the socket's error is pending whether or not it already waits
      bed.exec('ip', ['link', 'set', 'vb', 'down']);
      const r = await p.next<{ rx: Record<string, unknown> }>();
      expect((await p.exited).code).toBe(0);
      expect(r.rx).toMatchObject({ code: 'ERR_PORT_DOWN', end: { end: 'error', code: 'ERR_PORT_DOWN' } });
      expect(r.rx.message).toBe('interface vb went down: ip link set vb up, then start again');
    } finally {
      bed.destroy();
    }
  });

  it('ends RX and TX with ERR_PORT_GONE and a message, without crashing', async () => {
    const bed = createVethBed();
    try {
      const p = Peer.start(bed, ['gone']);
      await p.next(); // ready; the socket's error is pending whether or not it already waits
      bed.exec('ip', ['link', 'del', 'vb']); // takes va with it
      const r = await p.next<{ rx: Record<string, unknown>; tx: Record<string, unknown> }>();
      const { code } = await p.exited;
      expect(code).toBe(0);
      expect(r.rx).toMatchObject({ code: 'ERR_PORT_GONE', end: { end: 'gone', code: 'ERR_PORT_GONE' } });
      expect(r.rx.message).toMatch(/interface vb vanished/);
      expect(r.tx).toMatchObject({ code: 'ERR_PORT_GONE', end: { end: 'gone', code: 'ERR_PORT_GONE' } });
      expect(r.tx.message).toMatch(/interface va vanished/);
    } finally {
      bed.destroy();
    }
  });
});
