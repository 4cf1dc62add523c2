// af_xdp backend on a real veth pair in a throwaway namespace: data path (af_xdp <-> af_xdp,
// af_xdp -> tcpdump, tcpreplay -> af_xdp), XDP program lifecycle (attached while open, detached
// after close, Ctrl-C, SIGKILL and failed opens; refusal when a program is already there),
// multi-queue, and errors. Sockets are opened inside the namespace by child scripts.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVethBed, netnsUnavailable, type VethBed } from '../helpers/netns.js';
import { eventually, scaled } from '../helpers/slowness.mjs';
import { frame, readPcap, seqOf, writePcap } from './scripts/af_xdp-frames.mjs';

const scripts = fileURLToPath(new URL('./scripts/', import.meta.url));
const why = netnsUnavailable();

function have(tool: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A child script running inside the bed's namespace, with its stdout split into JSON lines. */
class Child {
  readonly proc: ChildProcess;
  out = '';
  err = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private waiters: Array<() => void> = [];

  constructor(bed: VethBed, script: string, args: string[], env: Record<string, string> = {}) {
    this.proc = bed.spawn(process.execPath, [join(scripts, script), ...args], { env: { ...process.env, ...env } });
    this.proc.stdout!.on('data', (d) => {
      this.out += d;
      for (const w of this.waiters.splice(0)) w();
    });
    this.proc.stderr!.on('data', (d) => (this.err += d));
    this.exited = new Promise((resolve) => this.proc.on('close', (code, signal) => resolve({ code, signal })));
    void this.exited.then(() => {
      for (const w of this.waiters.splice(0)) w();
    });
  }

  lines(): string[] {
    return this.out.split('\n').filter((l) => l.trim() !== '');
  }

  json(): any[] {
    return this.lines()
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l));
  }

  /** Waits until some stdout line satisfies `pred` (the child's exit ends the wait too; `ms` is a
   * safety net, scaled to this host). */
  async until(pred: (line: string) => boolean, ms = 10_000): Promise<string> {
    const deadline = Date.now() + scaled(ms);
    let exited = false;
    void this.exited.then(() => (exited = true));
    for (;;) {
      const hit = this.lines().find(pred);
      if (hit !== undefined) return hit;
      if (exited) throw new Error(`child exited without the expected line; stdout: ${this.out} stderr: ${this.err}`);
      if (Date.now() > deadline) throw new Error(`timed out; stdout: ${this.out} stderr: ${this.err}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 100);
      });
    }
  }

  async done(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return this.exited;
  }
}

async function runScript(bed: VethBed, script: string, args: string[], env: Record<string, string> = {}) {
  const c = new Child(bed, script, args, env);
  const r = await c.done();
  if (r.code !== 0) throw new Error(`${script} failed (${r.code ?? r.signal}): ${c.err}${c.out}`);
  return c.json();
}

function xdpProgId(bed: VethBed, dev = 'vb'): number | null {
  const m = /prog\/xdp(?:generic)? id (\d+)/.exec(bed.exec('ip', ['-d', 'link', 'show', dev]));
  return m ? Number(m[1]) : null;
}

function hasXdp(bed: VethBed, dev = 'vb'): boolean {
  return /\bxdp(generic)?\b/.test(bed.exec('ip', ['link', 'show', dev]).split('\n')[0]);
}

function expectFramesExact(got: Buffer[], first: number, count: number) {
  expect(got.length).toBe(count);
  for (let i = 0; i < count; i++) {
    const want = frame(first + i);
    if (!got[i].equals(want)) {
      throw new Error(`frame ${i}: got seq ${seqOf(got[i])} len ${got[i].length}, want seq ${first + i} len ${want.length}`);
    }
  }
}

describe.skipIf(why !== null)(`af_xdp backend${why ? ` (skipped: ${why})` : ''}`, () => {
  let bed: VethBed;
  let dir: string;
  beforeAll(() => {
    bed = createVethBed();
    dir = mkdtempSync(join(tmpdir(), 'nmcap-afxdp-'));
  });
  afterAll(() => {
    bed?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('af_xdp TX on va reaches af_xdp RX on vb byte-exact and in order (60..1514 bytes), stamped within the test window', async () => {
    const count = 400;
    const rx = new Child(bed, 'af_xdp-recv.mjs', ['--count', String(count)]);
    await rx.until((l) => l === 'ready');
    expect(xdpProgId(bed)).not.toBeNull();
    // 64 TX slots: the sender's rings wrap six times. The receiver's kernel RX ring (2048) holds
    // the whole burst even if it is not scheduled, so no frame can be dropped.
    const [tx] = await runScript(bed, 'af_xdp-send.mjs', ['--count', String(count), '--slots', '64']);
    expect(tx.sent).toBe(count);
    expect(tx.pendingAfter).toBe(0);
    expect(tx.maxPending).toBeLessThanOrEqual(63);
    expect(tx.mode).toMatch(/^copy, tx budget \d+|^copy, tx budget kernel default/);
    expect(tx.maxFrame).toBe(1514);
    expect((await rx.done()).code).toBe(0);
    const [res] = rx.json();
    expectFramesExact(
      res.packets.map((p: { b64: string }) => Buffer.from(p.b64, 'base64')),
      0,
      count,
    );
    const lo = BigInt(res.windowStartNs);
    const hi = BigInt(res.windowEndNs) + 1_000_000n;
    for (const p of res.packets) {
      expect(BigInt(p.tsNs) >= lo && BigInt(p.tsNs) <= hi).toBe(true);
      expect(p.ring).toBe(0);
    }
    expect(res.tsSource).toBe('sync-ns');
    expect(res.xdp).toMatchObject({ zeroCopy: false, attach: 'drv', method: 'bpf link', txBudget: null });
    // XDP_STATISTICS-based counters are bigints; nothing was dropped at this rate.
    expect(res.counters.rxReceived.type).toBe('bigint');
    expect(res.counters.rxDrops.type).toBe('bigint');
    expect(res.counters.rxRingFull.type).toBe('bigint');
    expect(res.counters.rxDrops.value).toBe('0');
    expect(BigInt(res.counters.rxReceived.value)).toBe(BigInt(count + res.stray));
    expect(res.knows).toEqual([true, true]);
    // Closed: the program is gone.
    await eventually(() => !hasXdp(bed), 'the XDP program to be detached');
  });

  it('frames the RX ring had no room for are counted as drops (rx_ring_full), and received + drops adds up', async () => {
    // The receiver does not read until the sender is done: its 64-entry kernel RX ring keeps 64
    // frames and the XDP socket must drop the other 236.
    const count = 300;
    const rx = new Child(bed, 'af_xdp-recv.mjs', ['--count', String(count), '--slots', '64', '--wait-signal', '--count-drops']);
    await rx.until((l) => l === 'ready');
    const [tx] = await runScript(bed, 'af_xdp-send.mjs', ['--count', String(count), '--first', '20000']);
    expect(tx.pendingAfter).toBe(0);
    rx.proc.kill('SIGUSR1');
    expect((await rx.done()).code).toBe(0);
    const [res] = rx.json();
    expect(res.packets.length).toBe(64);
    expectFramesExact(
      res.packets.map((p: { b64: string }) => Buffer.from(p.b64, 'base64')),
      20000,
      64,
    );
    expect(res.counters.rxRingFull).toEqual({ type: 'bigint', value: String(count - 64) });
    expect(res.counters.rxDrops).toEqual({ type: 'bigint', value: String(count - 64) });
    expect(res.counters.rxReceived).toEqual({ type: 'bigint', value: String(count + res.stray) });
  });

  it('direction both on both ends, 64-slot rings wrapping: va sends, an echo on vb sends every frame back, byte-exact', async () => {
    const count = 150;
    const echo = new Child(bed, 'af_xdp-echo.mjs', ['--count', String(count)]);
    await echo.until((l) => l === 'ready');
    const [pp] = await runScript(bed, 'af_xdp-pingpong.mjs', ['--count', String(count)]);
    expect((await echo.done()).code).toBe(0);
    const [e] = echo.json();
    expect(e).toMatchObject({ echoed: count, pendingAfter: 0, txRings: 1, rxRings: 1 });
    expect(e.xdp).toMatchObject({ attach: 'drv', method: 'bpf link' });
    expect(pp.xdp.txBudget).toBe(64);
    expect(pp.sent).toBe(count);
    expectFramesExact(
      pp.back.map((b: string) => Buffer.from(b, 'base64')),
      0,
      count,
    );
    await eventually(() => !hasXdp(bed, 'va') && !hasXdp(bed, 'vb'), 'both XDP programs to be detached');
  });

  it.skipIf(!have('tcpdump'))('af_xdp TX on va is seen byte-exact by tcpdump on vb', async () => {
    const count = 200;
    const file = join(dir, 'tcpdump.pcap');
    const td = bed.spawn('tcpdump', ['-i', 'vb', '-n', '-U', '-w', file, 'ether', 'proto', '0x88b5']);
    let err = '';
    td.stderr!.on('data', (d) => (err += d));
    const tdExit = new Promise((r) => td.on('close', r));
    try {
      await eventually(() => /listening on/.test(err), 'tcpdump to listen');
      const [tx] = await runScript(bed, 'af_xdp-send.mjs', ['--count', String(count), '--first', '1000']);
      expect(tx.sent).toBe(count);
      expect(tx.pendingAfter).toBe(0);
      await eventually(() => readPcap(file).length >= count, `tcpdump's file to hold ${count} packets`);
    } finally {
      td.kill('SIGINT');
      await tdExit;
    }
    expectFramesExact(
      readPcap(file).map((r) => Buffer.from(r.data)),
      1000,
      count,
    );
  });

  it.skipIf(!have('tcpreplay'))('frames replayed by tcpreplay on va arrive byte-exact and in order on af_xdp RX on vb', async () => {
    const count = 300;
    const file = join(dir, 'replay.pcap');
    writePcap(
      file,
      Array.from({ length: count }, (_, i) => frame(5000 + i)),
    );
    const rx = new Child(bed, 'af_xdp-recv.mjs', ['--count', String(count)]);
    await rx.until((l) => l === 'ready');
    bed.exec('tcpreplay', ['-q', '-i', 'va', '--pps', '20000', file]);
    expect((await rx.done()).code).toBe(0);
    const [res] = rx.json();
    expectFramesExact(
      res.packets.map((p: { b64: string }) => Buffer.from(p.b64, 'base64')),
      5000,
      count,
    );
  });

  it('the XDP program stays attached while open and is detached on Ctrl-C (close runs, exit 130)', async () => {
    const h = new Child(bed, 'af_xdp-hold.mjs', []);
    const info = JSON.parse(await h.until((l) => l.startsWith('{')));
    expect(info.open).toBe(true);
    expect(info.mode).toBe('copy, drv, bpf link');
    const id = xdpProgId(bed);
    expect(id).not.toBeNull();
    expect(info.description).toContain(`XDP program id ${id} in driver mode`);
    h.proc.kill('SIGINT');
    expect((await h.done()).code).toBe(130);
    expect(h.json().some((j) => j.closed)).toBe(true);
    await eventually(() => !hasXdp(bed), 'the XDP program to be detached');
  });

  it('nothing stays attached after SIGKILL of the holder (BPF link)', async () => {
    const h = new Child(bed, 'af_xdp-hold.mjs', []);
    await h.until((l) => l.startsWith('{'));
    expect(hasXdp(bed)).toBe(true);
    h.proc.kill('SIGKILL');
    expect((await h.done()).signal).toBe('SIGKILL');
    // The kernel releases the link when the process's fds go; that is asynchronous but quick.
    await eventually(() => !hasXdp(bed), 'the XDP program to be detached');
  });

  it('refuses politely when another XDP program is attached, naming it', async () => {
    const h = new Child(bed, 'af_xdp-hold.mjs', []);
    await h.until((l) => l.startsWith('{'));
    const id = xdpProgId(bed);
    const [r] = await runScript(bed, 'af_xdp-open.mjs', ['--cases', JSON.stringify([['af_xdp:vb', { direction: 'rx' }]])]);
    expect(r.code).toBe('ERR_PORT_BUSY');
    expect(r.message).toBe(
      `interface vb already has an XDP program attached (id ${id}); detach it with \`ip link set dev vb xdp off\` or use af_packet:vb`,
    );
    // The refused open left the first holder's program alone.
    expect(xdpProgId(bed)).toBe(id);
    h.proc.kill('SIGINT');
    await h.done();
    await eventually(() => !hasXdp(bed), 'the XDP program to be detached');
  });

  it('detaches the program when open fails after attaching it (queue taken by another AF_XDP socket)', async () => {
    // A TX-only socket on vb queue 0 (no program) makes the RX socket's bind fail after attach.
    const h = new Child(bed, 'af_xdp-hold.mjs', ['--direction', 'tx']);
    await h.until((l) => l.startsWith('{'));
    expect(hasXdp(bed)).toBe(false);
    const [r] = await runScript(bed, 'af_xdp-open.mjs', ['--cases', JSON.stringify([['af_xdp:vb', { direction: 'rx' }]])]);
    expect(r.code).toBe('ERR_PORT_BUSY');
    expect(r.message).toMatch(/^queue 0 of vb is already used by another AF_XDP socket/);
    expect(hasXdp(bed)).toBe(false);
    h.proc.kill('SIGINT');
    expect((await h.done()).code).toBe(130);
  });

  it('netlink attach (NMCAP_XDP_ATTACH=netlink) is detached explicitly on close', async () => {
    const env = { NMCAP_XDP_ATTACH: 'netlink' };
    const h = new Child(bed, 'af_xdp-hold.mjs', [], env);
    const info = JSON.parse(await h.until((l) => l.startsWith('{')));
    expect(info.mode).toBe('copy, drv, netlink');
    expect(hasXdp(bed)).toBe(true);
    h.proc.kill('SIGINT');
    expect((await h.done()).code).toBe(130);
    expect(hasXdp(bed)).toBe(false);
  });

  it('errors: bogus names, unknown and down interfaces, zero-copy on veth, bad budget and sizes', async () => {
    const cases = [
      ['af_xdp:', {}],
      ['af_xdp:a/b', {}],
      ['af_xdp:has space', {}],
      ['af_xdp:waytoolonginterfacename', {}],
      ['af_xdp:nmcnosuch0', {}],
      ['af_xdp:vb', { zeroCopy: true }],
      ['af_xdp:va', { direction: 'tx', txBudget: 5 }],
      ['af_xdp:va', { direction: 'tx', txSlots: 1 << 20 }],
      ['af_xdp:vb', { queue: 7 }],
      ['af_xdp:va', { direction: 'tx', txBudget: 64, txSlots: 100 }],
    ];
    const r = await runScript(bed, 'af_xdp-open.mjs', ['--cases', JSON.stringify(cases)]);
    expect(r.map((x) => x.code ?? 'ok')).toEqual([
      'ERR_PORT_BAD_NAME',
      'ERR_PORT_BAD_NAME',
      'ERR_PORT_BAD_NAME',
      'ERR_PORT_BAD_NAME',
      'ERR_PORT_NOT_FOUND',
      'ERR_PORT_UNSUPPORTED',
      'ERR_PORT_UNSUPPORTED',
      'ERR_PORT_UNSUPPORTED',
      'ERR_PORT_NOT_FOUND',
      'ok',
    ]);
    for (const x of r) if (x.message) expect(x.message).not.toContain('\n');
    expect(r[4].message).toBe("no network interface named 'nmcnosuch0' (see `ip link`)");
    expect(r[5].message).toMatch(/no AF_XDP zero-copy support; drop the zero-copy option/);
    expect(r[6].message).toMatch(/tx budget 5 is out of range: use 32 to 2048/);
    expect(r[9].info.mode).toBe('copy, tx budget 64');
    expect(hasXdp(bed)).toBe(false);

    bed.exec('ip', ['link', 'set', 'vb', 'down']);
    try {
      const [down] = await runScript(bed, 'af_xdp-open.mjs', ['--cases', JSON.stringify([['af_xdp:vb', {}]])]);
      expect(down.code).toBe('ERR_PORT_DOWN');
      expect(down.message).toBe('interface vb is down; bring it up with `ip link set dev vb up`');
    } finally {
      bed.exec('ip', ['link', 'set', 'vb', 'up']);
    }
  });

  it.skipIf(!have('capsh') || !have('prlimit'))(
    'missing privileges: CAP_BPF/CAP_NET_ADMIN, CAP_NET_RAW, locked memory (raised to the hard limit when allowed)',
    () => {
      const script = join(scripts, 'af_xdp-open.mjs');
      const defaults = [
        ['af_xdp:vb', { direction: 'rx' }],
        ['af_xdp:va', { direction: 'tx' }],
      ];
      // memlock = soft:hard limits in bytes, set before the capabilities are dropped.
      const run = (drop: string, memlock = '', cases = JSON.stringify(defaults)) =>
        bed
          .exec('prlimit', [
            ...(memlock ? [`--memlock=${memlock}`] : []),
            'capsh',
            `--drop=${drop}`,
            '--',
            '-c',
            `${process.execPath} ${script} --cases '${cases}'`,
          ])
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l));
      const noBpf = run('cap_bpf,cap_net_admin,cap_sys_admin');
      expect(noBpf[0].code).toBe('ERR_PORT_PERMISSION');
      expect(noBpf[0].message).toMatch(/needs CAP_BPF and CAP_NET_ADMIN/);
      expect(noBpf[1].ok).toBe(true); // TX loads no program
      const noRaw = run('cap_net_raw');
      expect(noRaw.map((r) => r.code)).toEqual(['ERR_PORT_PERMISSION', 'ERR_PORT_PERMISSION']);
      expect(noRaw[0].message).toMatch(/AF_XDP sockets need CAP_NET_RAW/);
      expect(hasXdp(bed)).toBe(false); // the program attached before the socket failed is gone
      const locked = run('cap_ipc_lock,cap_sys_resource', '65536:65536');
      expect(locked.map((r) => r.code)).toEqual(['ERR_PORT_PERMISSION', 'ERR_PORT_PERMISSION']);
      expect(locked[0].message).toMatch(/refused to lock 8192 KiB of UMEM \(RLIMIT_MEMLOCK 64 KiB\); raise it/);
      // Soft limit 64 KiB, hard limit 8 MiB: the backend raises the soft limit to the hard one
      // and 256 KiB + 128 KiB of UMEM fit.
      const small = JSON.stringify([
        ['af_xdp:vb', { direction: 'rx', rxSlots: 64 }],
        ['af_xdp:va', { direction: 'tx', txSlots: 64 }],
      ]);
      const raised = run('cap_ipc_lock,cap_sys_resource', '65536:8388608', small);
      expect(raised.map((r) => r.ok)).toEqual([true, true]);
      expect(hasXdp(bed)).toBe(false);
    },
  );

  it('refuses an MTU too large for XDP on veth, leaving nothing attached', async () => {
    bed.exec('ip', ['link', 'set', 'vb', 'mtu', '9000']);
    try {
      const r = await runScript(bed, 'af_xdp-open.mjs', [
        '--cases',
        JSON.stringify([
          ['af_xdp:vb', {}],
          ['af_xdp:vb', { direction: 'tx' }],
        ]),
      ]);
      expect(r[0].code).toBe('ERR_PORT_UNSUPPORTED');
      expect(r[0].message).toBe(
        'MTU 9000 of vb is too large for XDP on veth (max ~3.5 KB); lower it (ip link set dev vb mtu 1500) or use af_packet:vb',
      );
      expect(hasXdp(bed)).toBe(false);
      // TX needs no XDP program: allowed, with page-sized chunks.
      expect(r[1].ok).toBe(true);
      expect(r[1].info.maxFrame).toBe(4096);
    } finally {
      bed.exec('ip', ['link', 'set', 'vb', 'mtu', '1500']);
    }
  });

  it('falls back to generic (skb) mode when the driver refuses (veth: peer MTU too large for native XDP)', async () => {
    bed.exec('ip', ['link', 'set', 'va', 'mtu', '9000']);
    try {
      const rx = new Child(bed, 'af_xdp-recv.mjs', ['--count', '50']);
      await rx.until((l) => l === 'ready');
      expect(hasXdp(bed)).toBe(true);
      await runScript(bed, 'af_xdp-send.mjs', ['--count', '50', '--first', '300']);
      expect((await rx.done()).code).toBe(0);
      const [res] = rx.json();
      const mode = res.xdp;
      expect(mode).toMatchObject({ attach: 'skb', method: 'bpf link' });
      expect(mode.drvRefusal).toBeTruthy();
      expect(res.description).toMatch(/in generic mode$/);
      expectFramesExact(
        res.packets.map((p: { b64: string }) => Buffer.from(p.b64, 'base64')),
        300,
        50,
      );
      await eventually(() => !hasXdp(bed), 'the XDP program to be detached');
    } finally {
      bed.exec('ip', ['link', 'set', 'va', 'mtu', '1500']);
    }
  });

  it('reports the interface vanishing mid-run as ERR_PORT_GONE', async () => {
    const gone = createVethBed();
    try {
      const h = new Child(gone, 'af_xdp-hold.mjs', []);
      await h.until((l) => l.startsWith('{'));
      gone.exec('ip', ['link', 'del', 'va']); // deletes the pair
      const line = await h.until((l) => l.includes('waitError'));
      const j = JSON.parse(line);
      expect(j.waitError).toBe('ERR_PORT_GONE');
      expect(j.end.end).toBe('gone');
      expect(j.message).toBe('interface vb vanished (deleted, or its namespace went away)');
      expect((await h.done()).code).toBe(1);
    } finally {
      gone.destroy();
    }
  });
});

describe.skipIf(why !== null)(`af_xdp multi-queue${why ? ` (skipped: ${why})` : ''}`, () => {
  let bed: VethBed;
  beforeAll(() => {
    bed = createVethBed({ queues: 2 });
  });
  afterAll(() => bed?.destroy());

  it('opens one RX ring per queue (ring.index = queue) and TX on the chosen queue lands on that ring', async () => {
    const rx = new Child(bed, 'af_xdp-recv.mjs', ['--count', '40']);
    await rx.until((l) => l === 'ready');
    await runScript(bed, 'af_xdp-send.mjs', ['--count', '20', '--first', '0', '--queue', '0']);
    await runScript(bed, 'af_xdp-send.mjs', ['--count', '20', '--first', '100', '--queue', '1']);
    expect((await rx.done()).code).toBe(0);
    const [res] = rx.json();
    expect(res.rings).toEqual([0, 1]);
    expect(res.description).toMatch(/RX queues 0-1/);
    const byRing = (ring: number) =>
      res.packets.filter((p: { ring: number }) => p.ring === ring).map((p: { b64: string }) => Buffer.from(p.b64, 'base64'));
    expectFramesExact(byRing(0), 0, 20);
    expectFramesExact(byRing(1), 100, 20);

    const [one] = await runScript(bed, 'af_xdp-open.mjs', ['--cases', JSON.stringify([['af_xdp:vb', { direction: 'rx', queue: 1 }]])]);
    expect(one.info.rxRings).toBe(1);
    expect(one.info.description).toMatch(/RX queue 1,/);
  });
});
