#!/usr/bin/env node
// AF_XDP probe: 64-byte topspeed TX from af_xdp:va into a veth pair, side by side with trafgen and
// tcpreplay on the same veth in the same run. Receivers: an af_xdp:vb RX counter, or only the
// kernel's counters (/sys/class/net/vb/statistics). Needs root; not run by the tests.
//
//   node bench/af_xdp-probe.mjs [--secs 3] [--budget N]
//
// Prints one line per run: pps sent (sender's view), pps received (receiver's view), drops, and
// the ratio to the af_xdp TX run. Absolute numbers drift between machines: read the ratios.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const self = fileURLToPath(import.meta.url);
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};

// 64-byte frame (60 + FCS on the wire): local experimental EtherType, nothing answers it.
function frame64(seq = 0) {
  const b = Buffer.alloc(60);
  Buffer.from([0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x88, 0xb5]).copy(b);
  b.writeUInt32BE(seq, 14);
  return b;
}

function loadAddon() {
  const require = createRequire(import.meta.url);
  return require('../build/Release/nmcap.node');
}

// --- child roles (run inside the namespace) -------------------------------------------------

function roleTx() {
  const { Port } = loadAddon();
  const secs = Number(opt('secs', '3'));
  const budget = Number(opt('budget', '0'));
  const p = new Port('af_xdp:va', { direction: 'tx', ...(budget ? { txBudget: budget } : {}) });
  const n = p.ring('tx', 0).numSlots;
  const f = frame64();
  for (let i = 0; i < n; i++) p.writeBuf('tx', 0, i, f);
  let sent = 0;
  let syncs = 0;
  const t0 = process.hrtime.bigint();
  const end = t0 + BigInt(Math.round(secs * 1e9));
  while (process.hrtime.bigint() < end) {
    const r = p.ring('tx', 0);
    if (r.space > 0) {
      sent += r.space;
      p.setHead('tx', 0, r.tail);
    }
    p.txsync();
    syncs++;
    if (p.ring('tx', 0).space === 0) p.wait(2, 100);
  }
  while (p.txPending() > 0) p.wait(4, 100);
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage();
  console.log(JSON.stringify({ sent, secs: dt, syncs, mode: p.info().mode, cpuUs: cpu.user + cpu.system }));
  p.close();
}

function roleRx() {
  const { Port } = loadAddon();
  const secs = Number(opt('secs', '3'));
  const p = new Port('af_xdp:vb', { direction: 'rx' });
  console.log('ready');
  let got = 0;
  let first = 0n;
  let last = 0n;
  const end = process.hrtime.bigint() + BigInt(Math.round(secs * 1e9));
  while (process.hrtime.bigint() < end) {
    if (p.wait(1, 50) !== 'ready') continue;
    const r = p.ring('rx', 0);
    if (r.space) {
      if (!first) first = process.hrtime.bigint();
      last = process.hrtime.bigint();
      got += r.space;
      p.setHead('rx', 0, r.tail);
    }
  }
  p.rxsync();
  const c = p.counters();
  console.log(JSON.stringify({ got, activeSecs: Number(last - first) / 1e9, drops: String(c.rxDrops), ringFull: String(c.rxRingFull), mode: p.info().mode }));
  p.close();
}

// --- driver --------------------------------------------------------------------------------

function bed() {
  const ns = `nmc-probe-${randomBytes(3).toString('hex')}`;
  const ip = (...a) => execFileSync('ip', a, { stdio: ['ignore', 'pipe', 'pipe'] });
  const nsx = (...a) => execFileSync('ip', ['netns', 'exec', ns, ...a], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  ip('netns', 'add', ns);
  try {
    nsx('sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
    ip('-n', ns, 'link', 'add', 'va', 'numtxqueues', '1', 'numrxqueues', '1', 'type', 'veth', 'peer', 'name', 'vb', 'numtxqueues', '1', 'numrxqueues', '1');
    for (const d of ['va', 'vb']) {
      ip('-n', ns, 'link', 'set', d, 'up');
      try {
        nsx('ethtool', '-K', d, 'tso', 'off', 'gso', 'off', 'gro', 'off', 'tx', 'off', 'rxvlan', 'off', 'txvlan', 'off');
      } catch {}
    }
  } catch (e) {
    ip('netns', 'del', ns);
    throw e;
  }
  const stat = (dev, what) => Number(nsx('cat', `/sys/class/net/${dev}/statistics/${what}`).trim());
  return { ns, nsx, stat, destroy: () => ip('netns', 'del', ns) };
}

function run(b, cmd, argv) {
  return new Promise((resolve) => {
    const c = spawn('ip', ['netns', 'exec', b.ns, cmd, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (err += d));
    c.on('close', (code) => resolve({ code, out, err }));
  });
}

function startRx(b, secs) {
  const c = spawn('ip', ['netns', 'exec', b.ns, process.execPath, self, '--role', 'rx', '--secs', String(secs)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const ready = new Promise((resolve) => c.stdout.on('data', (d) => { out += d; if (out.includes('ready')) resolve(); }));
  const done = new Promise((resolve) => c.on('close', () => resolve(JSON.parse(out.trim().split('\n').pop()))));
  return { ready, done };
}

function counters(b) {
  return { vaTx: b.stat('va', 'tx_packets'), vbRx: b.stat('vb', 'rx_packets'), vbDrop: b.stat('vb', 'rx_dropped'), vaDrop: b.stat('va', 'tx_dropped') };
}

function delta(a, z) {
  return Object.fromEntries(Object.keys(a).map((k) => [k, z[k] - a[k]]));
}

async function peer(b, name, secs, rxKind, dir) {
  const c0 = counters(b);
  let rx = null;
  if (rxKind === 'af_xdp') {
    rx = startRx(b, secs + 2);
    await rx.ready;
  }
  const t0 = process.hrtime.bigint();
  let sender;
  if (name === 'af_xdp') {
    const budget = opt('budget', '0');
    sender = await run(b, process.execPath, [self, '--role', 'tx', '--secs', String(secs), '--budget', budget]);
  } else if (name === 'trafgen') {
    const cfg = join(dir, 'frame.cfg');
    writeFileSync(cfg, `{ ${[...frame64()].map((x) => '0x' + x.toString(16).padStart(2, '0')).join(', ')} }\n`);
    sender = await run(b, 'timeout', ['-s', 'INT', String(secs), 'trafgen', '-o', 'va', '-i', cfg, '--cpus', '1', '-q']);
  } else {
    sender = await run(b, 'tcpreplay', ['-i', 'va', '--topspeed', '-K', '--loop', String(Math.round(secs * 3)), join(dir, 'f64.pcap')]);
  }
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const rxr = rx ? await rx.done : null;
  const d = delta(c0, counters(b));
  const txInfo = name === 'af_xdp' && sender.out ? JSON.parse(sender.out.trim().split('\n').pop()) : null;
  const secsTx = txInfo ? txInfo.secs : wall;
  return { name, rx: rxKind, txPps: d.vaTx / secsTx, rxPps: d.vbRx / secsTx, d, rxr, txInfo, stderr: sender.code ? sender.err.slice(0, 300) : '' };
}

function writePcap(path, n) {
  const f = frame64();
  const hdr = Buffer.alloc(24);
  hdr.writeUInt32LE(0xa1b2c3d4, 0);
  hdr.writeUInt16LE(2, 4);
  hdr.writeUInt16LE(4, 6);
  hdr.writeUInt32LE(65535, 16);
  hdr.writeUInt32LE(1, 20);
  const rec = Buffer.alloc(16 + f.length);
  rec.writeUInt32LE(f.length, 8);
  rec.writeUInt32LE(f.length, 12);
  f.copy(rec, 16);
  const parts = [hdr];
  for (let i = 0; i < n; i++) parts.push(rec);
  writeFileSync(path, Buffer.concat(parts));
}

async function main() {
  if (process.getuid() !== 0) {
    console.error('af_xdp-probe: needs root (network namespaces, AF_XDP, BPF)');
    process.exit(2);
  }
  const secs = Number(opt('secs', '3'));
  const dir = mkdtempSync(join(tmpdir(), 'nmcap-probe-'));
  writePcap(join(dir, 'f64.pcap'), 200000);
  const b = bed();
  const results = [];
  try {
    for (const [name, rxKind] of [
      ['af_xdp', 'sysfs'],
      ['af_xdp', 'af_xdp'],
      ['trafgen', 'sysfs'],
      ['trafgen', 'af_xdp'],
      ['tcpreplay', 'sysfs'],
      ['tcpreplay', 'af_xdp'],
    ]) {
      results.push(await peer(b, name, secs, rxKind, dir));
    }
  } finally {
    b.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
  const base = results.find((r) => r.name === 'af_xdp' && r.rx === 'sysfs').txPps;
  for (const r of results) {
    const rxDrops = r.rxr ? ` af_xdp RX got ${r.rxr.got} (drops ${r.rxr.drops}, ring full ${r.rxr.ringFull})` : '';
    const extra = r.txInfo ? ` [${r.txInfo.mode}; ${r.txInfo.syncs} txsyncs; ${(r.txInfo.cpuUs / r.txInfo.sent * 1000).toFixed(0)} ns CPU/pkt]` : '';
    console.log(
      `${r.name.padEnd(9)} -> ${r.rx.padEnd(6)}: TX ${(r.txPps / 1e3).toFixed(0)} kpps, vb RX ${(r.rxPps / 1e3).toFixed(0)} kpps, ` +
        `ratio ${(r.txPps / base).toFixed(2)}; vb rx_dropped ${r.d.vbDrop}, va tx_dropped ${r.d.vaDrop};${rxDrops}${extra}${r.stderr ? ' ERR ' + r.stderr : ''}`,
    );
  }
}

const role = opt('role', null);
if (role === 'tx') roleTx();
else if (role === 'rx') roleRx();
else await main();
