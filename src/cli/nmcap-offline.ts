// `nmcap -r FILE [EXPR]`: print a saved capture like tcpdump, or rewrite it with -w (pcapng by
// default, classic pcap with -F pcap); with a filter expression, only the packets it accepts (as
// `tcpdump -r FILE EXPR`, judged in batches by the same interpreter live capture uses on pipes). Packets read before a fault are written or printed, output files are
// closed valid, and the exit code says what happened (0, 1 on an error, 130 after Ctrl-C).

import { SavedPacketFilter, compileFilter, filterImage } from '../capture/filter.js';
import { FilterError, PcapWarningCode, type PcapWarning } from '../errors.js';
import type { PacketBatch } from '../pcap/batch.js';
import { NO_TIMESTAMP } from '../pcap/batch.js';
import { CONVERT_BUFFER, convertBatches, formatForPath, MAX_SNAPLEN } from '../pcap/convert.js';
import { linkTypeName } from '../pcap/linktypes.js';
import { openTrace, type TraceReader } from '../pcap/reader.js';
import { openSink, type ByteSink } from '../pcap/sink.js';
import type { SectionInfo } from '../pcap/types.js';
import { describeError, EXIT_OK, EXIT_RUNTIME, LineOut, onInterrupt, reportError, UsageError, warnLine, type NmcapArgs } from './common.js';
import { PacketPrinter } from './print-packet.js';

export interface RunState {
  stop: boolean;
}

function nsText(sec: number, nsec: number): string {
  if (nsec === NO_TIMESTAMP) return 'null';
  if (sec > 0) return `"${sec}${String(nsec).padStart(9, '0')}"`;
  return `"${BigInt(sec) * 1_000_000_000n + BigInt(nsec)}"`;
}

/** tcpdump's first line on stderr when it reads a file: the first interface's link type and snap length. */
export function readingLine(file: string, section: SectionInfo): string | undefined {
  const first = section.interfaces[0];
  if (first === undefined) return undefined;
  const name = linkTypeName(first.linkType);
  return `reading from file ${file}, link-type ${name.short} (${name.long}), snapshot length ${first.snapLen === 0 ? MAX_SNAPLEN : first.snapLen}`;
}

export async function printPackets(
  a: NmcapArgs,
  batches: AsyncIterable<PacketBatch>,
  limit: number,
  st: RunState,
  onFirst?: (section: SectionInfo) => void,
): Promise<number> {
  const out = new LineOut();
  const nano = a.nano === true || a.timeStampPrecision === 'nano';
  const printer = new PacketPrinter({
    link: a.link === true,
    quick: a.quiet === true,
    tsFormat: a.timestamp ?? 0,
    nano,
    verbose: a.verbose ?? 0,
    hex: a.hex ?? 0,
    hexAscii: a.hexAscii ?? 0,
    ascii: a.ascii === true,
  });
  const json = a.json === true;
  let total = 0;
  let first = onFirst;
  for await (const b of batches) {
    const n = Math.min(b.count, limit - total);
    const section = b.section;
    if (first !== undefined && section.interfaces.length > 0) {
      first(section);
      first = undefined;
    }
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
    ...(a.write !== undefined ? { chunkSize: CONVERT_BUFFER } : {}),
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
  if (a.dumpFilter) {
    sig.dispose();
    return dumpFileFilter(a, reader);
  }
  const limit = a.count ?? Infinity;
  const filter = a.filter === undefined ? undefined : new SavedPacketFilter(a.filter, limit);
  try {
    // The filter is compiled at the first batch (for the file's link types): a bad expression
    // ends the run before any output exists.
    let batches: AsyncIterable<PacketBatch>;
    try {
      batches = filter === undefined ? reader.batches() : await started(filter.batches(reader.batches()));
    } catch (err) {
      await reader.close().catch(() => undefined);
      return reportError(err);
    }
    if (a.write === undefined) {
      try {
        const file = a.read!;
        await printPackets(a, batches, limit, st, (section) => {
          const line = readingLine(file, section);
          if (line !== undefined) process.stderr.write(`${line}\n`);
        });
      } catch (err) {
        return reportError(err);
      } finally {
        await reader.close();
      }
      // A file cut short: every complete packet printed and the warning given, then exit 1 as
      // tcpdump does (rewriting with -w exits 0 after the same warning, as editcap does).
      const cutShort = warnings.some((w) => w.code === PcapWarningCode.TRUNCATED);
      return sig.exitCode() ?? (cutShort ? EXIT_RUNTIME : EXIT_OK);
    }
    return await rewrite(a, reader, batches, filter, limit, st, warnings, sig.interrupted, sig.exitCode);
  } finally {
    sig.dispose();
  }
}

/** `source` with its first batch already read, so that a filter that does not compile ends the
 *  run before any output exists. Any other fault (a bad file) comes in its place in the stream,
 *  after what was read before it. */
async function started(source: AsyncIterable<PacketBatch>): Promise<AsyncIterable<PacketBatch>> {
  const it = source[Symbol.asyncIterator]();
  let first: IteratorResult<PacketBatch> | undefined;
  let fault: unknown;
  try {
    first = await it.next();
  } catch (err) {
    if (err instanceof FilterError) throw err;
    fault = err;
  }
  return {
    async *[Symbol.asyncIterator]() {
      if (first === undefined) throw fault;
      if (first.done === true) return;
      yield first.value;
      for (;;) {
        const r = await it.next();
        if (r.done === true) return;
        yield r.value;
      }
    },
  };
}

async function rewrite(
  a: NmcapArgs,
  reader: ReturnType<typeof openTrace>,
  batches: AsyncIterable<PacketBatch>,
  filter: SavedPacketFilter | undefined,
  limit: number,
  st: RunState,
  warnings: PcapWarning[],
  interrupted: () => boolean,
  signalExit: () => number | undefined,
): Promise<number> {
  const format = formatForPath(a.write, a.format);
  let sink: ByteSink;
  try {
    sink = openSink(a.write === '-' ? 1 : a.write!, { bufferSize: CONVERT_BUFFER });
  } catch (err) {
    await reader.close();
    return reportError(err);
  }
  const precision = a.format === 'pcap-ns' || a.nano === true || a.timeStampPrecision === 'nano' ? 'nano' : a.timeStampPrecision === 'micro' ? 'micro' : 'auto';
  const r = await convertBatches(
    batches,
    sink,
    { format, precision, count: limit, shouldStop: () => st.stop, ...(filter !== undefined ? { filter: filter.expression } : {}) },
    () => reader.sections,
  );
  await reader.close().catch(() => undefined);
  const failure = r.error;
  if (r.blocksLeftOut > 0 && failure === undefined) {
    warnLine(`classic pcap cannot hold name resolution, secrets or custom blocks: ${r.blocksLeftOut} left out`);
  }
  const toStdout = a.write === '-';
  // After a failed write the sink cut the file to its last whole block: count what is in it.
  const total = r.packets;
  const written = total - (sink.failure?.packetsLost ?? 0);
  // With a filter, "read" counts the packets judged: up to the last one written when -c ended it.
  const read = filter === undefined ? total : filter.read;
  if (a.json === true) {
    const stats = {
      read,
      written,
      filter: filter?.expression ?? null,
      accepted: filter === undefined ? null : filter.accepted,
      format,
      output: a.write,
      bytes: sink.failure?.bytes ?? sink.bytesWritten,
      untimed: r.untimedPackets,
      warnings: warnings.map((w) => w.message),
      error: failure === undefined ? null : describeError(failure),
      interrupted: interrupted(),
    };
    (toStdout ? process.stderr : process.stdout).write(`${JSON.stringify(stats)}\n`);
  } else if (a.quiet !== true && (failure === undefined || sink.failure !== undefined)) {
    const plural = (n: number): string => `${n} packet${n === 1 ? '' : 's'}`;
    process.stderr.write(`${plural(read)} read\n${plural(written)} written\n`);
  }
  if (failure !== undefined) return reportError(failure);
  return signalExit() ?? EXIT_OK;
}

/** -r FILE -d: the filter compiled for the file's first interface's link type and snap length, as tcpdump -r FILE -d prints it. */
async function dumpFileFilter(a: NmcapArgs, reader: TraceReader): Promise<number> {
  try {
    let section: SectionInfo | undefined;
    for await (const b of reader.batches()) {
      if (b.section.interfaces.length > 0) section = b.section;
      break;
    }
    const first = section?.interfaces[0];
    if (first === undefined) throw new UsageError(`-d: ${a.read} has no interface to compile the filter for (no packets)`);
    const snaplen = first.snapLen === 0 ? MAX_SNAPLEN : first.snapLen;
    const f = compileFilter(a.filter ?? '', first.linkType, snaplen);
    process.stdout.write(`${filterImage(f.program).join('\n')}\n`);
    return EXIT_OK;
  } catch (err) {
    return reportError(err);
  } finally {
    await reader.close().catch(() => undefined);
  }
}
