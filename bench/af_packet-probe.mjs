#!/usr/bin/env node
// Quick AF_PACKET throughput probe on a veth pair, side by side with the peers (not run by tests).
//
//   sudo node bench/af_packet-probe.mjs [--seconds 3] [--batch 256]
//
// Builds a throwaway namespace with va <-> vb (offloads off), then runs one sender after the
// other for --seconds each, always against the same receiver (our af_packet RX ring on vb,
// pinned to CPU 1, counting slots without copying them):
//   nmcap   af_packet TX ring on va, 64-byte frames, --batch slots per txsync (CPU 0)
//   trafgen -o va --cpus 1   (TX ring, qdisc bypass)                         (CPU 0)
//   tcpreplay -i va --topspeed --preload-pcap                                  (CPU 0)
// and prints, per sender: frames/s leaving va (va tx_packets), frames/s our RX counted over its
// active window, RX drops (PACKET_STATISTICS), veth drops, and the ratio to the first sender.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const self = fileURLToPath(import.meta.url);
const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : dflt;
};
const seconds = Number(opt('seconds', '3'));
const batch = Number(opt('batch', '256'));
const role = opt('role', 'main');

const WAIT_RX = 1;
const WAIT_TX = 2;
const WAIT_TX_PROGRESS = 4;
const FRAME = Buffer.alloc(64);
Buffer.from([0x02, 0, 0, 0, 0, 0xbb, 0x02, 0, 0, 0, 0, 0x01, 0x88, 0xb5]).copy(FRAME);

function addon() {
  const require = createRequire(import.meta.url);
  return require('../build/Release/nmcap.node');
}

if (role === 'rx') {
  // Count received slots per sync, releasing them at once; stop after 700 ms of silence.
  const { Port } = addon();
  const rx = new Port('af_packet:vb', { direction: 'rx' });
  process.stdout.write('ready\n');
  let n = 0;
  let first = 0;
  let last = 0;
  let wakeups = 0;
  const start = Date.now();
  const cpu0 = process.cpuUsage();
  for (;;) {
    const w = rx.wait(WAIT_RX, 100);
    const now = Date.now();
    if (w === 'ready') {
      wakeups++;
      for (let k = 0; k < rx.info().rxRings; k++) {
        const st = rx.ring('rx', k);
        n += st.space;
        rx.setHead('rx', k, st.tail);
      }
      if (!first) first = now;
      last = now;
    } else if ((first && now - last > 700) || (!first && now - start > 60000)) {
      break;
    }
  }
  const c = rx.counters();
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(
    `${JSON.stringify({
      received: n,
      activeMs: last - first,
      kernelSeen: String(c.rxReceived),
      drops: String(c.rxDrops),
      cpuNsPerPkt: n ? ((cpu.user + cpu.system) * 1000) / n : 0,
      pktsPerWakeup: wakeups ? n / wakeups : 0,
    })}\n`,
  );
  rx.close();
} else if (role === 'tx') {
  const { Port } = addon();
  const tx = new Port('af_packet:va', { direction: 'tx' });
  const n = tx.ring('tx', 0).numSlots;
  for (let i = 0; i < n; i++) tx.writeBuf('tx', 0, i, FRAME); // frames never change: fill once
  let sent = 0;
  const t0 = process.hrtime.bigint();
  const end = Date.now() + seconds * 1000;
  const cpu0 = process.cpuUsage();
  while (Date.now() < end) {
    const st = tx.ring('tx', 0);
    const k = Math.min(batch, st.space);
    if (k === 0) {
      tx.wait(WAIT_TX, 10);
      continue;
    }
    tx.setHead('tx', 0, (st.head + k) % st.numSlots);
    tx.txsync();
    sent += k;
  }
  tx.txsync();
  while (tx.txPending() > 0) tx.wait(WAIT_TX_PROGRESS, 100);
  const ns = Number(process.hrtime.bigint() - t0);
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(`${JSON.stringify({ sent, seconds: ns / 1e9, cpuNsPerPkt: ((cpu.user + cpu.system) * 1000) / sent })}\n`);
  tx.close();
} else {
  if (process.getuid?.() !== 0) {
    console.error('af_packet-probe: needs root (network namespaces, packet sockets)');
    process.exit(2);
  }
  const ns = `nmcprobe-${process.pid}`;
  const tmp = mkdtempSync(join(tmpdir(), 'nmcap-probe-'));
  const ip = (...a) => execFileSync('ip', a, { stdio: ['ignore', 'pipe', 'pipe'] });
  const inNs = (cmd, args) => execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8' });
  const stat = (dev, name) => Number(inNs('cat', [`/sys/class/net/${dev}/statistics/${name}`]));
  // Share of CPU time the hypervisor took from this VM while a sender ran (/proc/stat steal).
  const readStat = () => readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const stealPct = (a, b) => {
    const d = b.map((v, i) => v - a[i]);
    const total = d.reduce((x, y) => x + y, 0);
    return total ? ((100 * (d[7] ?? 0)) / total).toFixed(0) : '0';
  };
  const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

  ip('netns', 'add', ns);
  try {
    inNs('sysctl', ['-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1']);
    inNs('sysctl', ['-q', '-w', 'net.ipv6.conf.default.disable_ipv6=1']);
    ip('-n', ns, 'link', 'add', 'va', 'type', 'veth', 'peer', 'name', 'vb');
    for (const d of ['va', 'vb']) {
      ip('-n', ns, 'link', 'set', d, 'up');
      spawnSync('ip', ['netns', 'exec', ns, 'ethtool', '-K', d, 'tso', 'off', 'gso', 'off', 'gro', 'off', 'tx', 'off']);
    }
    const trafgenCfg = join(tmp, 'frame.cfg');
    writeFileSync(trafgenCfg, `{ ${[...FRAME].map((b) => `0x${b.toString(16).padStart(2, '0')}`).join(', ')} }\n`);
    const pcap = join(tmp, 'frames.pcap');
    {
      const gh = Buffer.alloc(24);
      gh.writeUInt32LE(0xa1b2c3d4, 0);
      gh.writeUInt16LE(2, 4);
      gh.writeUInt16LE(4, 6);
      gh.writeUInt32LE(65535, 16);
      gh.writeUInt32LE(1, 20);
      const parts = [gh];
      for (let i = 0; i < 100000; i++) {
        const rh = Buffer.alloc(16);
        rh.writeUInt32LE(1700000000 + Math.floor(i / 1e6), 0);
        rh.writeUInt32LE(i % 1e6, 4);
        rh.writeUInt32LE(64, 8);
        rh.writeUInt32LE(64, 12);
        parts.push(rh, FRAME);
      }
      writeFileSync(pcap, Buffer.concat(parts));
    }

    const senders = [
      { name: `nmcap af_packet TX ring (batch ${batch})`, cmd: 'taskset', args: ['-c', '0', process.execPath, self, '--role', 'tx', '--seconds', String(seconds), '--batch', String(batch)] },
    ];
    if (has('trafgen'))
      senders.push({ name: 'trafgen --cpus 1', cmd: 'taskset', args: ['-c', '0', 'trafgen', '-o', 'va', '-i', trafgenCfg, '--cpus', '1'], timeout: seconds });
    if (has('tcpreplay'))
      senders.push({ name: 'tcpreplay --topspeed --preload-pcap', cmd: 'taskset', args: ['-c', '0', 'tcpreplay', '-q', '-i', 'va', '--topspeed', '--preload-pcap', '--loop=0', `--duration=${seconds}`, pcap] });

    const rows = [];
    for (const s of senders) {
      const rx = spawn('ip', ['netns', 'exec', ns, 'taskset', '-c', '1', process.execPath, self, '--role', 'rx'], { stdio: ['ignore', 'pipe', 'inherit'] });
      let rxOut = '';
      rx.stdout.on('data', (d) => (rxOut += d));
      while (!rxOut.includes('ready')) await new Promise((r) => setTimeout(r, 20));
      const rxDone = new Promise((r) => rx.on('exit', r));
      const before = { tx: stat('va', 'tx_packets'), txDrop: stat('va', 'tx_dropped'), rxDrop: stat('vb', 'rx_dropped') };
      const s0 = readStat();
      const t0 = Date.now();
      const args = s.timeout ? ['-s', 'INT', String(s.timeout), s.cmd, ...s.args] : s.args;
      const r = spawnSync('ip', ['netns', 'exec', ns, s.timeout ? 'timeout' : s.cmd, ...args], { encoding: 'utf8' });
      const wall = (Date.now() - t0) / 1000;
      await rxDone;
      const after = { tx: stat('va', 'tx_packets'), txDrop: stat('va', 'tx_dropped'), rxDrop: stat('vb', 'rx_dropped') };
      const rxRes = JSON.parse(rxOut.slice(rxOut.indexOf('{')));
      let txSeconds = s.timeout ?? seconds;
      let extra = '';
      if (s.cmd === 'taskset' && s.args.includes('--role')) {
        const tx = JSON.parse(r.stdout.trim().split('\n').pop());
        txSeconds = tx.seconds;
        extra = `, ~${Math.round(tx.cpuNsPerPkt)} ns CPU/pkt`;
      } else if (r.status !== 0 && !s.timeout) {
        extra = ` (exit ${r.status}: ${r.stderr.trim().split('\n').pop()})`;
      }
      const sent = after.tx - before.tx;
      rows.push({
        sender: s.name,
        txKpps: sent / txSeconds / 1000,
        rxKpps: rxRes.received / (rxRes.activeMs / 1000) / 1000,
        received: rxRes.received,
        sent,
        rxDrops: rxRes.drops,
        vethDrops: after.txDrop - before.txDrop + (after.rxDrop - before.rxDrop),
        note: `${wall.toFixed(1)} s wall${extra}; RX ~${Math.round(rxRes.cpuNsPerPkt)} ns CPU/pkt, ${Math.round(rxRes.pktsPerWakeup)} pkts/wakeup; steal ${stealPct(s0, readStat())}%`,
      });
    }
    const base = rows[0].txKpps;
    console.log(`af_packet probe: 64-byte frames, ${seconds} s per sender, veth va -> vb, RX = nmcap af_packet ring on CPU 1`);
    for (const r of rows) {
      console.log(
        `${r.sender.padEnd(40)} TX ${r.txKpps.toFixed(0).padStart(5)} kpps (x${(r.txKpps / base).toFixed(2)})  ` +
          `RX ${r.rxKpps.toFixed(0).padStart(5)} kpps  received ${r.received}/${r.sent}  RX drops ${r.rxDrops}  ` +
          `veth drops ${r.vethDrops}  [${r.note}]`,
      );
    }
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
    rmSync(tmp, { recursive: true, force: true });
  }
}
