// Loads the native addon and describes what it exports. The .node file is loaded with
// createRequire so no bundler or test transform ever touches it.
import { createRequire } from 'node:module';

import { AddonError } from '../errors.js';

export type Direction = 'rx' | 'tx' | 'both';
export type TsSource = 'none' | 'sync-us' | 'sync-ns' | 'packet-ns';
export type RingKind = 'tx' | 'rx';

export interface PortOptions {
  direction?: Direction;
  promisc?: boolean;
  rxSlots?: number;
  txSlots?: number;
  bufSize?: number;
  snaplen?: number;
  queue?: number;
  txBudget?: number;
  zeroCopy?: boolean;
  /** a capture filter follows (attachFilter): backends filtering in the kernel receive nothing until then */
  filterPending?: boolean;
}

/** AF_XDP facts of an open port (PortInfo.mode says the same to people). */
export interface XdpInfo {
  zeroCopy: boolean;
  /** how the XDP program is attached; null for TX-only ports (no program) */
  attach: 'drv' | 'skb' | null;
  method: 'bpf link' | 'netlink' | null;
  /** why driver mode was refused when the program runs in generic (skb) mode */
  drvRefusal: string | null;
  /** copy-mode TX packets per kick; 'kernel-default' without XDP_MAX_TX_SKB_BUDGET; null without copy-mode TX */
  txBudget: number | 'kernel-default' | null;
}

export interface NativePortInfo {
  name: string;
  backend: string;
  ifname: string;
  description: string;
  linkType: number;
  maxFrame: number;
  tsSource: TsSource;
  knowsRxDrops: boolean;
  knowsRxReceived: boolean;
  mode: string;
  txRings: number;
  rxRings: number;
  fd: number;
  /** AF_XDP ports only */
  xdp: XdpInfo | null;
}

export interface RingState {
  index: number;
  numSlots: number;
  bufSize: number;
  head: number;
  cur: number;
  tail: number;
  flags: number;
  space: number;
  tsNs: bigint;
}

export interface SlotState {
  bufIdx: number;
  len: number;
  flags: number;
}

export interface PortCounters {
  rxReceived: bigint | null;
  rxDrops: bigint | null;
  rxRingFull: bigint | null;
}

export interface PortEndState {
  end: 'none' | 'peer-closed' | 'peer-died' | 'gone' | 'error';
  code: string;
  message: string;
}

export interface ReceivedPacket {
  ring: number;
  data: Buffer;
  tsNs: bigint;
  /** length on the wire (differs from data.length when the backend truncated to a snaplen) */
  wireLen: number;
}

/**
 * What receiveBatch() took: packet i is data.subarray(offset[i], offset[i] + length[i]), with
 * the same wireLen, tsNs and ring that receive() gives it.
 */
export interface ReceivedBatch {
  count: number;
  /** the packets' bytes back to back */
  data: Buffer;
  offset: Uint32Array;
  length: Uint32Array;
  wireLen: Uint32Array;
  tsNs: BigUint64Array;
  ring: Uint32Array;
}

/** wait() event bits, as in native/ring/port.h. */
export const WAIT_RX = 1;
export const WAIT_TX = 2;
export const WAIT_TX_PROGRESS = 4;

/** netmap's user API on one open port: rings, slots, syncs. Synchronous; for scripts and tests. */
export interface NativePort {
  info(): NativePortInfo;
  ring(kind: RingKind, index: number): RingState;
  setHead(kind: RingKind, index: number, head: number, cur?: number): void;
  slot(kind: RingKind, ring: number, slot: number): SlotState;
  setSlot(kind: RingKind, ring: number, slot: number, s: Partial<Pick<SlotState, 'len' | 'flags'>>): void;
  readBuf(kind: RingKind, ring: number, slot: number): Buffer;
  writeBuf(kind: RingKind, ring: number, slot: number, data: Uint8Array): void;
  txsync(): void;
  rxsync(): void;
  wait(events: number, timeoutMs: number): 'ready' | 'timeout' | 'woken' | 'closed';
  fd(): number;
  counters(): PortCounters;
  /** true: the backend now runs the program in the kernel; false: give it to the capture session */
  attachFilter(program: Uint8Array): boolean;
  end(): PortEndState;
  txPending(): number;
  inject(data: Uint8Array): boolean;
  receive(max?: number): ReceivedPacket[];
  /** receive() without a Buffer and an object per packet */
  receiveBatch(max?: number): ReceivedBatch;
  close(): void;
}

export interface CaptureConfig {
  snaplen?: number;
  count?: number;
  durationMs?: number;
  flushMs?: number;
  /** benchmarks only: drain and count, like pkt-gen -f rx (no EPBs, nothing handed over) */
  countOnly?: boolean;
  /** benchmarks only, with countOnly: also load a byte of every 64-byte line of each packet */
  countReads?: boolean;
  /** pcapng interface id of each RX ring */
  ifaces?: number[];
  /** ns per if_tsresol unit of each RX ring's interface (1 = ns, 1000 = us) */
  tsDivisors?: number[];
  /** the output file's fd: kept allocated (fallocate) ahead of what the loop produces */
  preallocateFd?: number;
  /** the file's size when the loop starts (the SHB and IDBs) */
  preallocateFrom?: number;
  /** a classic-BPF program the capture thread runs on every packet */
  filter?: Uint8Array;
}

export interface CaptureProgress {
  packets: number;
  /** taken from the rings: written, filtered and invalid ones */
  taken: number;
  wireBytes: number;
  truncated: number;
  invalid: number;
  /** rejected by the filter on the capture thread (0 when the kernel filters) */
  filtered: number;
  firstTsNs: bigint | null;
  lastTsNs: bigint | null;
}

export interface CaptureBatchEvent extends CaptureProgress {
  id: number;
  bytes: number;
  /** offset of the batch's last EPB */
  lastAt: number;
}

export interface CaptureEndEvent extends CaptureProgress {
  reason: 'stopped' | 'count' | 'duration' | 'filesize' | 'peer-closed' | 'error';
  code: string;
  message: string;
  rxReceived: bigint | null;
  rxDrops: bigint | null;
  rxRingFull: bigint | null;
  /** arrived (not dropped) but never taken: rxReceived - rxDrops - taken */
  rxUnread: bigint | null;
}

export interface NativeDirectFile {
  readonly plainFd: number;
  readonly chunk: number;
  write(b: Buffer, cb: (errno: number, durable: number) => void): void;
  finish(): number;
  close(): void;
}

export interface NativeCaptureSession {
  supply(buffer: Buffer): number;
  recycle(id: number): void;
  start(): void;
  stop(): void;
}

export type CaptureEventHandler = {
  (kind: 'batch', ev: CaptureBatchEvent): void;
  (kind: 'end', ev: CaptureEndEvent): void;
};

export interface ReplayConfig {
  mode: 'topspeed' | 'pps' | 'bps' | 'multiplier';
  rateNum?: number;
  rateDen?: number;
  multNum?: number;
  multDen?: number;
  limit?: number;
  durationMs?: number;
  preload?: boolean;
  /** preload only; 0 = forever */
  loops?: number;
  burst?: number;
  truncateOversize?: boolean;
  /** --dmac / --smac: 6 bytes each */
  dmac?: Uint8Array;
  smac?: Uint8Array;
  /** --vlan-push: the 802.1Q tag's TCI (PCP << 13 | VID) */
  vlanPush?: number;
  /** --vlan-pop */
  vlanPop?: boolean;
  progressMs?: number;
  drainTimeoutMs?: number;
  /** after the last packet: give up waiting once nothing has left for this long (default: wait) */
  drainIdleMs?: number;
  /** --delay / --loss / --bandwidth: the emulated link between the source and the pacer */
  linkEmu?: LinkEmuConfig;
  /** --realtime: SCHED_FIFO for the sending thread; --cpu: pin it to one CPU */
  realtime?: boolean;
  cpu?: number;
  /** --threads N: the Ports of rings 1..N-1 (one TX queue each; the session's port is ring 0) */
  ringPorts?: NativePort[];
  /** --threads N with --cpu LIST: ring k runs on ringCpus[k % length] */
  ringCpus?: number[];
}

/** The link emulation stage's config (native/loops/link_emu.h); times in whole ns. */
export interface LinkEmuConfig {
  delay?: { kind: 'constant' | 'uniform' | 'exponential'; minNs: number; maxNs?: number; meanNs?: number };
  loss?: { kind: 'packet' | 'bit'; rate: number };
  /** num / den bits per second, plus overheadBytes per packet (24: Ethernet framing) */
  bandwidth?: { num: number; den: number; overheadBytes: number };
  seed: number;
}

/** What the sending thread really got, read back from the kernel by the thread itself. */
export interface SenderThreadState {
  tid: number;
  policy: string;
  priority: number;
  cpus: number[];
  /** --realtime was asked for and could not be had: why, and what to do */
  realtimeError: string | null;
  cpuError: string | null;
}

export interface DepartureStats {
  count: number;
  meanNs: number;
  p50Ns: number;
  p90Ns: number;
  p99Ns: number;
  p999Ns: number;
  maxNs: number;
}

export interface NativeReplayStats {
  queued: number;
  queuedBytes: number;
  sent: number;
  sentBytes: number;
  failed: number;
  truncated: number;
  /** of the failed: records no Ethernet frame can be made of (their link type) */
  unconvertible: number;
  pending: number;
  syncs: number;
  burstMax: number;
  loopsDone: number;
  inputWaits: number;
  ringFullWaits: number;
  ringFullNs: number;
  sendNs: number;
  durationNs: number;
  /** CPU time of the sending thread, and how often it was descheduled against its will (at the end) */
  threadCpuNs: number;
  /** of threadCpuNs: in port waits (TX room, the drain); deadline spins are not in it */
  waitCpuNs: number;
  sleepCpuNs: number;
  preemptions: number;
  /** lost on purpose by the emulated link (--loss) */
  emuDropped: number;
  departure: DepartureStats | null;
}

export interface ReplayEndEvent extends NativeReplayStats {
  reason: 'done' | 'limit' | 'duration' | 'stopped' | 'peer-closed' | 'error';
  code: string;
  message: string;
  sender: SenderThreadState;
  /** --threads N: each ring's part (absent with one ring) */
  rings?: NativeRingReport[];
}

/** One ring of a --threads replay (native/loops/ring_dispatch.h RingReport). */
export interface NativeRingReport {
  ring: number;
  reason: ReplayEndEvent['reason'];
  queued: number;
  sent: number;
  pending: number;
  failed: number;
  threadCpuNs: number;
  sender: SenderThreadState;
}

export interface NativeReplaySession {
  push(
    data: Uint8Array,
    off: Uint32Array,
    caplen: Uint32Array,
    origlen: Uint32Array,
    sec: Float64Array,
    nsec: Uint32Array,
    count: number,
    loopStart: boolean,
    /** LINKTYPE_ of the batch's records (default 1, Ethernet) */
    linkType?: number,
  ): number;
  endInput(): void;
  start(): void;
  stop(): void;
}

/** The native reader of a streamed classic pcap replay (native/loops/trace_feed.h): JS opens each
 * file and adds its fd in replay order; a thread reads and walks it into the session's loop. */
export interface NativeTraceFeed {
  /** takes fd (closed by the feed); loopStart = first file of a pass; token names the file in events */
  add(fd: number, loopStart: boolean, token: number): void;
  /** no more files: once those added are read, the session's input ends */
  finish(): void;
  /** stops the reader thread (files not read yet are closed) */
  close(): void;
}

export interface TraceFeedProblem {
  token: number;
  code: string;
  offset: number;
  reason: string;
}

export type TraceFeedEventHandler = (
  kind: 'file' | 'warning' | 'error' | 'done',
  ev: { token: number; linkType?: number; packets?: number } & Partial<TraceFeedProblem>,
) => void;

export type ReplayEventHandler = (
  kind: 'consumed' | 'progress' | 'end',
  ev: number | NativeReplayStats | ReplayEndEvent,
) => void;

/**
 * Capture filters. A program is a Buffer of 8-byte classic-BPF instructions (struct bpf_insn, host
 * byte order). Errors carry code ERR_FILTER_NO_LIBPCAP, ERR_FILTER_SYNTAX or ERR_FILTER_INVALID.
 */
export interface NativeFilter {
  /** pcap_compile on a pcap_open_dead(linkType, snaplen) handle, optimized, netmask unknown */
  compile(expression: string, linkType: number, snaplen: number): Buffer;
  /** libpcap's bpf_image of each instruction: the lines `tcpdump -d` prints */
  image(program: Uint8Array): string[];
  /** libpcap's own verdict (pcap_offline_filter): bytes to keep, 0 = drop */
  libpcapVerdict(program: Uint8Array, packet: Uint8Array, wireLen: number): number;
  /** why our interpreter refuses the program, or null if it may run */
  check(program: Uint8Array): string | null;
  /** our interpreter's verdict (the one the capture thread uses) */
  run(program: Uint8Array, packet: Uint8Array, wireLen: number): number;
  /**
   * Our interpreter over a batch of saved packets (`programs[i]` filters interface i): writes the
   * indexes of the accepted packets into `kept` (at least one entry per packet) and returns how many.
   */
  selectBatch(
    programs: readonly (Uint8Array | undefined)[],
    buffer: Uint8Array,
    dataOffset: Uint32Array,
    capLen: Uint32Array,
    origLen: Uint32Array,
    iface: Uint32Array,
    kept: Uint32Array,
  ): number;
}

/** A netmap port name as the native parser (native/ports/netmap/netmap_name.cc) reads it. */
export interface NetmapName {
  name: string;
  kind: 'nic' | 'pipe' | 'vale';
  /** what the kernel sees in nmreq_header.nr_name: "eth0", "x{1", "vale0:p1" */
  kernelName: string;
  /** interface, pipe parent or VALE port name */
  port: string;
  valeSwitch: string | null;
  pipe: { master: boolean; id: string } | null;
  /** nmreq_register.nr_mode, and its name (ALL_NIC, ONE_NIC, SW, NIC_SW, ONE_SW, ...) */
  mode: number;
  modeName: string;
  ringid: number;
  /** nmreq_register.nr_flags bits the name sets */
  flags: number;
  memId: number;
  txSlots: number;
  rxSlots: number;
  txRings: number;
  rxRings: number;
  hostTxRings: number;
  hostRxRings: number;
  description: string;
}

/** An explicit port name, parsed by the code the open uses (names.parse); nothing is opened. */
export interface ParsedPortName {
  name: string;
  backend: 'pipe' | 'netmap' | 'af_packet' | 'af_xdp';
  /** the interface, for af_packet, af_xdp and netmap NIC names */
  ifname: string | null;
  pipe: { base: string; number: string; master: boolean } | null;
  netmap: NetmapName | null;
}

export interface NativeNames {
  /** Throws the open's coded errors (ERR_PORT_BAD_NAME, ERR_PORT_UNSUPPORTED) for a bad name. */
  parse(name: string): ParsedPortName;
  /** Is this name meant for netmap ("netmap:..." or "valeSW:...")? */
  isNetmapName(name: string): boolean;
}

export interface PacerSimConfig {
  mode: 'topspeed' | 'pps' | 'bps' | 'multiplier';
  rateNum?: number;
  rateDen?: number;
  multNum?: number;
  multDen?: number;
  burst?: number;
  ringSlots?: number;
  /** simulated costs: per put, per sync, and how late each wait ends */
  perPacketNs?: number;
  syncNs?: number;
  wakeNs?: number;
}

export interface PacerSimResult {
  /** each packet's deadline and the time of the sync that handed it over, ns after start */
  due: Float64Array;
  departed: Float64Array;
  syncs: number;
  burstMax: number;
  clockReads: number;
}

export interface NativeAddon {
  Port: new (name: string, options?: PortOptions) => NativePort;
  CaptureSession: new (port: NativePort, config: CaptureConfig, onEvent: CaptureEventHandler) => NativeCaptureSession;
  /** O_DIRECT file writer on its own thread; throws code ERR_DIRECT_UNSUPPORTED where the file system refuses O_DIRECT. */
  DirectFile: new (path: string, chunkBytes: number) => NativeDirectFile;
  ReplaySession: {
    new (port: NativePort, config: ReplayConfig, onEvent: ReplayEventHandler): NativeReplaySession;
    /** the TX queues the port's interface has (a pipe: its one ring) */
    txQueues(port: NativePort): number;
  };
  /** attached to a session before its start() */
  TraceFeed: new (session: NativeReplaySession, onEvent: TraceFeedEventHandler) => NativeTraceFeed;
  /** Byte order of the EPBs the native capture loop writes; the SHB of their section must agree. */
  epbByteOrder: 'le';
  /** libpcap's filter compiler (loaded at run time) and our classic-BPF interpreter. */
  filter: NativeFilter;
  /** Port names parsed by the code the open uses. */
  names: NativeNames;
}

const require = createRequire(import.meta.url);

function load(): NativeAddon {
  try {
    return require('../../build/Release/nmcap.node') as NativeAddon;
  } catch (e) {
    throw new AddonError(`the native addon is not built (${(e as Error).message.split('\n')[0]}); run "npm ci" or "npm run build"`);
  }
}

export const native: NativeAddon = load();
