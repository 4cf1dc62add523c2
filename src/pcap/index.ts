// Public surface of nmcap's pcap/pcapng layer.

export * from './constants.js';
export * from './types.js';
export { PacketBatch, BatchBuilder, NO_TIMESTAMP, KIND_PCAP, KIND_EPB, KIND_SPB, KIND_PB } from './batch.js';
export { openTrace, readBatchesSync, readPacketsSync } from './reader.js';
export type { TraceReader, TraceSource, TraceOptions } from './reader.js';
export {
  encodeSHB,
  encodeIDB,
  encodeEPB,
  encodeSPB,
  encodeISB,
  encodeNRB,
  encodeDSB,
  encodeCustomBlock,
  encodeBlock,
  encodePcapHeader,
  encodePcapRecord,
  epbOptions,
  epbLength,
  putEPB,
  optionsLength,
  putOptions,
} from './encode.js';
export type { OptionValue, ShbFields, InterfaceFields, EpbFields, IsbFields, NrbFields, PcapHeaderFields } from './encode.js';
export { openSink } from './sink.js';
export type { ByteSink, SinkOptions } from './sink.js';
export { PcapngWriter } from './writer-pcapng.js';
export type { PcapngWriterOptions, InterfaceOptions, PacketToWrite, StatsToWrite } from './writer-pcapng.js';
export { PcapWriter } from './writer-pcap.js';
export type { PcapWriterOptions, PcapPacketToWrite } from './writer-pcap.js';
export {
  RES_MICRO,
  RES_NANO,
  TsConverter,
  nsToUnits,
  resolutionFromByte,
  resolutionToByte,
  secNsecToNs,
  unitsPerSecond,
} from './timestamps.js';
export {
  NmcapError,
  PcapFormatError,
  PcapWriteError,
  PcapErrorCode,
  PcapWarningCode,
  WriteErrorCode,
} from '../errors.js';
export type { PcapWarning } from '../errors.js';
export { linkTypeName } from './linktypes.js';
