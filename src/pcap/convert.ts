// Rewriting a trace: pcap or pcapng in, pcapng or classic pcap out, like `editcap -F`. Every valid
// input converts: sections are merged into one output section (one IDB per input interface),
// packets without timestamp stay what they were (an SPB where the spec allows one, else an EPB
// saying so), and what classic pcap cannot hold is counted, not an error. Used by `nmcap -r -w`;
// library users call convertTrace() or, with their own reader and sink, convertBatches().

import { PassThrough, type Writable } from 'node:stream';

import { PcapWriteError, WriteErrorCode } from '../errors.js';
import type { PacketBatch } from './batch.js';
import { openTrace, type TraceOptions, type TraceReader, type TraceSource } from './reader.js';
import { openSink, type ByteSink } from './sink.js';
import type { InterfaceInfo, SectionInfo, TraceRecord, TsResolution } from './types.js';
import { PcapngWriter, type InterfaceOptions } from './writer-pcapng.js';
import { PcapWriter } from './writer-pcap.js';

export type ConvertFormat = 'pcapng' | 'pcap';

/** Classic pcap timestamps: µs, ns, or ns only when an input interface is finer than µs. */
export type PcapPrecision = 'micro' | 'nano' | 'auto';

export interface ConvertOptions {
  /** Default 'pcapng'. */
  format?: ConvertFormat;
  /** For format 'pcap'. Default 'auto'. */
  precision?: PcapPrecision;
  /** Stop after this many packets. */
  count?: number;
  /** Asked after every batch; true ends the conversion early (the output is still closed valid). */
  shouldStop?: () => boolean;
  /** pcapng output: shb_userappl. Default 'nmcap'. */
  userAppl?: string;
  /** Classic pcap output: the header's snap length (a live capture's -s). Default: see PcapOutput. */
  snapLen?: number;
  /**
   * pcapng output: the filter expression the packets were selected with (`nmcap -r IN -w OUT EXPR`),
   * recorded in every IDB's if_filter; combined with `and` with a filter the input interface records.
   */
  filter?: string;
}

/** Names whose extension says classic pcap (tcpdump's and dumpcap -P's habits). */
const PCAP_EXTENSIONS = ['.pcap', '.cap', '.dmp'];

/**
 * The output format for `-w PATH`: what -F asked for ('pcapng', 'pcap', 'pcap-ns'), else what the
 * name says (x.pcap, x.cap, x.dmp: classic pcap), else pcapng (also for '-', stdout).
 */
export function formatForPath(path: string | undefined, requested?: string): ConvertFormat {
  if (requested === 'pcap' || requested === 'pcap-ns') return 'pcap';
  if (requested === 'pcapng') return 'pcapng';
  if (requested !== undefined) throw new PcapWriteError(WriteErrorCode.BAD_ARGUMENT, `unknown output format "${requested}" (pcapng, pcap or pcap-ns)`);
  const lower = (path ?? '').toLowerCase();
  return PCAP_EXTENSIONS.some((e) => lower.endsWith(e)) ? 'pcap' : 'pcapng';
}

export interface ConvertResult {
  /** Packets written. */
  packets: number;
  /** Bytes of output. */
  bytes: number;
  /**
   * Blocks with content that classic pcap has no place for (name resolution, decryption secrets,
   * custom blocks), left out. Statistics blocks are not counted: they describe the capture, not
   * its content, and editcap drops them silently too. Always 0 for pcapng output.
   */
  blocksLeftOut: number;
  /** Packets that had no timestamp (SPB): in classic pcap they carry time 0, as editcap writes them. */
  untimedPackets: number;
  /** The fault that ended the conversion early (read or write), or undefined. */
  error?: unknown;
}

/** Output resolution for an input interface: kept when exact in ns (decimal, 10^-0..10^-9), else ns. */
function keptResolution(r: TsResolution): TsResolution {
  return r.base === 10 && r.exponent <= 9 ? r : { base: 10, exponent: 9 };
}

function finerThanMicro(r: TsResolution): boolean {
  return r.base === 10 ? r.exponent > 6 : r.exponent > 19;
}

/** libpcap's largest snap length; what a classic pcap header converted from pcapng says. */
export const MAX_SNAPLEN = 262144;

export function interfaceOptions(info: InterfaceInfo): InterfaceOptions {
  const o: InterfaceOptions = {
    linkType: info.linkType,
    snapLen: info.snapLen,
    tsResolution: keptResolution(info.tsResolution),
  };
  if (info.name !== undefined) o.name = info.name;
  if (info.description !== undefined) o.description = info.description;
  if (info.filter !== undefined) o.filter = info.filter.text !== undefined && info.filter.kind === 0 ? info.filter.text : { kind: info.filter.kind, data: info.filter.data };
  if (info.fcsLen !== undefined) o.fcsLen = info.fcsLen;
  if (info.os !== undefined) o.os = info.os;
  if (info.hardware !== undefined) o.hardware = info.hardware;
  if (info.speed !== undefined) o.speed = info.speed;
  if (info.txSpeed !== undefined) o.txSpeed = info.txSpeed;
  if (info.rxSpeed !== undefined) o.rxSpeed = info.rxSpeed;
  if (info.ipv4Addresses !== undefined) o.ipv4Addresses = info.ipv4Addresses;
  if (info.ipv6Addresses !== undefined) o.ipv6Addresses = info.ipv6Addresses;
  if (info.macAddress !== undefined) o.macAddress = info.macAddress;
  if (info.euiAddress !== undefined) o.euiAddress = info.euiAddress;
  if (info.ianaTzName !== undefined) o.ianaTzName = info.ianaTzName;
  if (info.comments.length > 0) o.comments = info.comments;
  // if_tsoffset is not copied: the reader already made the timestamps absolute.
  return o;
}

/**
 * An interface's options once its packets were selected with `expression` as well: both filters
 * hold for what is written (the old one kept only where it is text, as libpcap writes it).
 */
export function withFilter(o: InterfaceOptions, expression: string | undefined): InterfaceOptions {
  if (expression === undefined) return o;
  const old = o.filter;
  return { ...o, filter: typeof old === 'string' && old.trim() !== '' ? `(${old}) and (${expression})` : expression };
}

interface Output {
  records(recs: readonly TraceRecord[], section: SectionInfo): void;
  packets(b: PacketBatch): void;
  close(sections: readonly SectionInfo[]): Promise<void>;
  readonly blocksLeftOut: number;
  readonly untimedPackets: number;
}

/** pcapng: one output section, one IDB per (input section, interface), records re-encoded. */
class PcapngOutput implements Output {
  private writer: PcapngWriter | undefined;
  private readonly maps = new Map<SectionInfo, number[]>();
  readonly blocksLeftOut = 0;

  constructor(
    private readonly sink: ByteSink,
    private readonly userAppl: string,
    private readonly filter: string | undefined,
  ) {}

  get untimedPackets(): number {
    return this.writer?.untimedPackets ?? 0;
  }

  private ensure(section: SectionInfo | undefined): PcapngWriter {
    if (this.writer === undefined) {
      const o: ConstructorParameters<typeof PcapngWriter>[1] = { userAppl: this.userAppl };
      if (section?.hardware !== undefined) o.hardware = section.hardware;
      if (section?.os !== undefined) o.os = section.os;
      if (section !== undefined && section.comments.length > 0) o.comments = section.comments;
      this.writer = new PcapngWriter(this.sink, o);
    }
    return this.writer;
  }

  private map(section: SectionInfo, i: number): number {
    let m = this.maps.get(section);
    if (m === undefined) {
      m = [];
      this.maps.set(section, m);
    }
    let oi = m[i];
    if (oi === undefined) {
      const info = section.interfaces[i];
      if (info === undefined) throw new PcapWriteError(WriteErrorCode.BAD_ARGUMENT, `input interface ${i} is not described`);
      oi = this.ensure(section).addInterface(withFilter(interfaceOptions(info), this.filter));
      m[i] = oi;
    }
    return oi;
  }

  records(recs: readonly TraceRecord[], section: SectionInfo): void {
    for (const r of recs) {
      if (r.kind === 'shb' || r.kind === 'pcap-header') {
        this.ensure(r.section);
        if (r.kind === 'pcap-header') this.map(r.section, 0);
      } else if (r.kind === 'idb') {
        this.map(r.section, r.interface.index);
      } else if (r.kind === 'isb' && this.filter !== undefined) {
        // The input's delivered and accepted counts describe packets the filter has since left out.
        const { usrDeliv, filterAccept, ...kept } = r;
        const dropped = usrDeliv !== undefined || filterAccept !== undefined;
        const comments = dropped ? [...r.comments, `isb_usrdeliv and isb_filteraccept of the input left out: packets selected again with "${this.filter}"`] : r.comments;
        this.ensure(section).copyRecord({ ...kept, comments }, (i) => this.map(section, i));
      } else {
        this.ensure(section).copyRecord(r, (i) => this.map(section, i));
      }
    }
  }

  packets(b: PacketBatch): void {
    const section = b.section;
    this.ensure(section).writeBatch(b, (i) => this.map(section, i));
  }

  async close(): Promise<void> {
    await this.ensure(undefined).close();
  }
}

/**
 * Classic pcap: one link type per file, that of the first packet. The header's snap length: a
 * classic input's own; for pcapng input, where interfaces may differ and more may be described
 * after the first packet, 262144 (or the largest described, if larger), as editcap writes it: no
 * record is then longer than the header says.
 */
class PcapOutput implements Output {
  private writer: PcapWriter | undefined;
  blocksLeftOut = 0;

  constructor(
    private readonly sink: ByteSink,
    private readonly precision: PcapPrecision,
    private readonly sections: () => readonly SectionInfo[],
    private readonly snapLen: number | undefined,
  ) {}

  get untimedPackets(): number {
    return this.writer?.untimedPackets ?? 0;
  }

  private create(section: SectionInfo | undefined, info: InterfaceInfo | undefined): PcapWriter {
    const nanos = this.precision === 'nano' || (this.precision === 'auto' && info !== undefined && finerThanMicro(info.tsResolution));
    let snapLen = MAX_SNAPLEN;
    if (this.snapLen !== undefined) snapLen = this.snapLen;
    else if (section?.format === 'pcap' && info !== undefined && info.snapLen > 0) snapLen = info.snapLen;
    else for (const s of this.sections()) for (const f of s.interfaces) snapLen = Math.max(snapLen, f.snapLen);
    const o: ConstructorParameters<typeof PcapWriter>[1] = { linkType: info?.linkType ?? 1, snapLen, nanos };
    if (info?.fcsLen !== undefined && info.fcsLen % 16 === 0 && info.fcsLen <= 240) o.fcsLen = info.fcsLen;
    return new PcapWriter(this.sink, o);
  }

  records(recs: readonly TraceRecord[]): void {
    // Do-not-copy custom blocks would be dropped by any rewriter: not a loss of this format.
    for (const r of recs) if (r.kind === 'nrb' || r.kind === 'dsb' || (r.kind === 'custom' && r.copyable)) this.blocksLeftOut++;
  }

  packets(b: PacketBatch): void {
    if (b.count === 0) return;
    this.writer ??= this.create(b.section, b.section.interfaces[b.iface[0]!]);
    this.writer.writeBatch(b);
  }

  async close(sections: readonly SectionInfo[]): Promise<void> {
    this.writer ??= this.create(sections[0], sections[0]?.interfaces[0]);
    await this.writer.close();
  }
}

/**
 * Writes every batch into `sink` and closes it. A fault (from the batches or the writer) ends the
 * conversion; what was written before it stays, the output is closed valid, and the fault is
 * returned in `error` rather than thrown. `sections` is the reader's section list (every interface
 * described so far, for the snap length of classic pcap output); without it, the batches' sections.
 */
export async function convertBatches(
  batches: AsyncIterable<PacketBatch>,
  sink: ByteSink,
  opts: ConvertOptions = {},
  sections?: () => readonly SectionInfo[],
): Promise<ConvertResult> {
  const seen: SectionInfo[] = [];
  const sectionList = sections ?? ((): readonly SectionInfo[] => seen);
  const out: Output =
    (opts.format ?? 'pcapng') === 'pcapng'
      ? new PcapngOutput(sink, opts.userAppl ?? 'nmcap', opts.filter)
      : new PcapOutput(sink, opts.precision ?? 'auto', sectionList, opts.snapLen);
  const limit = opts.count ?? Infinity;
  let total = 0;
  let error: unknown;
  try {
    if (total < limit) {
      for await (const batch of batches) {
        if (seen[seen.length - 1] !== batch.section) seen.push(batch.section);
        const b = total + batch.count > limit ? batch.slice(0, limit - total) : batch;
        out.records(b.records, b.section);
        out.packets(b);
        total += b.count;
        if (sink.needsDrain) await sink.ready();
        if (total >= limit || opts.shouldStop?.() === true) break;
      }
    }
  } catch (err) {
    error = err;
  }
  try {
    await out.close(sectionList());
  } catch (err) {
    error ??= err;
  }
  const r: ConvertResult = { packets: total, bytes: sink.bytesWritten, blocksLeftOut: out.blocksLeftOut, untimedPackets: out.untimedPackets };
  if (error !== undefined) r.error = error;
  return r;
}

/** Read and write buffer size: few recycled buffers stay in cache, syscalls do not matter (1 MiB). */
export const CONVERT_BUFFER = 1 << 20;

/**
 * Converts a whole trace: a path, bytes or a stream in; a path, an fd or a Writable out. The
 * reader recycles its memory (conversion copies every packet out at once). Faults are returned in
 * `error`, after everything before them was written.
 */
export async function convertTrace(
  input: TraceSource,
  output: string | number | Writable,
  opts: ConvertOptions & { reader?: TraceOptions } = {},
): Promise<ConvertResult> {
  const reader: TraceReader = openTrace(input, { chunkSize: CONVERT_BUFFER, ...opts.reader, reuse: true });
  let sink: ByteSink;
  try {
    sink = openSink(output, { bufferSize: CONVERT_BUFFER });
  } catch (err) {
    await reader.close();
    throw err;
  }
  try {
    return await convertBatches(reader.batches(), sink, opts, () => reader.sections);
  } finally {
    await reader.close().catch(() => undefined);
  }
}

/**
 * A Writable that takes a pcapng stream and writes it converted to `output`: for producers that
 * only speak pcapng (the native capture loop writes EPBs) when classic pcap is wanted. `done`
 * settles once the input has ended and the output is closed; on a fault the rest of the input is
 * drained and discarded, so the producer never blocks.
 */
export function convertingWritable(output: string | number | Writable, opts: ConvertOptions = {}): { input: Writable; done: Promise<ConvertResult> } {
  const input = new PassThrough({ highWaterMark: 8 << 20 });
  const sink = openSink(output, { bufferSize: CONVERT_BUFFER });
  const reader = openTrace(input, { chunkSize: CONVERT_BUFFER, reuse: true });
  const done = convertBatches(reader.batches(), sink, opts, () => reader.sections).then((r) => {
    if (r.error !== undefined) input.resume();
    return r;
  });
  return { input, done };
}
