// VALE never blocks a sender: when a receiver's ring is full the switch drops, and netmap counts
// nothing (netmap#212, #441). The Linux bridge standing in for VALE drops in the veth backlog, which
// no counter of ours sees either. So where both ends are ours, the loss is what was sent minus what
// arrived, and it is said, never hidden.
import { chooseValeBackend, isValeName } from './vale-bridge.js';

export interface SwitchLoss {
  /** packets that left the sending port */
  sent: number;
  /** packets the receiving port was expected to get (sent, unless the test knows better) */
  expected: number;
  /** packets it captured */
  received: number;
  /** expected - received when positive; 0 otherwise */
  lost: number;
  /** received - expected when positive: frames that came from elsewhere */
  extra: number;
  /** one line for people; null when nothing was lost */
  message: string | null;
}

/** The port name without its options: "vale0:b" for "vale0:b@conf:slots=1024". */
function baseName(port: string): string {
  const at = port.indexOf('@');
  return at < 0 ? port : port.slice(0, at);
}

/** What helps a receiver keep up, for this kind of port. */
export function largerRingsHint(port: string, backend = chooseValeBackend().backend): string {
  const base = baseName(port);
  if (!isValeName(base)) return `give ${base} larger RX rings`;
  return backend === 'netmap'
    ? `give the receiving port larger rings when it is created, e.g. ${base}@conf:rings=1,slots=4096 (netmap sizes only the ports an open creates), or send slower`
    : `give the receiving port larger AF_PACKET rings, e.g. ${base}@conf:slots=65536, or send slower`;
}

/**
 * Compares one sender's report with one receiver's: `sent.packets` left port `sent.port`,
 * `received.captured` arrived at `received.port`. `expected` defaults to everything sent (a flood,
 * or a unicast to that port); pass fewer when only some of the trace is meant for that port.
 */
export function switchLoss(
  sent: { packets: number; port: string },
  received: { captured: number; port: string },
  expected: number = sent.packets,
  backend?: 'netmap' | 'bridge',
): SwitchLoss {
  const lost = Math.max(0, expected - received.captured);
  const extra = Math.max(0, received.captured - expected);
  let message: string | null = null;
  if (lost > 0) {
    message =
      `${lost} of ${expected} packets sent into ${baseName(sent.port)} were lost in the switch on the way to ` +
      `${baseName(received.port)} (${received.captured} arrived; the switch counts no drops): ${largerRingsHint(received.port, backend)}`;
  }
  return { sent: sent.packets, expected, received: received.captured, lost, extra, message };
}
