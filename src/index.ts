// nmcap's public TypeScript API. pcap/pcapng reading and writing is also available on its own
// as 'nmcap/pcap'.
export { Capture, timestampPolicy } from './capture/capture.js';
export type { CaptureOptions, CaptureResult, CaptureEndReason } from './capture/capture.js';
export { Replay, replay } from './replay/replay.js';
export type { ReplayOptions, ReplayResult, ReplayEndReason } from './replay/replay.js';
export { parseRate, parseMultiplier, formatRate } from './replay/rate.js';
export type { Rate } from './replay/rate.js';
export { openPort } from './ports/open.js';
export type { OpenedPort, OpenPortOptions } from './ports/open.js';
export { switchLoss } from './ports/vale-loss.js';
export type { SwitchLoss } from './ports/vale-loss.js';
export { resolvePortName, LINUX_PREFERENCE } from './ports/names.js';
export type { Backend, PortCandidate, ResolvedName } from './ports/names.js';
export { native, WAIT_RX, WAIT_TX, WAIT_TX_PROGRESS } from './ports/binding.js';
export type { NativePort, NativePortInfo, PortOptions, RingState, SlotState, ReceivedPacket } from './ports/binding.js';
export { NmcapError, PortError, PortErrorCode, PcapFormatError } from './errors.js';
export * as pcap from './pcap/index.js';
export { VERSION } from './version.js';
