// `nmcap -r FILE`: print a saved capture like tcpdump, or rewrite it with -w (pcapng by default,
// classic pcap with -F pcap). Packets read before a fault are written or printed, output files are
// closed valid, and the exit code says what happened (0, 1 on an error, 130 after Ctrl-C).

import { PcapWriteError, WriteErrorCode, type PcapWarning } from '../errors.js';
import type { PacketBatch } from '../pcap/batch.js';
import { NO_TIMESTAMP } from '../pcap/batch.js';
import { openTrace } from '../pcap/reader.js';
import { openSink, type ByteSink } from '../pcap/sink.js';
import type { InterfaceInfo, SectionInfo, TraceRecord, TsResolution } from '../pcap/types.js';
import { PcapngWriter, type InterfaceOptions } from '../pcap/writer-pcapng.js';
import { PcapWriter } from '../pcap/writer-pcap.js';
import { describeError, EXIT_OK, LineOut, onInterrupt, reportError, warnLine, type NmcapArgs } from './common.js';
import { PacketPrinter } from './print-packet.js';

/**
 * Read and write buffer size when rewriting: small enough that the few recycled buffers stay in
 * cache and page faults stay few, big enough that syscalls do not matter (1 MiB).
 */
const REWRITE_BUFFER = 1 << 20;

/** Output resolution for an input interface: kept when exact in ns (decimal, 10^-0..10^-9), else ns. */
function keptResolution(r: TsResolution): TsResolution {
  return r.base === 10 && r.exponent <= 9 ? r : { base: 10, exponent: 9 };
}

function finerThanMicro(r: TsResolution): boolean {
  return r.base === 10 ? r.exponent > 6 : r.exponent > 19;
}

/** Rewrites into pcapng: one output section, one IDB per (input section, interface). */
class PcapngOutput {
  private writer: PcapngWriter | undefined;
  private readonly maps = new Map<SectionInfo, number[]>();

  constructor(private readonly sink: ByteSink) {}

  private ensure(section: SectionInfo | undefined): PcapngWriter {
    if (this.writer === undefined) {
      const o: ConstructorParameters<typeof PcapngWriter>[1] = { userAppl: 'nmcap' };
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
      oi = this.ensure(section).addInterface(interfaceOptions(info));
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

function interfaceOptions(info: InterfaceInfo): InterfaceOptions {
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

/** Rewrites into classic pcap: the first packet's interface decides link type and snap length. */
class PcapOutput {
  private writer: PcapWriter | undefined;
  dropped = 0;

  constructor(
    private readonly sink: ByteSink,
    private readonly precision: 'micro' | 'nano' | 'auto',
  ) {}

  private create(info: InterfaceInfo | undefined): PcapWriter {
    const nanos = this.precision === 'nano' || (this.precision === 'auto' && info !== undefined && finerThanMicro(info.tsResolution));
    const o: ConstructorParameters<typeof PcapWriter>[1] = {
      linkType: info?.linkType ?? 1,
      snapLen: info === undefined || info.snapLen === 0 ? 262144 : info.snapLen,
      nanos,
    };
    if (info?.fcsLen !== undefined && info.fcsLen % 16 === 0 && info.fcsLen <= 240) o.fcsLen = info.fcsLen;
    return new PcapWriter(this.sink, o);
  }

  records(recs: readonly TraceRecord[]): void {
    for (const r of recs) if (r.kind === 'nrb' || r.kind === 'dsb' || r.kind === 'custom' || r.kind === 'isb') this.dropped++;
  }

  packets(b: PacketBatch): void {
    if (b.count === 0) return;
    this.writer ??= this.create(b.section.interfaces[b.iface[0]!]);
    this.writer.writeBatch(b);
  }

  async close(firstSection: SectionInfo | undefined): Promise<void> {
    this.writer ??= this.create(firstSection?.interfaces[0]);
    await this.writer.close();
  }
}

export interface RunState {
  stop: boolean;
}

function nsText(sec: number, nsec: number): string {
  if (nsec === NO_TIMESTAMP) return 'null';
  if (sec > 0) return `"${sec}${String(nsec).padStart(9, '0')}"`;
  return `"${BigInt(sec) * 1_000_000_000n + BigInt(nsec)}"`;
}

export async function printPackets(a: NmcapArgs, batches: AsyncIterable<PacketBatch>, limit: number, st: RunState): Promise<number> {
  const out = new LineOut();
  const nano = a.nano === true || a.timeStampPrecision === 'nano';
  const printer = new PacketPrinter({ link: a.link === true, quick: a.quiet === true, tsFormat: a.timestamp ?? 0, nano });
  const json = a.json === true;
  let total = 0;
  for await (const b of batches) {
    const n = Math.min(b.count, limit - total);
    const section = b.section;
    for (let i = 0; i < n; i++) {
      const sec = b.tsSec[i]!;
      const nsec = b.tsNsec[i]!;
      const data = b.data(i);
      const ifx = b.iface[i]!;
      const lt = section.interfaces[ifx]!.linkType;
      if (json) {
        const summary = printer.summary(data, lt, b.origLen[i]!);
        out.line(
          `{"ts":${nsText(sec, nsec)},"caplen":${b.capLen[i]},"len":${b.origLen[i]},"interface":${ifx},"linktype":${lt},"section":${section.index},"summary":${JSON.stringify(summary)}}`,
        );
      } else {
        out.line(printer.line(nsec === NO_TIMESTAMP ? NaN : sec, nsec, data, lt, b.origLen[i]!));
      }
    }
    total += n;
    await out.drain();
    if (out.closed || total >= limit || st.stop) break;
  }
  await out.end();
  if (out.error !== undefined) throw out.error;
  return total;
}

export async function runOffline(a: NmcapArgs): Promise<number> {
  const warnings: PcapWarning[] = [];
  const reader = openTrace(a.read === '-' ? process.stdin : a.read!, {
    // Rewriting copies every packet out before asking for the next batch: recycle the memory.
    reuse: a.write !== undefined,
    ...(a.write !== undefined ? { chunkSize: REWRITE_BUFFER } : {}),
    onWarning: (w) => {
      warnings.push(w);
      warnLine(w.message);
    },
  });
  const st: RunState = { stop: false };
  const sig = onInterrupt(() => {
    st.stop = true;
    // Ends a read waiting on a quiet pipe; what was read so far is still written.
    void reader.close();
  });
  const limit = a.count ?? Infinity;
  try {
    if (a.write === undefined) {
      try {
        await printPackets(a, reader.batches(), limit, st);
      } catch (err) {
        return reportError(err);
      } finally {
        await reader.close();
      }
      return sig.exitCode() ?? EXIT_OK;
    }
    return await rewrite(a, reader, limit, st, warnings, sig.interrupted, sig.exitCode);
  } finally {
    sig.dispose();
  }
}

async function rewrite(
  a: NmcapArgs,
  reader: ReturnType<typeof openTrace>,
  limit: number,
  st: RunState,
  warnings: PcapWarning[],
  interrupted: () => boolean,
  signalExit: () => number | undefined,
): Promise<number> {
  const format = a.format ?? 'pcapng';
  let sink: ByteSink;
  try {
    sink = openSink(a.write === '-' ? 1 : a.write!, { bufferSize: REWRITE_BUFFER });
  } catch (err) {
    await reader.close();
    return reportError(err);
  }
  const precision = a.format === 'pcap-ns' || a.nano === true || a.timeStampPrecision === 'nano' ? 'nano' : a.timeStampPrecision === 'micro' ? 'micro' : 'auto';
  const pcapng = format === 'pcapng' ? new PcapngOutput(sink) : undefined;
  const pcap = format === 'pcapng' ? undefined : new PcapOutput(sink, precision);
  let total = 0;
  let failure: unknown;
  try {
    for await (const batch of reader.batches()) {
      const b = total + batch.count > limit ? batch.slice(0, limit - total) : batch;
      if (pcapng !== undefined) {
        pcapng.records(b.records, b.section);
        pcapng.packets(b);
      } else {
        pcap!.records(b.records);
        pcap!.packets(b);
      }
      total += b.count;
      if (sink.needsDrain) await sink.ready();
      if (total >= limit || st.stop) break;
    }
  } catch (err) {
    failure = err;
  }
  try {
    if (pcapng !== undefined) await pcapng.close();
    else await pcap!.close(reader.sections[0]);
  } catch (err) {
    failure ??= err;
  }
  await reader.close().catch(() => undefined);
  if (pcap !== undefined && pcap.dropped > 0 && failure === undefined) {
    warnLine(`classic pcap cannot hold name resolution, statistics, secrets or custom blocks: ${pcap.dropped} dropped`);
  }
  const toStdout = a.write === '-';
  // After a failed write the sink cut the file to its last whole block: count what is in it.
  const written = total - (sink.failure?.packetsLost ?? 0);
  if (a.json === true) {
    const stats = {
      read: total,
      written,
      format: format === 'pcap-ns' ? 'pcap' : format,
      output: a.write,
      bytes: sink.failure?.bytes ?? sink.bytesWritten,
      warnings: warnings.map((w) => w.message),
      error: failure === undefined ? null : describeError(failure),
      interrupted: interrupted(),
    };
    (toStdout ? process.stderr : process.stdout).write(`${JSON.stringify(stats)}\n`);
  } else if (a.quiet !== true && (failure === undefined || sink.failure !== undefined)) {
    process.stderr.write(`${total} packet${total === 1 ? '' : 's'} read\n${written} packet${written === 1 ? '' : 's'} written\n`);
  }
  if (failure !== undefined) return reportError(failure);
  return signalExit() ?? EXIT_OK;
}

