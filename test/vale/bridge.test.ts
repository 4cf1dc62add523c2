// VALE names on a Linux bridge (the switch where there is no /dev/netmap, or forced): learning,
// flooding, no echo to the ingress port, cleanup after close and after SIGKILL, clashes, bad names,
// missing privileges; through the Port API and the nmcap/nmreplay command lines.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';

import { PcapWriter, openSink, openTrace, readPacketsSync } from '../../src/pcap/index.js';
import { netmapAvailable } from '../../src/ports/names.js';
import { linuxNames, parseValeBridgeName, chooseValeBackend } from '../../src/ports/vale-bridge.js';
import { run, start, tempDir } from '../helpers/cli.js';
import { netnsUnavailable } from '../helpers/netns.js';
import { BRIDGE_ENV, VALE_SCRIPT, createNamespace, firstLine, holdPort, valeScript, type Namespace } from '../helpers/vale.js';

const why = netnsUnavailable();
// The unprivileged runs start node on this checkout as nobody: it must be able to read it (a clone
// under a private temporary folder is not).
const checkoutWhy = ((): string | null => {
  try {
    for (const f of [VALE_SCRIPT, new URL('../../dist/cli/nmcap.js', import.meta.url).pathname]) {
      execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'test', '-r', f], { stdio: 'ignore' });
    }
    return null;
  } catch {
    return 'user nobody cannot read this checkout (or setpriv is missing)';
  }
})();
const rootlessWhy = checkoutWhy ?? ((): string | null => {
  try {
    execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'unshare', '-rn', 'true'], { stdio: 'ignore' });
    return null;
  } catch {
    return 'this kernel or setup does not let an unprivileged user make namespaces (or setpriv/unshare are missing)';
  }
})();
const tmp = tempDir();
afterAll(() => tmp.cleanup());

describe('VALE names for the bridge-backed switch (no kernel needed)', () => {
  it('derives short, deterministic Linux names, distinct per switch and port', () => {
    const a = linuxNames('vale0', 'p1');
    expect(linuxNames('vale0', 'p1')).toEqual(a);
    for (const n of Object.values(a)) expect(n.length).toBeLessThanOrEqual(15);
    expect(linuxNames('vale0', 'p2').inner).not.toBe(a.inner);
    expect(linuxNames('vale1', 'p1').bridge).not.toBe(a.bridge);
    expect(linuxNames('vale0', 'p2').bridge).toBe(a.bridge);
    expect(linuxNames('vale_long_name1', 'port_name_15chr').outer).toMatch(/^nmvq[0-9a-f]{10}$/);
  });

  it('takes valeX:Y and @conf slot sizes, refuses the rest with one clear line', () => {
    expect(parseValeBridgeName('vale:p1')).toMatchObject({ switchName: 'vale', port: 'p1' });
    expect(parseValeBridgeName('vale0:p1@conf:rings=1,slots=4096')).toMatchObject({ rxSlots: 4096, txSlots: 4096 });
    expect(parseValeBridgeName('vale0:p1@conf:rx-slots=2048')).toMatchObject({ rxSlots: 2048 });
    expect(parseValeBridgeName('vale0:p1@conf:rx-slots=2048').txSlots).toBeUndefined();
    const bad = (n: string): unknown => {
      try {
        parseValeBridgeName(n);
      } catch (e) {
        return { code: (e as { code: string }).code, message: (e as Error).message };
      }
      return 'accepted';
    };
    expect(bad('vale0:')).toMatchObject({ code: 'ERR_PORT_BAD_NAME', message: expect.stringContaining('port name is empty') });
    expect(bad('vale-x:p')).toMatchObject({ code: 'ERR_PORT_BAD_NAME', message: expect.stringContaining("only letters, digits and '_'") });
    expect(bad('vale0:p.1')).toMatchObject({ code: 'ERR_PORT_BAD_NAME' });
    expect(bad('vale0:abcdefghijklmnop')).toMatchObject({ message: expect.stringContaining('longer than 15') });
    expect(bad('vale0123456789abc:p')).toMatchObject({ message: expect.stringContaining('longer than 15') });
    expect(bad('vale0:p{1')).toMatchObject({ code: 'ERR_PORT_UNSUPPORTED', message: expect.stringContaining("netmap's VALE switch") });
    expect(bad('vale0:p1@conf:rings=4')).toMatchObject({ message: expect.stringContaining('one ring each way') });
    expect(bad('vale0:p1@share:x')).toMatchObject({ message: expect.stringContaining('only @conf') });
    for (const m of Object.values({ a: bad('vale0:'), b: bad('vale0:p{1') })) expect((m as { message: string }).message).not.toContain('\n');
  });

  it('chooses netmap where /dev/netmap exists, the bridge elsewhere, and obeys a forced choice', () => {
    expect(chooseValeBackend(undefined, true).backend).toBe('netmap');
    expect(chooseValeBackend(undefined, false).backend).toBe('bridge');
    expect(chooseValeBackend('bridge', true).backend).toBe('bridge');
    expect(chooseValeBackend('netmap', false).backend).toBe('netmap');
    expect(() => chooseValeBackend('ovs', false)).toThrow(/unknown VALE backend 'ovs'/);
  });
});

describe.skipIf(why !== null)(`bridge-backed VALE in a namespace${why ? ` (skipped: ${why})` : ''}`, () => {
  let n: Namespace;
  beforeEach(() => {
    n = createNamespace();
  });
  afterEach(() => n.destroy());

  it('three ports: flooding, learning, no echo to the ingress port, runts dropped; all removed at close', async () => {
    const [r] = await valeScript(n, ['learn', 'vale0']);
    const got = r!.got as Record<string, string[]>;
    expect(got.a).toEqual(['b-to-a', 'marker-b', 'marker-c']);
    expect(got.b).toEqual(['bcast-from-a', 'a-to-unknown', 'c-to-b', 'marker-a', 'marker-c']);
    expect(got.c).toEqual(['bcast-from-a', 'a-to-unknown', 'marker-a', 'marker-b']);
    expect((r!.descriptions as Record<string, string>).a).toMatch(/^port a of VALE switch vale0 as a Linux bridge/);
    expect(n.valeLinks()).toEqual([]);
  });

  it('the bridge lives while a port does, and goes with the last one', async () => {
    const { bridge, inner, outer } = linuxNames('vale3', 'p');
    const p = holdPort(n, 'vale3:p');
    const q = holdPort(n, 'vale3:q');
    const [pi] = await Promise.all([firstLine(p), firstLine(q)]);
    expect(pi.choice).toMatch(/Linux bridge standing in for VALE switch vale3/);
    const names = n.valeLinks().map((l) => l.ifname).sort();
    expect(names).toEqual(expect.arrayContaining([bridge, inner, outer]));
    expect(names).toHaveLength(5);
    expect(n.valeLinks().find((l) => l.ifname === outer)!.ifalias).toMatch(/^nmcap-vale vale3:p owner=\d+\.\d+$/);
    p.child.stdin!.end('close\n');
    await p.done;
    expect(n.valeLinks().map((l) => l.ifname).sort()).toEqual([bridge, ...Object.values(linuxNames('vale3', 'q')).slice(1)].sort());
    q.child.stdin!.end('close\n');
    await q.done;
    expect(n.valeLinks()).toEqual([]);
  });

  it('a port whose owner was SIGKILLed is removed at the next open in that namespace', async () => {
    const h = holdPort(n, 'vale0:k');
    await firstLine(h);
    h.child.kill('SIGKILL');
    await h.done;
    expect(n.valeLinks()).toHaveLength(3); // left behind: bridge and the veth pair
    const [r] = await valeScript(n, ['open', 'vale0:k']); // same name: the stale one is not "in use"
    expect(r).toEqual({ ok: true });
    expect(n.valeLinks()).toEqual([]);
  });

  it('a port open elsewhere is busy: one line naming the process, nothing changed', async () => {
    const h = holdPort(n, 'vale0:a');
    const first = await firstLine(h);
    expect(first.ready).toBe(true);
    const before = n.valeLinks();
    const [r] = await valeScript(n, ['open', 'vale0:a']);
    expect(r).toMatchObject({ code: 'ERR_PORT_BUSY', message: expect.stringMatching(/vale0:a is open in process \d+/) });
    expect(n.valeLinks()).toEqual(before);
    h.child.stdin!.end('close\n');
    await h.done;
    expect(n.valeLinks()).toEqual([]);
  });

  it('a name clashing with an existing interface: one line, the interface untouched, nothing left', async () => {
    const { bridge, outer } = linuxNames('vale7', 'a');
    n.ip(['link', 'add', bridge, 'type', 'bridge']); // someone else's bridge
    const r = await run('nmcap', ['-i', 'vale7:a', '-w', tmp.path('clash.pcapng')], { prefix: n.prefix, env: BRIDGE_ENV });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(new RegExp(`^nmcap: cannot make VALE switch vale7: the interface ${bridge} .* already exists \\(not made by nmcap\\)`));
    expect(n.valeLinks()).toEqual([{ ifname: bridge, ifalias: undefined, kind: 'bridge' }]);
    n.ip(['link', 'del', bridge]);
    n.ip(['link', 'add', outer, 'type', 'veth', 'peer', 'name', 'other0']);
    const [p] = await valeScript(n, ['open', 'vale7:a']);
    expect(p).toMatchObject({ code: 'ERR_PORT_BUSY', message: expect.stringContaining(`interface ${outer}`) });
    expect(n.valeLinks().map((l) => l.ifname)).toEqual([outer]);
  });

  it('bad names and a forced netmap switch without netmap: one line each, nothing made', async () => {
    for (const [name, re] of [
      ['vale0:', /port name is empty/],
      ['vale0:abcdefghijklmnop', /longer than 15/],
      ['vale0:x{1', /need netmap's VALE switch/],
    ] as const) {
      const r = await run('nmcap', ['-i', name, '-w', tmp.path('bad.pcapng')], { prefix: n.prefix, env: BRIDGE_ENV });
      expect(r.code, name).toBe(1);
      expect(r.stderr.trim().split('\n'), name).toHaveLength(1);
      expect(r.stderr, name).toMatch(re);
    }
    if (!netmapAvailable()) {
      const r = await run('nmcap', ['-i', 'vale0:a', '--vale-backend', 'netmap', '-w', tmp.path('nm.pcapng')], { prefix: n.prefix });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^nmcap: netmap is not available: \/dev\/netmap does not exist/);
    }
    const u = await run('nmcap', ['-i', 'vale0:a', '--vale-backend', 'ovs', '-w', tmp.path('u.pcapng')], { prefix: n.prefix });
    expect(u.code).toBe(2);
    expect(n.valeLinks()).toEqual([]);
  });

  it.skipIf(checkoutWhy !== null)(`without CAP_NET_ADMIN: one line saying so, nothing made${checkoutWhy ? ` (skipped: ${checkoutWhy})` : ''}`, async () => {
    const r = await run(
      'setpriv',
      ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', process.execPath,
        new URL('../../bin/nmcap', import.meta.url).pathname, '-i', 'vale0:a', '-w', '/dev/null'],
      { prefix: n.prefix, env: BRIDGE_ENV },
    );
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^nmcap: cannot make VALE port vale0:a as a Linux bridge: .*not permitted; run as root \(CAP_NET_ADMIN\)/);
    expect(n.valeLinks()).toEqual([]);
  });

  it.skipIf(rootlessWhy !== null)(`rootless: an unprivileged user in its own user and network namespace (unshare -rn) gets the same switch${rootlessWhy ? ` (skipped: ${rootlessWhy})` : ''}`, async () => {
    const r = await run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'unshare', '-rn', process.execPath, VALE_SCRIPT, 'learn', 'vale0'], {
      env: BRIDGE_ENV,
    });
    expect(r.code, r.stderr).toBe(0);
    const got = (JSON.parse(r.stdout) as { got: Record<string, string[]> }).got;
    expect(got.c).toEqual(['bcast-from-a', 'a-to-unknown', 'marker-a', 'marker-b']);
  });

  it('nmreplay into one port, nmcap on two others: every frame floods to both, byte-exact; the IDB and stderr say which switch', async () => {
    const trace = tmp.path('flood.pcap');
    const frames: Buffer[] = [];
    for (let i = 0; i < 300; i++) {
      const f = Buffer.alloc(60 + ((i * 37) % 1400), i & 0xff);
      Buffer.from([0x02, 0, 0, 0, 0, 0xee, 0x02, 0, 0, 0, 0, 0x0a, 0x88, 0xb5]).copy(f);
      f.writeUInt32BE(i, 14);
      frames.push(f);
    }
    const w = new PcapWriter(openSink(trace), { linkType: 1, snapLen: 65535 });
    frames.forEach((data, i) => w.writePacket({ ts: 1_700_000_000_000_000_000n + BigInt(i) * 1000n, data }));
    await w.close();
    const caps = ['b', 'c'].map((p) => {
      const out = tmp.path(`${n.ns}-${p}.pcapng`);
      return { out, run: start('nmcap', ['-i', `vale0:${p}`, '-w', out, '-c', '300', '--json'], { prefix: n.prefix, env: BRIDGE_ENV }) };
    });
    for (const c of caps) await c.run.waitFor(/^listening on/);
    const rep = await run('nmreplay', ['-i', 'vale0:a', '--rate', '10kpps', '--json', trace], { prefix: n.prefix, env: BRIDGE_ENV });
    expect(rep.code, rep.stderr).toBe(0);
    expect(rep.stderr.split('\n')[0]).toMatch(/^nmreplay: vale0:a is a port of a Linux bridge standing in for VALE switch vale0/);
    expect(JSON.parse(rep.stdout)).toMatchObject({ packets: 300, failed: 0 });
    for (const c of caps) {
      const r = await c.run.done;
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr.split('\n')[0]).toMatch(/^nmcap: vale0:[bc] is a port of a Linux bridge standing in for VALE switch vale0/);
      const got = readPacketsSync(readFileSync(c.out));
      expect(got.map((p) => p.data)).toEqual(frames);
      expect(await idbDescription(c.out)).toMatch(/^port [bc] of VALE switch vale0 as a Linux bridge/);
    }
    expect(n.valeLinks()).toEqual([]);
  });
});

async function idbDescription(file: string): Promise<string | undefined> {
  const reader = openTrace(readFileSync(file));
  for await (const _ of reader.batches()) break;
  const d = reader.sections[0]?.interfaces[0]?.description;
  await reader.close();
  return d;
}
