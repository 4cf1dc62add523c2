// Public surface of nmcap's pcap/pcapng layer.
//
// Reading: openTrace(path | bytes | Readable) streams batches (PacketBatch: one chunk Buffer plus
// typed arrays) in bounded memory; readBatchesSync(bytes) does the same synchronously. Classic pcap
// (µs/ns magics, both byte orders, FCS bits) and all of pcapng (SHB in either byte order, several
// sections, IDB options, EPB, SPB, PB, NRB, ISB, DSB, custom and unknown blocks) are read. Packet
// bytes are views into the chunk. Timestamps are exact ns (tsSec + tsNsec, or ts(i) as bigint);
// binary and sub-ns resolutions floor to the ns. Faults are PcapFormatError (code, offset, reason),
// thrown after the packets before them were delivered; a last record cut short is a warning.
// Options worth knowing: maxBlockLength (64 MiB: nothing larger is ever allocated), chunkSize,
// batchPackets, and reuse (recycle buffers: a batch is valid only until the next one is asked for).
// Classic pcap records are walked by the addon where it is built (native.ts); the JS loop is the
// reference (NMCAP_JS_READER=1). Without reuse, each batch's arrays are its own, exactly its length.
//
// Writing: PcapngWriter (SHB, IDB per interface with if_tsresol ns by default, EPB with options, SPB
// for packets without timestamp where legal (else an EPB marked so), ISB with unknown counters left out,
// writeBatch fast path (runs of plain packets encoded by the addon; NMCAP_JS_WRITER=1 for the JS loop
// alone), writeRaw for pre-encoded EPBs) and PcapWriter (µs or ns), both over a
// ByteSink from openSink(path | fd | Writable). The encode* functions are the pure block layouts.
//
// Converting: convertTrace(in, out, { format: 'pcapng' | 'pcap' }) rewrites a whole trace the way
// `nmcap -r IN -w OUT` does; convertBatches() does it for a reader and sink of your own.

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
export { openSink, openAppendSink } from './sink.js';
export type { ByteSink, SinkOptions, SinkFailure, BlockFraming, AppendFile } from './sink.js';
export { PcapngWriter, UNTIMED_COMMENT } from './writer-pcapng.js';
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
export { convertTrace, convertBatches, convertingWritable, formatForPath, interfaceOptions, CONVERT_BUFFER, MAX_SNAPLEN } from './convert.js';
export type { ConvertOptions, ConvertResult, ConvertFormat, PcapPrecision } from './convert.js';
