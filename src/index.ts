// nmcap's public TypeScript API. pcap/pcapng reading and writing is also available on its own
// as 'nmcap/pcap'.
export { Capture, timestampPolicy } from './capture/capture.js';
export type { CaptureOptions, CaptureResult, CaptureEndReason } from './capture/capture.js';
export { parseStopConditions, fileStopPlan } from './capture/stop.js';
export type { StopConditions } from './capture/stop.js';
export { Replay, replay } from './replay/replay.js';
export type { ReplayOptions, ReplayResult, ReplayRingResult, ReplayEndReason } from './replay/replay.js';
export { parseRate, parseMultiplier, formatRate } from './replay/rate.js';
export type { Rate } from './replay/rate.js';
export { openPort } from './ports/open.js';
export type { OpenedPort, OpenPortOptions } from './ports/open.js';
export { switchLoss } from './ports/vale-loss.js';
export type { SwitchLoss } from './ports/vale-loss.js';
export { resolvePortName, divertsTraffic, LINUX_PREFERENCE } from './ports/names.js';
export type { Backend, PortCandidate, PortDirection, ResolvedName } from './ports/names.js';
export { native, WAIT_RX, WAIT_TX, WAIT_TX_PROGRESS } from './ports/binding.js';
export type {
  CaptureEndEvent,
  CaptureProgress,
  DepartureStats,
  Direction,
  NativeAddon,
  NativeNames,
  NativePort,
  NativePortInfo,
  NativeReplayStats,
  NetmapName,
  ParsedPortName,
  PortCounters,
  PortEndState,
  PortOptions,
  ReceivedPacket,
  ReplayEndEvent,
  RingKind,
  RingState,
  SlotState,
  TsSource,
  XdpInfo,
} from './ports/binding.js';
export {
  ERROR_CODES,
  AddonError,
  NmcapError,
  OptionError,
  OutOfRangeError,
  PcapFormatError,
  PcapWriteError,
  PortError,
  PortErrorCode,
  TraceError,
  UsageError,
  fromNative,
  isErrorCode,
} from './errors.js';
export type { CodeOf, ErrorCode } from './errors.js';
export { CAPTURE_COUNTERS, PORT_COUNTERS, REPLAY_COUNTERS, countersOf } from './counters.js';
export type { CounterDef, CounterValues } from './counters.js';
export * as pcap from './pcap/index.js';
export { VERSION } from './version.js';
