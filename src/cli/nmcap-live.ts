// `nmcap -i PORT`: live capture. With -w, the native loop's EPBs go to the file (pcapng); without
// it, packets are printed like tcpdump does, through the same reader and printer as -r. At the end
// (count, duration, Ctrl-C, SIGTERM, the pipe's other end closing) every packet captured is on
// disk, with an ISB, and the statistics say what the backend really knows.
import { PassThrough } from 'node:stream';

import { Capture, type CaptureResult } from '../capture/capture.js';
import { parseFileArgs } from './capture-files-args.js';
import { linkTypeName } from '../pcap/index.js';
import { openTrace } from '../pcap/reader.js';
import type { OpenedPort } from '../ports/open.js';
import { EXIT_OK, EXIT_RUNTIME, describeError, onInterrupt, reportError, type NmcapArgs } from './common.js';
import { printPackets } from './nmcap-offline.js';


/** tcpdump's end-of-capture lines, honest about what the backend cannot count. */
export function statsLines(r: CaptureResult): string[] {
  const lines = [`${r.captured} packet${r.captured === 1 ? '' : 's'} captured`];
  if (r.written !== r.captured || r.files.length > 1) {
    const where = r.files.length === 1 ? r.files[0] : `${r.files.length} files`;
    lines.push(`${r.written} packet${r.written === 1 ? '' : 's'} written to ${where}`);
  }
  lines.push(
    r.received === null
      ? `packets received by port: unknown (${r.backend} keeps no such counter)`
      : `${r.received} packet${r.received === 1 ? '' : 's'} received by port`,
  );
  lines.push(
    r.dropped === null
      ? `packets dropped: unknown (${r.backend} keeps no drop counter)`
      : `${r.dropped} packet${r.dropped === 1 ? '' : 's'} dropped by kernel`,
  );
  if (r.truncated) lines.push(`${r.truncated} packets cut to the snap length`);
  return lines;
}

export function statsJson(r: CaptureResult, output: string | undefined): Record<string, unknown> {
  return {
    captured: r.captured,
    written: r.written,
    files: r.files,
    received: r.received,
    dropped: r.dropped,
    bytes: r.bytes,
    truncated: r.truncated,
    seconds: r.seconds,
    reason: r.reason,
    port: r.port,
    backend: r.backend,
    output: output ?? null,
    fileBytes: r.fileBytes,
    writeMode: r.writeMode.mode,
    error: r.error ? { code: r.error.code, message: r.error.message } : null,
  };
}

function listening(p: OpenedPort, snaplen: number): string {
  const lt = p.info.linkType;
  const name = linkTypeName(lt);
  return `listening on ${p.name}, link-type ${name.short} (${name.long}), snapshot length ${snaplen} bytes`;
}

export async function runLive(a: NmcapArgs): Promise<number> {
  const snaplen = a.snaplen && a.snaplen > 0 ? a.snaplen : 262144;
  const toStdout = a.write === '-';
  const printing = a.write === undefined;
  const fileArgs = parseFileArgs(a);
  const pass = printing ? new PassThrough({ highWaterMark: 8 << 20 }) : undefined;
  const capture = new Capture({
    port: a.interface!,
    output: printing ? pass! : toStdout ? process.stdout : a.write!,
    snaplen,
    count: a.count ?? fileArgs.count,
    duration: a.duration ?? fileArgs.duration,
    rotation: fileArgs.rotation,
    writeMode: a.writeMode as 'auto' | 'direct' | 'buffered' | undefined,
    onWriteMode: (m) => {
      if (m.mode !== 'stream' && !a.quiet) process.stderr.write(`nmcap: writing ${m.mode === 'direct' ? 'with' : 'buffered:'} ${m.detail}\n`);
    },
    fileStop: fileArgs.fileStop,
    promisc: a.noPromiscuousMode !== true,
    queue: a.queue,
    // Printing wants packets on screen promptly; files want big writes.
    flushMs: printing ? 20 : 100,
    onListening: (p) => {
      if (p.choice) process.stderr.write(`nmcap: ${p.choice}\n`);
      process.stderr.write(`${listening(p, snaplen)}\n`);
    },
  });

  const sig = onInterrupt(() => capture.stop());

  let printed: Promise<number> | undefined;
  if (pass) {
    const reader = openTrace(pass);
    printed = printPackets(a, reader.batches(), Infinity, { stop: false }).catch((e: unknown) => {
      reportError(e);
      return 0;
    });
  }
  try {
    const r = await capture.run();
    if (printed) await printed;
    const out = toStdout ? process.stderr : process.stdout;
    if (a.json) out.write(`${JSON.stringify(statsJson(r, a.write))}\n`);
    if (!a.json || !toStdout) {
      if (!(a.quiet && !printing)) process.stderr.write(`\n${statsLines(r).join('\n')}\n`);
    }
    if (r.reason === 'peer-closed') process.stderr.write(`nmcap: the other end of ${r.port} closed\n`);
    if (r.error) {
      process.stderr.write(`nmcap: ${describeError(r.error)}\n`);
      return EXIT_RUNTIME;
    }
    return sig.exitCode() ?? EXIT_OK;
  } catch (e) {
    pass?.destroy();
    return reportError(e);
  } finally {
    sig.dispose();
  }
}

