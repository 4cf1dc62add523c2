// The test-only addon, build/Release/nmcap_test.node (native/test/test_addon.cc): hooks into the
// native code that the shipped addon does not export. Built by `node scripts/build-native.mjs`
// from the same static library as nmcap.node, so the code under test is the code that ships.
import { createRequire } from 'node:module';

import type { NetmapName, PacerSimConfig, PacerSimResult, PortOptions, RingKind, RingState, TsSource } from '../../src/ports/binding.js';

/** One ring adapter of a netmapTest.Region, with byte offsets into the region's Buffer. */
export interface NetmapTestRing extends RingState {
  isTx: boolean;
  tsSource: TsSource;
  numBufs: number;
  slotOffset: number;
  bufOffset: number;
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

export interface NativeTestAddon {
  /** The native capture's EPB encoder (little-endian, native/loops/pcapng_epb.h), to compare with src/pcap. */
  encodeEpb(iface: number, tsUnits: bigint, data: Uint8Array, wireLen: number, flags?: number): Buffer;
  /** The replay schedule at num/den packets per second: deadlines (ns after start) of packets first.. first+count-1. */
  ppsDeadlines(num: bigint, den: bigint, first: bigint, count: number): BigUint64Array;
  /** The replay's pacing stage driven by a simulated sender (native/test/test_addon.cc). */
  pacerSimulate(config: PacerSimConfig, len: Uint32Array, sec: Float64Array, nsec: Uint32Array, passStart: Uint8Array): PacerSimResult;
  netmapTest: NetmapTestHooks;
  /** The machine's precision floor: an ideal paced sender that only reads the clock (native/test/js_spin_probe.cc). */
  spinProbe(o: { ratePps: number; durationMs: number; realtime?: boolean; cpu?: number }): SpinProbeResult;
}

export interface SpinProbeResult {
  departures: number;
  p50Ns: number;
  p99Ns: number;
  p999Ns: number;
  maxNs: number;
  stalls: number;
  stalledNs: number;
  maxGapNs: number;
  policy: string;
  cpus: number[];
  realtimeError: string;
  cpuError: string;
}

const require = createRequire(import.meta.url);

export const nativeTest: NativeTestAddon = require('../../build/Release/nmcap_test.node') as NativeTestAddon;
