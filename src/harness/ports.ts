// The harness's port layer: the few operations it needs from a port, over native.Port for any
// backend (pipe, AF_PACKET, AF_XDP, netmap/VALE). Each port also says which settle rule applies
// to it, since that depends on where forwarding happens (see settle.ts). Other port kinds (a
// bridge-backed VALE switch, say) slot in by implementing HarnessPort.
import { PortError } from '../errors.js';
import { native, WAIT_RX, WAIT_TX, type NativePort, type PortCounters, type PortOptions, type ReceivedPacket, type TsSource } from '../ports/binding.js';

/**
 * pipe-drained: a pipe delivers when the peer syncs, so a drained sender ring means the peer took
 * everything; counters-idle: net devices forward asynchronously, so only quiet counters tell;
 * vale-sync: VALE forwards inside the sender's txsync, so one rxsync afterwards sees everything.
 */
export type SettleRule = 'pipe-drained' | 'counters-idle' | 'vale-sync';

export interface HarnessPort {
  readonly name: string;
  readonly backend: string;
  /** the kernel interface behind it ('' for pipes) */
  readonly ifname: string;
  readonly rule: SettleRule;
  readonly tsSource: TsSource;
  /** queue one packet in a TX slot; false when the ring is full */
  send(data: Uint8Array): boolean;
  txsync(): void;
  /** packets queued or published but not yet taken by the other side */
  txPending(): number;
  rxsync(): void;
  /** what the RX rings hold (after the last rxsync), in ring order */
  take(): ReceivedPacket[];
  /** block up to timeoutMs for RX (or TX space with tx=true) */
  wait(timeoutMs: number, tx?: boolean): void;
  counters(): PortCounters;
  close(): void;
}

export function settleRuleOf(backend: string, name: string): SettleRule {
  if (backend === 'pipe') return 'pipe-drained';
  if (backend === 'netmap' && /^vale[^:]*:/.test(name)) return 'vale-sync';
  return 'counters-idle';
}

class NativeHarnessPort implements HarnessPort {
  readonly backend: string;
  readonly ifname: string;
  readonly rule: SettleRule;
  readonly tsSource: TsSource;
  private readonly port: NativePort;

  constructor(
    readonly name: string,
    options: PortOptions,
  ) {
    try {
      this.port = new native.Port(name, { direction: 'both', ...options });
    } catch (e) {
      throw PortError.from(e);
    }
    const info = this.port.info();
    this.backend = info.backend;
    this.ifname = info.backend === 'pipe' ? '' : info.ifname;
    this.rule = settleRuleOf(info.backend, name);
    this.tsSource = info.tsSource;
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
  take(): ReceivedPacket[] {
    return this.port.receive();
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

export function openHarnessPort(name: string, options: PortOptions = {}): HarnessPort {
  return new NativeHarnessPort(name, options);
}
