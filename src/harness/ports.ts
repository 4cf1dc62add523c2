// The harness's port layer: the few operations it needs from a port, over a native.Port opened
// the way the CLIs open it (src/ports/open.ts), so every backend works: pipes, AF_PACKET/AF_XDP
// (veth, NICs), netmap and real VALE where /dev/netmap exists, and bridge-backed VALE elsewhere.
// Each port also says which settle rule applies to it, since that depends on where forwarding
// happens (see settle.ts), and which kernel interfaces that rule has to watch.
import { PortError } from '../errors.js';
import { WAIT_RX, WAIT_TX, type NativePort, type PortCounters, type ReceivedBatch, type TsSource } from '../ports/binding.js';
import { openPort, type OpenPortOptions } from '../ports/open.js';
import { isValeName } from '../ports/vale-bridge.js';

/**
 * pipe-drained: a pipe delivers when the peer syncs, so a drained sender ring means the peer took
 * everything; counters-idle: net devices (veth, a Linux bridge standing in for VALE, NICs) forward
 * asynchronously, so only quiet counters tell; vale-sync: netmap's VALE forwards inside the
 * sender's txsync, so one rxsync afterwards sees everything.
 */
export type SettleRule = 'pipe-drained' | 'counters-idle' | 'vale-sync';

export interface HarnessPort {
  readonly name: string;
  readonly backend: string;
  /** the kernel interfaces whose counters tell when it is quiet (none for pipes and real VALE) */
  readonly ifnames: readonly string[];
  /** the VALE switch it is a port of ("vale0"), if any */
  readonly valeSwitch?: string;
  /** 'netmap' for netmap's VALE, 'bridge' for the Linux bridge standing in for it */
  readonly valeBackend?: 'netmap' | 'bridge';
  readonly rule: SettleRule;
  readonly tsSource: TsSource;
  /** the addon's port, for the native replay session (large volumes, rates) */
  readonly native?: NativePort;
  /** the line saying which backend or switch was chosen, and why */
  readonly choice?: string;
  /** queue one packet in a TX slot; false when the ring is full */
  send(data: Uint8Array): boolean;
  txsync(): void;
  /** packets queued or published but not yet taken by the other side */
  txPending(): number;
  rxsync(): void;
  /** what the RX rings hold (after the last rxsync), in ring order, as one batch */
  take(): ReceivedBatch;
  /** block up to timeoutMs for RX (or TX space with tx=true) */
  wait(timeoutMs: number, tx?: boolean): void;
  counters(): PortCounters;
  close(): void;
}

export function settleRuleOf(backend: string, name: string): SettleRule {
  if (backend === 'pipe') return 'pipe-drained';
  if (backend === 'netmap' && isValeName(name)) return 'vale-sync';
  return 'counters-idle'; // including a VALE name served by a Linux bridge (its backend is af_packet)
}

class NativeHarnessPort implements HarnessPort {
  readonly backend: string;
  readonly ifnames: readonly string[];
  readonly valeSwitch?: string;
  readonly valeBackend?: 'netmap' | 'bridge';
  readonly rule: SettleRule;
  readonly tsSource: TsSource;
  readonly choice?: string;
  private readonly port: NativePort;

  constructor(
    readonly name: string,
    options: OpenPortOptions,
  ) {
    let opened;
    try {
      opened = openPort(name, 'both', options);
    } catch (e) {
      throw PortError.from(e);
    }
    const { port, info } = opened;
    this.port = port;
    this.backend = info.backend;
    this.choice = opened.choice;
    this.tsSource = info.tsSource;
    const base = name.trim();
    if (opened.switch) {
      // Bridge-backed VALE: forwarding happens in the bridge, so watch it and both veth ends.
      this.valeSwitch = opened.switch.switchName;
      this.valeBackend = 'bridge';
      this.ifnames = [opened.switch.outer, opened.switch.inner, opened.switch.bridge];
      this.rule = 'counters-idle';
    } else {
      if (info.backend === 'netmap' && isValeName(base)) {
        this.valeSwitch = base.slice(0, base.indexOf(':'));
        this.valeBackend = 'netmap';
      }
      this.rule = settleRuleOf(info.backend, base);
      this.ifnames = this.rule === 'counters-idle' && info.ifname ? [info.ifname] : [];
    }
  }
  get native(): NativePort {
    return this.port;
  }
  send(data: Uint8Array): boolean {
    return this.port.inject(data);
  }
  txsync(): void {
    this.port.txsync();
  }
  txPending(): number {
    return this.port.txPending();
  }
  rxsync(): void {
    this.port.rxsync();
  }
  take(): ReceivedBatch {
    return this.port.receiveBatch();
  }
  wait(timeoutMs: number, tx = false): void {
    this.port.wait(tx ? WAIT_TX : WAIT_RX, timeoutMs);
  }
  counters(): PortCounters {
    return this.port.counters();
  }
  close(): void {
    this.port.close();
  }
}

/** Opens a port by any name the CLIs take (valeBackend forces the VALE switch, as --vale-backend). */
export function openHarnessPort(name: string, options: OpenPortOptions = {}): HarnessPort {
  return new NativeHarnessPort(name, options);
}
