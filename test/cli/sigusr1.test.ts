// SIGUSR1 on a running nmcap/nmreplay prints the statistics so far and the run goes on, as tcpdump
// does; it never opens Node's inspector (which would hand the process, often root, to any local user).
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { readPacketsSync } from '../../src/pcap/index.js';
import { SO_FAR, askCount, pipeName, run, start, tempDir } from '../helpers/cli.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());
const demo = new URL('../fixtures/demo.pcapng', import.meta.url).pathname;

/** TCP and TCP6 ports a process listens on: its socket inodes matched against /proc/net/tcp*. */
function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // the fd closed while we looked
    }
  }
  const ports: number[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A') continue; // 0A = LISTEN
      if (inodes.has(f[9]!)) ports.push(Number.parseInt(f[1]!.split(':')[1]!, 16));
    }
  }
  return ports;
}

describe('SIGUSR1', () => {
  it('nmcap: prints the packets captured so far, opens no inspector, and keeps capturing', async () => {
    const name = pipeName('u');
    const out = tmp.path(`${name}.pcapng`);
    const c = start('nmcap', ['-i', `pipe:${name}}0`, '-w', out, '--json']);
    await c.waitFor(/^listening on pipe:/);
    expect(await askCount(c, SO_FAR.nmcap)).toBe(0);
    expect(listeningPorts(c.child.pid!)).toEqual([]);
    expect(c.stderr()).not.toMatch(/Debugger|inspector/i);
    // Still capturing: a replay now arrives whole.
    const rep = await run('nmreplay', ['-i', `pipe:${name}{0`, '-t', demo]);
    expect(rep.code, rep.stderr).toBe(0);
    const cap = await c.done;
    expect(cap.code, cap.stderr).toBe(0);
    const want = readPacketsSync(readFileSync(demo)).length;
    expect(JSON.parse(cap.stdout)).toMatchObject({ captured: want, reason: 'peer-closed' });
    expect(readPacketsSync(readFileSync(out))).toHaveLength(want);
    expect(cap.stderr).not.toMatch(/Debugger|inspector/i);
  });

  it('nmreplay: prints its progress, opens no inspector, and keeps sending', async () => {
    const name = pipeName('u');
    const out = tmp.path(`${name}.pcapng`);
    const c = start('nmcap', ['-i', `pipe:${name}}0`, '-w', out, '--json']);
    await c.waitFor(/^listening on pipe:/);
    const r = start('nmreplay', ['-i', `pipe:${name}{0`, '--rate', '2kpps', '-l', '0', '--json', demo]);
    await r.waitFor(/^nmreplay: sending on/);
    const first = await askCount(r, SO_FAR.nmreplay);
    expect(listeningPorts(r.child.pid!)).toEqual([]);
    // Asked again until the count grows: the replay went on after the signal.
    let later = first;
    while (later <= first) later = await askCount(r, SO_FAR.nmreplay);
    expect(later).toBeGreaterThan(first);
    r.child.kill('SIGINT');
    const rep = await r.done;
    expect(rep.code, rep.stderr).toBe(130);
    expect(JSON.parse(rep.stdout).packets).toBeGreaterThan(0);
    expect(rep.stderr).not.toMatch(/Debugger|inspector/i);
    const cap = await c.done;
    expect(cap.code, cap.stderr).toBe(0);
  });
});
