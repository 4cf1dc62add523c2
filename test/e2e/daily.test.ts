// dumpcap/tcpdump habits over pipes (no privileges needed, except -Z which needs root): stop
// conditions, several -i into one file, files created 0600, -Z USER, the status line on a
// terminal and none elsewhere, -D.
import { execFileSync } from 'node:child_process';
import { chmodSync, readFileSync, statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { statusText } from '../../src/cli/nmcap-live.js';
import { PcapWriter, openSink, readPacketsSync, type Packet } from '../../src/pcap/index.js';
import { BIN, pipeName, run, start, tempDir } from '../helpers/cli.js';

const tmp = tempDir();
let trace: string;
const COUNT = 400;

function packetsOf(file: string): Packet[] {
  return readPacketsSync(readFileSync(file));
}

beforeAll(async () => {
  trace = tmp.path('t.pcap');
  const w = new PcapWriter(openSink(trace), { linkType: 1, snapLen: 65535 });
  for (let i = 0; i < COUNT; i++) {
    const d = Buffer.alloc(100, i & 0xff);
    d.writeUInt16BE(0x88b5, 12);
    d.writeUInt32BE(i, 14);
    w.writePacket({ ts: 1_700_000_000_000_000_000n + BigInt(i) * 1000n, data: d });
  }
  await w.close();
});
afterAll(() => tmp.cleanup());

async function pipeCapture(captureArgs: string[], replay = true) {
  const name = pipeName('d');
  const out = tmp.path(`${name}.pcapng`);
  const c = start('nmcap', ['-i', `pipe:${name}}0`, '-w', out, '--json', ...captureArgs]);
  await c.waitFor(/^listening on pipe:/);
  const rep = replay ? start('nmreplay', ['-i', `pipe:${name}{0`, '--rate', '4kpps', '-l', '0', trace]) : undefined;
  const cap = await c.done;
  rep?.child.kill('SIGINT');
  if (rep) await rep.done;
  return { cap, out, json: JSON.parse(cap.stdout) as Record<string, unknown> };
}

describe('stop conditions', () => {
  it('-a packets:N stops after N, -c and -a packets together take the smaller', async () => {
    const a = await pipeCapture(['-a', 'packets:25']);
    expect(a.cap.code, a.cap.stderr).toBe(0);
    expect(a.json).toMatchObject({ captured: 25, reason: 'count' });
    expect(packetsOf(a.out)).toHaveLength(25);
    const b = await pipeCapture(['-a', 'packets:30', '-c', '7']);
    expect(b.json).toMatchObject({ captured: 7, reason: 'count' });
  });

  it('-a duration:S stops after S seconds with nothing arriving', async () => {
    const t0 = Date.now();
    const r = await pipeCapture(['-a', 'duration:1'], false);
    expect(r.cap.code, r.cap.stderr).toBe(0);
    expect(r.json).toMatchObject({ captured: 0, reason: 'duration' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
  });

  it('-a filesize:KB stops once the file holds that much, complete (ISB included)', async () => {
    const r = await pipeCapture(['-a', 'filesize:20']);
    expect(r.cap.code, r.cap.stderr).toBe(0);
    expect(r.json).toMatchObject({ reason: 'filesize' });
    const size = statSync(r.out).size;
    // At least 20 kB of blocks; past it by at most one packet block and the closing statistics.
    expect(size).toBeGreaterThanOrEqual(20_000);
    expect(size).toBeLessThan(20_000 + 132 + 400);
    expect(packetsOf(r.out).length).toBe(r.json['captured']);
  });

  it.each([
    [['-a', 'bogus:1'], /-a "bogus:1": use duration:S, packets:N, filesize:KB or files:N/],
    [['-a', 'packets:0'], /packets: needs a positive whole number/],
    [['-a', 'files:3'], /-a files:N .*give -b too/],
  ])('refuses %j with one line and exit 2', async (args, why) => {
    const r = await run('nmcap', ['-i', `pipe:${pipeName('u')}}0`, '-w', tmp.path('u.pcapng'), ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(why)]);
  });
});

describe('several -i into one file', () => {
  it('one IDB per port, every packet of each with its interface, -c counting them all', async () => {
    const [n1, n2] = [pipeName('m'), pipeName('m')];
    const out = tmp.path('multi.pcapng');
    const c = start('nmcap', ['-i', `pipe:${n1}}0`, '-i', `pipe:${n2}}0`, '-w', out, '-c', String(2 * COUNT), '--json']);
    await c.waitFor(new RegExp(`^listening on pipe:${n2}`));
    // Both at once; the capture stops when it has every packet of both.
    const [r1, r2] = await Promise.all([run('nmreplay', ['-i', `pipe:${n1}{0`, '-t', trace]), run('nmreplay', ['-i', `pipe:${n2}{0`, '-t', trace])]);
    const cap = await c.done;
    expect(r1.code, r1.stderr).toBe(0);
    expect(r2.code, r2.stderr).toBe(0);
    expect(cap.code, cap.stderr).toBe(0);
    const got = packetsOf(out);
    expect(got[0]!.section.interfaces).toHaveLength(2);
    expect(got[0]!.section.interfaces.map((i) => i.name)).toEqual([expect.stringContaining(n1), expect.stringContaining(n2)]);
    for (const k of [0, 1]) expect(got.filter((p) => p.interface === k).map((p) => p.data.readUInt32BE(14))).toEqual([...Array(COUNT).keys()]);
    expect(JSON.parse(cap.stdout)).toMatchObject({ captured: got.length });

    // -c N over two busy ports: exactly N in the file.
    const [m1, m2] = [pipeName('c'), pipeName('c')];
    const out2 = tmp.path('multi-c.pcapng');
    const k = start('nmcap', ['-i', `pipe:${m1}}0`, '-i', `pipe:${m2}}0`, '-w', out2, '-c', '150', '--json']);
    await k.waitFor(new RegExp(`^listening on pipe:${m2}`));
    const s1 = start('nmreplay', ['-i', `pipe:${m1}{0`, '--rate', '2kpps', '-l', '0', trace]);
    const s2 = start('nmreplay', ['-i', `pipe:${m2}{0`, '--rate', '2kpps', '-l', '0', trace]);
    const done = await k.done;
    s1.child.kill('SIGINT');
    s2.child.kill('SIGINT');
    await Promise.all([s1.done, s2.done]);
    expect(done.code, done.stderr).toBe(0);
    expect(packetsOf(out2)).toHaveLength(150);
    expect(JSON.parse(done.stdout)).toMatchObject({ captured: 150, reason: 'count' });
  });
});

describe('files and privileges', () => {
  it('creates capture files 0600 whatever the umask', async () => {
    const r = await pipeCapture(['-c', '3']);
    expect(statSync(r.out).mode & 0o777).toBe(0o600);
  });

  const root = process.getuid?.() === 0;
  it.skipIf(!root)(`-Z nobody: the capture runs as nobody once the port is open, and its file is nobody's${root ? '' : ' (skipped: needs root)'}`, async () => {
    const dir = tempDir('nmcap-z-');
    chmodSync(dir.dir, 0o777); // nobody must be able to create the file
    try {
      const name = pipeName('z');
      const out = dir.path('z.pcapng');
      const c = start('nmcap', ['-i', `pipe:${name}}0`, '-w', out, '-Z', 'nobody', '-c', '5', '--json']);
      await c.waitFor(/^listening on pipe:/);
      const status = readFileSync(`/proc/${c.child.pid}/status`, 'utf8');
      const rep = start('nmreplay', ['-i', `pipe:${name}{0`, '--rate', '2kpps', '-l', '0', trace]);
      const cap = await c.done;
      rep.child.kill('SIGINT');
      await rep.done;
      expect(cap.code, cap.stderr).toBe(0);
      const nobody = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }));
      expect(/^Uid:\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(status)!.slice(1).map(Number)).toEqual([nobody, nobody, nobody]);
      expect(statSync(out).uid).toBe(nobody);
      expect(statSync(out).mode & 0o777).toBe(0o600);
      expect(packetsOf(out)).toHaveLength(5);
    } finally {
      dir.cleanup();
    }
  });

  it('-Z with an unknown user fails with one line before writing anything', async () => {
    const out = tmp.path('nouser.pcapng');
    const r = await run('nmcap', ['-i', `pipe:${pipeName('z')}}0`, '-w', out, '-Z', 'no-such-user-xyz']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual(['nmcap: -Z no-such-user-xyz: no such user in /etc/passwd']);
    expect(() => statSync(out)).toThrow();
  });
});

describe('status line', () => {
  it('is drawn on a terminal, in place, with packets, rate, drops, bytes and file', async () => {
    const name = pipeName('s');
    const out = tmp.path('tty.pcapng');
    // script(1) gives nmcap a pseudo-terminal; the command line is ours, not user input.
    const cmd = `${process.execPath} ${BIN.nmcap} -i 'pipe:${name}}0' -w ${out} -c 300`;
    const c = start('script', ['-qfec', cmd, '/dev/null']);
    let rep: ReturnType<typeof start> | undefined;
    // script copies the terminal to its stdout: wait for the listening line there.
    await new Promise<void>((resolve) => {
      c.child.stdout!.on('data', () => {
        if (!rep && /listening on pipe:/.test(c.stdout())) {
          rep = start('nmreplay', ['-i', `pipe:${name}{0`, '--rate', '500pps', '-l', '0', trace]);
          resolve();
        }
      });
    });
    const done = await c.done;
    rep!.child.kill('SIGINT');
    await rep!.done;
    expect(done.code, done.stdout).toBe(0);
    const lines = done.stdout.split(/\r|\n/);
    const status = lines.filter((l) => /packets: \d+ {2}rate: /.test(l));
    expect(status.length).toBeGreaterThanOrEqual(2); // redrawn while running, and once at the end
    expect(status.at(-1)).toMatch(new RegExp(`packets: 300 {2}rate: .*pps {2}drops: 0 {2}written: [\\d.]+ kB {2}file: ${out}`));
  });

  it('is not drawn when stderr is not a terminal', async () => {
    const r = await pipeCapture(['-c', '50']);
    expect(r.cap.stderr).not.toMatch(/packets: \d+ {2}rate:/);
    expect(r.cap.stderr).not.toMatch(/\r/);
  });

  it('formats units', () => {
    expect(statusText(12, 1_234_567, 'unknown', 2_500_000_000, 'x.pcapng')).toBe(
      'packets: 12  rate: 1.23 Mpps  drops: unknown  written: 2.50 GB  file: x.pcapng',
    );
    expect(statusText(0, 12.4, '0', 999, 'f')).toBe('packets: 0  rate: 12 pps  drops: 0  written: 1.0 kB  file: f');
  });
});

describe('-D', () => {
  it('lists the interfaces of the namespace with the backends usable on each', async () => {
    const r = await run('nmcap', ['-D']);
    expect(r.code, r.stderr).toBe(0);
    const names = execFileSync('ls', ['/sys/class/net'], { encoding: 'utf8' }).trim().split('\n').sort();
    const lines = r.stdout.trim().split('\n');
    names.forEach((n, i) => expect(lines[i]).toMatch(new RegExp(`^${i + 1}\\. ${n} \\[\\w+\\] backends: `)));
    if (process.getuid?.() === 0) expect(lines.find((l) => l.includes('. lo '))).toMatch(/backends: af_packet \(not netmap: no \/dev\/netmap; af_xdp: not an Ethernet device\)/);
    expect(lines.at(-2)).toMatch(/^capture with a bare name is passive \(af_packet\); .* need --divert$/);
    expect(lines.at(-1)).toMatch(/^pipe:NAME/);
  });
});
