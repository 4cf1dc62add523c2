// VALE names on a host without netmap: `valeX:Y` is port Y of a learning switch X made of a Linux
// bridge. Each port is a veth pair: one end is enslaved to the bridge, the other is ours and is
// opened through AF_PACKET. Both are created on demand and removed at close; the bridge goes with
// its last port.
//
// VALE's semantics (netmap_vale.c, netmap.md §3) and how the bridge is set up to match them:
// - unknown unicast and broadcast/multicast destinations flood, a learnt source MAC gets only its
//   port: a bridge with learning and flooding on (the defaults), multicast snooping off (else IGMP/
//   MLD snooping would keep multicast from ports that never joined), VLAN filtering left off (the
//   default; not every kernel has the option);
// - nothing goes back out of its ingress port: hairpin mode off (the default), and our AF_PACKET
//   RX skips what we sent ourselves (PACKET_OUTGOING);
// - frames under 14 bytes are dropped: veth and the bridge drop them (eth_type_trans needs 14);
// - ports forward at once: STP off, forward delay 0 (a port forwards as soon as its link is up,
//   which open waits for);
// - nothing of its own on the wire: no IPv6 on the bridge or the ports (no ND, MLD or router
//   solicitations), no addresses, no bridge netfilter hooks; link-local groups 01:80:C2:00:00:03
//   to :0F are forwarded like other multicast (group_fwd_mask 0xfff8), and :00 (STP) is too
//   because STP is off. Linux never forwards :01 (pause) and :02 (LACP, slow protocols), where
//   VALE would: that difference is documented.
// - VALE never expires learnt entries; the bridge ages them after 300 s (its default), which only
//   makes a silent host's traffic flood again, as a new VALE switch would.
//
// Linux names are limited to 15 characters, VALE names are not; so interface names are derived
// from a hash of the VALE names (nmvs<10 hex> for the bridge, nmvp/nmvq<10 hex> for the port's
// bridge and our end) and the VALE name plus the owner are kept in each interface's ifalias:
// "nmcap-vale vale0:p1 owner=PID.START". START is the owner's start time (/proc/PID/stat), so a
// reused pid is not mistaken for the owner. An owner that died (SIGKILL) leaves its interfaces
// behind; the next open in that namespace removes them. Everything goes through `ip` (netlink, the
// caller's namespace) run with execFile argv arrays, never a shell.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';

import { PortError, PortErrorCode } from '../errors.js';
import { native, type NativePort, type NativePortInfo, type PortOptions } from './binding.js';
import type { PortDirection } from './names.js';
import { netmapAvailable } from './names.js';

export type ValeBackend = 'netmap' | 'bridge';
export const VALE_BACKEND_ENV = 'NMCAP_VALE_BACKEND';
const ALIAS_TAG = 'nmcap-vale';
const MAX_VALE_NAME = 15; // VALE switch and port names fit IFNAMSIZ, as netmap's
const READY_TIMEOUT_MS = 5000;

/** Is this a VALE name (valeSWITCH:...)? Only the prefix is checked: parsing says what is wrong. */
export function isValeName(name: string): boolean {
  return name.startsWith('vale') && name.includes(':');
}

/** Which switch serves VALE names: forced by option or NMCAP_VALE_BACKEND, else netmap where /dev/netmap exists. */
export function chooseValeBackend(
  forced: string | undefined = process.env[VALE_BACKEND_ENV],
  hasNetmap: boolean = netmapAvailable(),
): { backend: ValeBackend; why: string } {
  const f = forced?.trim();
  if (f) {
    if (f !== 'bridge' && f !== 'netmap') {
      throw new PortError(PortErrorCode.BAD_NAME, `unknown VALE backend '${f}': use bridge (a Linux bridge) or netmap (netmap's VALE switch)`);
    }
    return { backend: f, why: `chosen by --vale-backend/${VALE_BACKEND_ENV}` };
  }
  return hasNetmap
    ? { backend: 'netmap', why: '/dev/netmap exists' }
    : { backend: 'bridge', why: 'no /dev/netmap on this host' };
}

export interface ValeBridgeName {
  spec: string;
  switchName: string;
  port: string;
  /** AF_PACKET ring sizes asked for with @conf:slots=, rx-slots=, tx-slots= */
  rxSlots?: number;
  txSlots?: number;
  /** the Linux bridge, the port's end on the bridge, and our end */
  bridge: string;
  inner: string;
  outer: string;
}

const BRIDGE_HINT = 'name VALE ports valeSWITCH:PORT with letters, digits and _ (e.g. vale0:p1), optionally @conf:slots=N';

/** Parses the VALE names a bridge-backed switch can serve; throws a one-line PortError for the rest. */
export function parseValeBridgeName(spec: string): ValeBridgeName {
  const m = /^(vale[^:]*):([^@]*)(@.*)?$/.exec(spec);
  const bad = (why: string): PortError => new PortError(PortErrorCode.BAD_NAME, `bad VALE port name '${spec}': ${why} (${BRIDGE_HINT})`);
  if (!m) throw bad('it must read valeSWITCH:PORT');
  if (!/^vale[0-9A-Za-z_]*$/.test(m[1]!)) throw bad(`the switch name '${m[1]}' may hold only letters, digits and '_' after 'vale'`);
  const [, sw, port, opts] = m as unknown as [string, string, string, string | undefined];
  if (sw.length > MAX_VALE_NAME) throw bad(`the switch name '${sw}' is longer than ${MAX_VALE_NAME} characters`);
  if (port === '') throw bad('the port name is empty');
  if (/[{}]/.test(port) || /[-*^/]/.test(port)) {
    throw new PortError(
      PortErrorCode.UNSUPPORTED,
      `VALE port name '${spec}': pipes, ring selections and flags need netmap's VALE switch; the Linux-bridge switch (no /dev/netmap) takes valeSWITCH:PORT[@conf:slots=N]`,
    );
  }
  if (!/^[0-9A-Za-z_]+$/.test(port)) throw bad(`the port name '${port}' may hold only letters, digits and '_'`);
  if (port.length > MAX_VALE_NAME) throw bad(`the port name '${port}' is longer than ${MAX_VALE_NAME} characters`);
  const n: ValeBridgeName = { spec, switchName: sw, port, ...linuxNames(sw, port) };
  if (opts !== undefined) {
    const c = /^@conf:(.+)$/.exec(opts);
    if (!c) throw bad(`'${opts}': only @conf:KEY=VALUE options are taken`);
    for (const item of c[1]!.split(',')) {
      const kv = /^([a-z_-]+)=(\d+)$/.exec(item);
      if (!kv) throw bad(`'${item}' is not KEY=NUMBER`);
      const key = kv[1]!.replaceAll('-', '_');
      const v = Number(kv[2]);
      if (!(v > 0 && v <= 1 << 20)) throw bad(`@conf ${key}=${kv[2]} is out of range (1 to 1048576)`);
      if (key === 'slots') n.rxSlots = n.txSlots = v;
      else if (key === 'rx_slots') n.rxSlots = v;
      else if (key === 'tx_slots') n.txSlots = v;
      else if (key === 'rings' || key === 'tx_rings' || key === 'rx_rings') {
        if (v !== 1) throw bad(`@conf ${key}=${v}: a bridge-backed port has one ring each way (ask for more slots instead)`);
      } else throw bad(`@conf key '${kv[1]}' is not known here (slots, rx-slots, tx-slots, rings=1)`);
    }
  }
  return n;
}

/** Deterministic, short Linux names for a VALE switch and port (hashes; clashes are detected at open). */
export function linuxNames(switchName: string, port: string): { bridge: string; inner: string; outer: string } {
  const h = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 10);
  const p = h(`${switchName}:${port}`);
  return { bridge: `nmvs${h(switchName)}`, inner: `nmvp${p}`, outer: `nmvq${p}` };
}

// --- owners

interface Owner {
  pid: number;
  start: string;
}

function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

const self: Owner = { pid: process.pid, start: processStart(process.pid) ?? '0' };

function ownerAlive(o: Owner): boolean {
  return processStart(o.pid) === o.start;
}

interface Tagged {
  /** "vale0" for a bridge, "vale0:p1" for a port end */
  vale: string;
  owner: Owner;
}

function aliasOf(vale: string, owner: Owner = self): string {
  return `${ALIAS_TAG} ${vale} owner=${owner.pid}.${owner.start}`;
}

function parseAlias(alias: string | undefined): Tagged | undefined {
  const m = /^nmcap-vale (\S+) owner=(\d+)\.(\d+)$/.exec(alias ?? '');
  return m ? { vale: m[1]!, owner: { pid: Number(m[2]), start: m[3]! } } : undefined;
}

// --- ip(8)

interface Link {
  ifname: string;
  ifalias?: string;
  master?: string;
  operstate?: string;
  linkinfo?: { info_kind?: string; info_slave_data?: { state?: string } };
}

class IpError extends Error {
  constructor(readonly args: string[], readonly stderr: string) {
    super(stderr.trim().split('\n').pop() || `ip ${args.join(' ')} failed`);
  }
  get permission(): boolean {
    return /not permitted|permission denied/i.test(this.stderr);
  }
  get exists(): boolean {
    return /File exists/i.test(this.stderr);
  }
}

function ip(args: string[]): string {
  try {
    return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: string; code?: string };
    if (err.code === 'ENOENT') throw new PortError(PortErrorCode.UNSUPPORTED, 'the Linux-bridge VALE switch needs iproute2 (ip), which is not installed');
    throw new IpError(args, String(err.stderr ?? ''));
  }
}

function links(): Link[] {
  return JSON.parse(ip(['-j', '-d', 'link', 'show']) || '[]') as Link[];
}

function link(name: string): Link | undefined {
  try {
    return (JSON.parse(ip(['-j', '-d', 'link', 'show', 'dev', name])) as Link[])[0];
  } catch (e) {
    if (e instanceof IpError) return undefined; // "does not exist"
    throw e;
  }
}

function deleteLink(name: string): void {
  try {
    ip(['link', 'del', 'dev', name]);
  } catch (e) {
    if (!(e instanceof IpError)) throw e; // already gone
  }
}

function bridgePorts(bridge: string, all: Link[]): Link[] {
  return all.filter((l) => l.master === bridge);
}

// IPv6 off before the link goes up: no link-local address, so no DAD, ND, MLD or RS frames.
function noIpv6(dev: string): void {
  try {
    writeFileSync(`/proc/sys/net/ipv6/conf/${dev}/disable_ipv6`, '1');
  } catch {
    // no IPv6 in this kernel or namespace: nothing to silence
  }
  ip(['link', 'set', 'dev', dev, 'addrgenmode', 'none']);
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Removes what dead owners left: port pairs whose owner is gone, then bridges of ours with no port
 * left whose last user (the alias says who) is gone too. Runs at every bridge-backed open.
 */
export function sweepStaleVale(): string[] {
  const removed: string[] = [];
  const all = links();
  for (const l of all) {
    const t = parseAlias(l.ifalias);
    if (!t || !t.vale.includes(':') || !l.ifname.startsWith('nmvq')) continue;
    if (ownerAlive(t.owner)) continue;
    deleteLink(l.ifname); // takes its peer (the bridge end) with it
    removed.push(l.ifname);
  }
  const now = removed.length ? links() : all;
  for (const l of now) {
    const t = parseAlias(l.ifalias);
    if (!t || t.vale.includes(':') || l.linkinfo?.info_kind !== 'bridge') continue;
    if (bridgePorts(l.ifname, now).length === 0 && !ownerAlive(t.owner)) {
      deleteLink(l.ifname);
      removed.push(l.ifname);
    }
  }
  return removed;
}

function clash(dev: string, what: string, found: Link, wanted: string): PortError {
  const t = parseAlias(found.ifalias);
  const whose = t ? `nmcap's ${t.vale.includes(':') ? 'VALE port' : 'VALE switch'} ${t.vale}` : 'not made by nmcap';
  return new PortError(
    PortErrorCode.BUSY,
    `cannot make ${wanted}: the interface ${dev} that would be its ${what} already exists (${whose}); rename or delete it (ip link del ${dev}), or use another VALE name`,
  );
}

function setupError(n: ValeBridgeName, e: unknown): unknown {
  if (!(e instanceof IpError)) return e;
  if (e.permission) {
    return new PortError(
      PortErrorCode.PERMISSION,
      `cannot make VALE port ${n.spec} as a Linux bridge: ${e.message}; run as root (CAP_NET_ADMIN), or load netmap for real VALE`,
    );
  }
  return new PortError(PortErrorCode.IO, `cannot make VALE port ${n.spec} as a Linux bridge: ${e.message} (ip ${e.args.join(' ')})`);
}

// An interface is made first and tagged right after (ip link add ignores an alias): one of our names
// without a tag may be another process's, a moment before its tag. Wait (bounded) for the tag.
const SETTLE_MS = 1000;
function settledLink(dev: string): Link | undefined {
  const deadline = Date.now() + SETTLE_MS;
  for (;;) {
    const l = link(dev);
    if (!l || parseAlias(l.ifalias) || Date.now() > deadline) return l;
    sleepMs(10);
  }
}

/** Creates the bridge (if this switch has none yet) and the port's veth pair; undoes it all on failure. */
function createPort(n: ValeBridgeName): void {
  const br = settledLink(n.bridge);
  if (br) {
    const t = parseAlias(br.ifalias);
    if (!t || t.vale !== n.switchName || br.linkinfo?.info_kind !== 'bridge') throw clash(n.bridge, 'bridge', br, `VALE switch ${n.switchName}`);
  }
  for (const [dev, what] of [[n.inner, 'bridge-side end'], [n.outer, 'own end']] as const) {
    const l = settledLink(dev);
    if (!l) continue;
    const t = parseAlias(l.ifalias);
    if (t && t.vale === `${n.switchName}:${n.port}`) {
      throw new PortError(PortErrorCode.BUSY, `VALE port ${n.spec} is open in process ${t.owner.pid}; give this one another port name (e.g. ${n.switchName}:${n.port}b)`);
    }
    throw clash(dev, what, l, `VALE port ${n.spec}`);
  }
  let madeBridge = false;
  let madePort = false;
  try {
    if (!br) {
      try {
        ip(['link', 'add', 'name', n.bridge, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0', 'ageing_time', '30000',
          'mcast_snooping', '0', 'group_fwd_mask', '0xfff8',
          'nf_call_iptables', '0', 'nf_call_ip6tables', '0', 'nf_call_arptables', '0']);
        madeBridge = true;
        noIpv6(n.bridge);
      } catch (e) {
        if (!(e instanceof IpError && e.exists)) throw e; // another process made it just now: use it
      }
    }
    // The alias names the bridge's latest user, so a sweep never takes a bridge being joined.
    ip(['link', 'set', 'dev', n.bridge, 'alias', aliasOf(n.switchName)]);
    ip(['link', 'add', 'name', n.inner, 'type', 'veth', 'peer', 'name', n.outer]);
    madePort = true;
    for (const dev of [n.inner, n.outer]) {
      ip(['link', 'set', 'dev', dev, 'alias', aliasOf(`${n.switchName}:${n.port}`)]);
      noIpv6(dev);
    }
    ip(['link', 'set', 'dev', n.inner, 'master', n.bridge]);
    for (const dev of [n.bridge, n.inner, n.outer]) ip(['link', 'set', 'dev', dev, 'up']);
    waitForwarding(n);
  } catch (e) {
    if (madePort) deleteLink(n.inner);
    if (madeBridge || (!br && bridgePorts(n.bridge, links()).length === 0)) deleteLink(n.bridge);
    throw setupError(n, e);
  }
}

// Frames sent before the bridge port forwards would be lost: wait (bounded) until it does.
function waitForwarding(n: ValeBridgeName): void {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const inner = link(n.inner);
    const outer = link(n.outer);
    if (inner?.linkinfo?.info_slave_data?.state === 'forwarding' && outer?.operstate === 'UP') return;
    if (Date.now() > deadline) {
      throw new PortError(PortErrorCode.IO, `VALE port ${n.spec}: the bridge port ${n.inner} did not start forwarding within ${READY_TIMEOUT_MS / 1000} s`);
    }
    sleepMs(5);
  }
}

// Called just before a port's veth pair is deleted (its close, or the exit hook): a link watch
// (link-watch.ts) reads the link's record then, since after the close there is none to read.
const beforeRemoval = new Map<string, (() => void)[]>();

/** Runs `fn` once, just before the veth pair whose end we open (`outer`) is removed. */
export function onValePortRemoval(outer: string, fn: () => void): void {
  beforeRemoval.set(outer, [...(beforeRemoval.get(outer) ?? []), fn]);
}

/** Removes the port's veth pair, and the bridge when that was its last port. Idempotent. */
function removePort(n: ValeBridgeName): void {
  const hooks = beforeRemoval.get(n.outer) ?? [];
  beforeRemoval.delete(n.outer);
  for (const fn of hooks) fn();
  deleteLink(n.inner);
  const br = link(n.bridge);
  if (br && parseAlias(br.ifalias)?.vale === n.switchName && bridgePorts(n.bridge, links()).length === 0) deleteLink(n.bridge);
}

// br_netfilter's per-namespace switches win over the bridge's own nf_call_* options: when on,
// iptables sees bridged frames and IP frames shorter than their header says are dropped (VALE
// forwards them). Changing them would change every bridge of the namespace, so it is only said.
function bridgeNetfilterNote(): string {
  try {
    if (readFileSync('/proc/sys/net/bridge/bridge-nf-call-iptables', 'utf8').trim() !== '1') return '';
  } catch {
    return ''; // no br_netfilter: nothing to say
  }
  return '; note: net.bridge.bridge-nf-call-iptables=1 in this namespace, so iptables sees the frames and malformed IP frames are dropped (set it to 0 for VALE behaviour)';
}

// Ports still open when the process exits normally are removed then; after SIGKILL the next open sweeps.
const openPorts = new Set<ValeBridgeName>();
let exitHook = false;

export interface ValeBridgeOpened {
  port: NativePort;
  info: NativePortInfo;
  name: string;
  choice: string;
  switch: ValeBridgeName;
}

/** Opens port Y of the Linux-bridge switch X for `valeX:Y`, creating what is missing. */
export function openValeBridgePort(spec: string, direction: PortDirection | 'both', options: PortOptions, why: string): ValeBridgeOpened {
  const n = parseValeBridgeName(spec);
  try {
    sweepStaleVale();
  } catch (e) {
    throw setupError(n, e);
  }
  createPort(n);
  let port: NativePort;
  try {
    port = new native.Port(`af_packet:${n.outer}`, {
      ...options,
      direction,
      rxSlots: options.rxSlots ?? n.rxSlots,
      txSlots: options.txSlots ?? n.txSlots,
    });
  } catch (e) {
    removePort(n);
    throw PortError.from(e);
  }
  openPorts.add(n);
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => {
      for (const p of openPorts) removePort(p);
    });
  }
  const nativeClose = port.close.bind(port);
  let closed = false;
  // The prototype's close is read-only; an own property shadows it, and the addon still sees its Port.
  Object.defineProperty(port, 'close', {
    configurable: true,
    value: () => {
      nativeClose();
      if (closed) return;
      closed = true;
      openPorts.delete(n);
      removePort(n);
    },
  });
  const nf = bridgeNetfilterNote();
  const raw = port.info();
  const where = `Linux bridge ${n.bridge}, port veth ${n.inner}, ours ${n.outer}`;
  const info: NativePortInfo = {
    ...raw,
    name: spec,
    ifname: spec,
    description: `port ${n.port} of VALE switch ${n.switchName} as a Linux bridge (${where}; ${why})`,
  };
  return {
    port,
    info,
    name: spec,
    choice: `${spec} is a port of a Linux bridge standing in for VALE switch ${n.switchName} (${why}; ${where}, via af_packet)${nf}`,
    switch: n,
  };
}
