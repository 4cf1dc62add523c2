// Capture is passive: while nmcap captures on an interface with a bare name or af_packet:, a UDP
// server on that interface still gets every datagram. AF_XDP receive takes the frames away from
// the host stack, so nmcap refuses af_xdp:IF unless --divert asks for exactly that.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPacketsSync } from '../../src/pcap/index.js';
import { run, start, tempDir, type Running } from '../helpers/cli.js';
import { createVethBed, netnsUnavailable, type VethBed } from '../helpers/netns.js';

const why = netnsUnavailable();
const tmp = tempDir();
const SERVER = '10.77.0.2';
const CLIENT = '10.77.0.1';
const PORT = 40_777;

let bed: VethBed;
let peerNs: string; // the sender's namespace: va lives there, so datagrams really cross the veth

const serverJs = `
const s = require('node:dgram').createSocket('udp4');
let n = 0;
s.on('message', (m) => { n++; process.stderr.write('got ' + n + ' ' + m + '\\n'); if (String(m) === 'end') s.close(); });
s.bind(${PORT}, '${SERVER}', () => process.stderr.write('ready\\n'));`;

function send(messages: string[]): void {
  const js = `
const s = require('node:dgram').createSocket('udp4');
const m = ${JSON.stringify(messages)};
let i = 0;
const next = () => (i < m.length ? s.send(m[i++], ${PORT}, '${SERVER}', next) : s.close());
next();`;
  execFileSync('ip', ['netns', 'exec', peerNs, process.execPath, '-e', js], { stdio: 'ignore' });
}

function udpServer(): Running {
  return start(process.execPath, ['-e', serverJs], { prefix: ['ip', 'netns', 'exec', bed.ns] });
}

const nsPrefix = (): { prefix: string[] } => ({ prefix: ['ip', 'netns', 'exec', bed.ns] });

beforeAll(() => {
  if (why !== null) return;
  bed = createVethBed();
  peerNs = `${bed.ns}-peer-${randomBytes(2).toString('hex')}`;
  const ip = (args: string[]): string => execFileSync('ip', args, { encoding: 'utf8' });
  ip(['netns', 'add', peerNs]);
  ip(['netns', 'exec', peerNs, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1']);
  ip(['-n', bed.ns, 'link', 'set', bed.a, 'netns', peerNs]);
  ip(['-n', peerNs, 'addr', 'add', `${CLIENT}/24`, 'dev', bed.a]);
  ip(['-n', peerNs, 'link', 'set', bed.a, 'up']);
  ip(['-n', bed.ns, 'addr', 'add', `${SERVER}/24`, 'dev', bed.b]);
  // A static neighbour entry: the sender needs no ARP answer, which a diverted vb could not give.
  const mac = bed.exec('cat', [`/sys/class/net/${bed.b}/address`]).trim();
  ip(['-n', peerNs, 'neigh', 'replace', SERVER, 'lladdr', mac, 'dev', bed.a, 'nud', 'permanent']);
});

afterAll(() => {
  if (why !== null) return;
  try {
    execFileSync('ip', ['netns', 'del', peerNs]);
  } catch {
    // already gone
  }
  bed.destroy();
  tmp.cleanup();
});

const DATAGRAMS = ['d1', 'd2', 'd3', 'd4', 'd5'];

describe.skipIf(why !== null)(`capture is passive${why ? ` (skipped: ${why})` : ''}`, () => {
  it.each([['a bare name', 'vb'], ['af_packet:', 'af_packet:vb']])('with %s, a UDP server on the interface still gets every datagram', async (_, port) => {
    const server = udpServer();
    await server.waitFor(/^ready$/);
    const out = tmp.path(`passive-${port.replace(':', '_')}.pcapng`);
    const cap = start('nmcap', ['-i', port, '-c', String(DATAGRAMS.length), '-w', out, '--json'], nsPrefix());
    await cap.waitFor(/^listening on af_packet:vb/);
    send([...DATAGRAMS, 'end']);
    await server.waitFor(/^got 6 end$/);
    expect(server.stderr().split('\n').filter((l) => /^got \d+ d\d$/.test(l))).toHaveLength(DATAGRAMS.length);
    const c = await cap.done;
    expect(c.code, c.stderr).toBe(0);
    expect(JSON.parse(c.stdout)).toMatchObject({ captured: DATAGRAMS.length, reason: 'count' });
    expect(readPacketsSync(readFileSync(out))).toHaveLength(DATAGRAMS.length);
    await server.done;
  });

  it('af_xdp:IF without --divert is refused with one line and exit 2, before anything is attached', async () => {
    const r = await run('nmcap', ['-i', 'af_xdp:vb', '-w', tmp.path('refused.pcapng')], nsPrefix());
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^nmcap: af_xdp:vb takes every frame away from the host stack.*--divert.*af_packet:vb/);
    expect(bed.exec('ip', ['link', 'show', bed.b])).not.toMatch(/\bxdp/);
  });

  it('af_xdp:IF --divert opens, and the frames it captures never reach the UDP server', async () => {
    const server = udpServer();
    await server.waitFor(/^ready$/);
    const out = tmp.path('diverted.pcapng');
    const cap = start('nmcap', ['-i', 'af_xdp:vb', '--divert', '-c', String(DATAGRAMS.length), '-w', out, '--json'], nsPrefix());
    await cap.waitFor(/^listening on af_xdp:vb/);
    send(DATAGRAMS);
    const c = await cap.done;
    expect(c.code, c.stderr).toBe(0);
    expect(JSON.parse(c.stdout)).toMatchObject({ captured: DATAGRAMS.length, reason: 'count' });
    // nmcap has ended and detached its program: the next datagram is the first the server sees.
    send(['end']);
    await server.done;
    expect(server.stderr().split('\n').filter((l) => l.startsWith('got '))).toEqual(['got 1 end']);
  });
});
