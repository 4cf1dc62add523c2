// Loads the native addon and describes what it exports. The .node file is loaded with
// createRequire so no bundler or test transform ever touches it.
import { createRequire } from 'node:module';

import type { NetmapName } from './netmap.js';

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
  end(): PortEndState;
  txPending(): number;
  inject(data: Uint8Array): boolean;
  receive(max?: number): ReceivedPacket[];
  close(): void;
}

export interface CaptureConfig {
  snaplen?: number;
  count?: number;
  durationMs?: number;
  flushMs?: number;
  /** pcapng interface id of each RX ring */
  ifaces?: number[];
  /** ns per if_tsresol unit of each RX ring's interface (1 = ns, 1000 = us) */
  tsDivisors?: number[];
  /** the output file's fd: kept allocated (fallocate) ahead of what the loop produces */
  preallocateFd?: number;
  /** the file's size when the loop starts (the SHB and IDBs) */
  preallocateFrom?: number;
}

export interface CaptureProgress {
  packets: number;
  wireBytes: number;
  truncated: number;
  invalid: number;
  firstTsNs: bigint | null;
  lastTsNs: bigint | null;
}

export interface CaptureBatchEvent extends CaptureProgress {
  id: number;
  bytes: number;
}

export interface CaptureEndEvent extends CaptureProgress {
  reason: 'stopped' | 'count' | 'duration' | 'peer-closed' | 'error';
  code: string;
  message: string;
  rxReceived: bigint | null;
  rxDrops: bigint | null;
  rxRingFull: bigint | null;
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
  progressMs?: number;
  drainTimeoutMs?: number;
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
  pending: number;
  syncs: number;
  burstMax: number;
  loopsDone: number;
  inputWaits: number;
  ringFullWaits: number;
  ringFullNs: number;
  sendNs: number;
  durationNs: number;
  departure: DepartureStats | null;
}

export interface ReplayEndEvent extends NativeReplayStats {
  reason: 'done' | 'limit' | 'duration' | 'stopped' | 'peer-closed' | 'error';
  code: string;
  message: string;
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
  ): number;
  endInput(): void;
  start(): void;
  stop(): void;
}

export type ReplayEventHandler = (
  kind: 'consumed' | 'progress' | 'end',
  ev: number | NativeReplayStats | ReplayEndEvent,
) => void;

/** One ring adapter of a netmapTest.Region, with byte offsets into the region's Buffer. */
export interface NetmapTestRing {
  index: number;
  isTx: boolean;
  numSlots: number;
  bufSize: number;
  head: number;
  cur: number;
  tail: number;
  flags: number;
  tsNs: bigint;
  tsSource: TsSource;
  numBufs: number;
  slotOffset: number;
  bufOffset: number;
  space: number;
}

/** The netmap backend's ring adapters attached to a memory image in a Buffer (the test plays the kernel). */
export interface NetmapTestRegion {
  rings(): {
    tx: NetmapTestRing[];
    rx: NetmapTestRing[];
    ifName: string;
    nicTx: number;
    nicRx: number;
    hostTx: number;
    hostRx: number;
  };
  setHead(kind: RingKind, ring: number, head: number, cur?: number): void;
  /** The backend's sync sequence (push head/cur, kernel(), pull tail/ts) with kernel() in place of the ioctl. */
  sync(kind: RingKind, kernel: () => number | void): { rc: number; why: string };
  readSlot(kind: RingKind, ring: number, slot: number): Buffer | null;
}

/** Kernel-free parts of the netmap backend, for tests (native/test/js_netmap_test.cc). */
export interface NetmapTestHooks {
  parseName(name: string): NetmapName;
  isNetmapName(name: string): boolean;
  /** nmreq_header (88 bytes) + nmreq_register (56 bytes) as the port would send them, nr_body = 0 */
  registerRequest(name: string, options?: PortOptions): Buffer;
  layout(): {
    api: { version: number; min: number; max: number };
    sizes: Record<string, number>;
    offsets: Record<string, number>;
    ioctls: Record<string, number>;
    constants: Record<string, number>;
  };
  Region: new (image: Buffer, nifpOffset: number, poolBufs?: number) => NetmapTestRegion;
}

export interface NativeAddon {
  Port: new (name: string, options?: PortOptions) => NativePort;
  CaptureSession: new (port: NativePort, config: CaptureConfig, onEvent: CaptureEventHandler) => NativeCaptureSession;
  /** O_DIRECT file writer on its own thread; throws code ERR_DIRECT_UNSUPPORTED where the file system refuses O_DIRECT. */
  DirectFile: new (path: string, chunkBytes: number) => NativeDirectFile;
  ReplaySession: new (port: NativePort, config: ReplayConfig, onEvent: ReplayEventHandler) => NativeReplaySession;
  /** The native capture's EPB encoder (host byte order), exposed so tests can compare it with src/pcap. */
  encodeEpb(iface: number, tsUnits: bigint, data: Uint8Array, wireLen: number): Buffer;
  /** The replay schedule at num/den packets per second: deadlines (ns after start) of packets first.. first+count-1. */
  ppsDeadlines(num: bigint, den: bigint, first: bigint, count: number): BigUint64Array;
  netmapTest: NetmapTestHooks;
}

const require = createRequire(import.meta.url);

function load(): NativeAddon {
  try {
    return require('../../build/Release/nmcap.node') as NativeAddon;
  } catch (e) {
    const err = new Error(
      `nmcap: the native addon is not built (${(e as Error).message.split('\n')[0]}); run "npm ci" or "npm run build"`,
    );
    (err as Error & { code: string }).code = 'ERR_ADDON_MISSING';
    throw err;
  }
}

export const native: NativeAddon = load();
