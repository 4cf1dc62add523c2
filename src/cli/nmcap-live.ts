// `nmcap -i PORT`: live capture. With -w, the native loop's EPBs go to the file (pcapng); without
// it, packets are printed like tcpdump does, through the same reader and printer as -r. At the end
// (count, duration, Ctrl-C, SIGTERM, the pipe's other end closing) every packet captured is on
// disk, with an ISB, and the statistics say what the backend really knows.
import { VALE_BACKEND_ENV } from '../ports/vale-bridge.js';
import { PassThrough } from 'node:stream';

import { Capture, type CaptureResult } from '../capture/capture.js';
import { CAPTURE_COUNTERS, countersJson } from '../counters.js';
import { convertingWritable, formatForPath, linkTypeName } from '../pcap/index.js';
import { parseFileArgs } from './capture-files-args.js';
import { openTrace } from '../pcap/reader.js';
import type { CaptureProgress } from '../ports/binding.js';
import { compileFilter, filterImage } from '../capture/filter.js';
import { dropPrivileges } from '../capture/privileges.js';
import { parseStopConditions } from '../capture/stop.js';
import { linkDownLine } from '../ports/link-watch.js';
import { openPort, type OpenedPort } from '../ports/open.js';
import { EXIT_OK, EXIT_RUNTIME, UsageError, describeError, onInterrupt, reportError, type NmcapArgs } from './common.js';
import { printPackets } from './nmcap-offline.js';


/** tcpdump's end-of-capture lines, honest about what the backend cannot count. */
export function statsLines(r: CaptureResult): string[] {
  const lines = [`${r.captured} packet${r.captured === 1 ? '' : 's'} captured`];
  if (r.written !== r.captured || r.files.length > 1) {
    const where = r.files.length === 1 ? r.files[0] : `${r.files.length} files`;
    lines.push(`${r.written} packet${r.written === 1 ? '' : 's'} written to ${where}`);
  }
  // received: what the capture took from the rings, the number a sender's "sent" compares with.
  lines.push(`${r.received} packet${r.received === 1 ? '' : 's'} received (taken from the rings)`);
  if (r.unread) lines.push(`${r.unread} packet${r.unread === 1 ? '' : 's'} left unread in the rings at the end`);
  lines.push(
    r.dropped === null
      ? `packets dropped: unknown (${r.backend} keeps no drop counter)`
      : `${r.dropped} packet${r.dropped === 1 ? '' : 's'} dropped by kernel`,
  );
  if (r.truncated) lines.push(`${r.truncated} packets cut to the snap length`);
  for (const l of r.links) {
    const down = linkDownLine(l);
    if (down) lines.push(down);
  }
  return lines;
}

/** SIGUSR1's answer while the capture runs: what has been handed over so far. */
export function progressLines(p: CaptureProgress | undefined): string[] {
  const n = p?.packets ?? 0;
  const lines = [`${n} packet${n === 1 ? '' : 's'} captured so far (${p?.wireBytes ?? 0} bytes on the wire)`];
  if (p?.truncated) lines.push(`${p.truncated} packets cut to the snap length`);
  return lines;
}

export function statsJson(r: CaptureResult, output: string | undefined): Record<string, unknown> {
  return {
    ...countersJson(CAPTURE_COUNTERS, r),
    filterIn: r.filterIn,
    written: r.written,
    files: r.files,
    seconds: r.seconds,
    reason: r.reason,
    port: r.port,
    backend: r.backend,
    output: output ?? null,
    fileBytes: r.fileBytes,
    writeMode: r.writeMode.mode,
    links: r.links,
    error: r.error ? { code: r.error.code, message: r.error.message } : null,
  };
}

function listening(p: OpenedPort, snaplen: number): string {
  const lt = p.info.linkType;
  const name = linkTypeName(lt);
  return `listening on ${p.name}, link-type ${name.short} (${name.long}), snapshot length ${snaplen} bytes`;
}

/**
 * The live status line on a terminal, redrawn in place twice a second: packets, rate over the
 * last interval, drops, bytes written, file.
 */
function startStatusLine(capture: Capture, file: string): { end: () => void } {
  let last = { t: performance.now(), packets: 0 };
  const draw = (): void => {
    const s = capture.status();
    const now = performance.now();
    const rate = ((s.packets - last.packets) * 1000) / Math.max(1, now - last.t);
    last = { t: now, packets: s.packets };
    const drops = s.dropped === null ? 'unknown' : String(s.dropped);
    process.stderr.write(`\r\x1b[K${statusText(s.packets, rate, drops, s.fileBytes, file)}`);
  };
  const timer = setInterval(draw, 500);
  return {
    end: () => {
      clearInterval(timer);
      draw();
      process.stderr.write('\n');
    },
  };
}

export function statusText(packets: number, pps: number, drops: string, bytes: number, file: string): string {
  const size = bytes >= 1e9 ? `${(bytes / 1e9).toFixed(2)} GB` : bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${(bytes / 1e3).toFixed(1)} kB`;
  const rate = pps >= 1e6 ? `${(pps / 1e6).toFixed(2)} Mpps` : pps >= 1e3 ? `${(pps / 1e3).toFixed(1)} kpps` : `${Math.round(pps)} pps`;
  return `packets: ${packets}  rate: ${rate}  drops: ${drops}  written: ${size}  file: ${file}`;
}

/** -d: the filter compiled for the port's link type, printed as tcpdump -d prints it. */
function dumpFilter(a: NmcapArgs, snaplen: number): number {
  const opened = openPort(a.interface!, 'rx', { promisc: false, snaplen, queue: a.queue });
  try {
    const f = compileFilter(a.filter ?? '', opened.info.linkType, snaplen);
    process.stdout.write(`${filterImage(f.program).join('\n')}\n`);
    return EXIT_OK;
  } finally {
    opened.port.close();
  }
}

export async function runLive(a: NmcapArgs): Promise<number> {
  const snaplen = a.snaplen && a.snaplen > 0 ? a.snaplen : 262144;
  if (a.dumpFilter) return dumpFilter(a, snaplen);
  // -c, --duration and every -a, read once; -a filesize/files go to the file writer (parseFileArgs).
  const stop = parseStopConditions(a.autostop, a.count, a.duration);
  const toStdout = a.write === '-';
  const printing = a.write === undefined;
  if (a.valeBackend) process.env[VALE_BACKEND_ENV] = a.valeBackend; // read where VALE names are opened
  const fileArgs = parseFileArgs(a, stop);
  const pass = printing ? new PassThrough({ highWaterMark: 8 << 20 }) : undefined;
  // The native loop writes pcapng; classic pcap (-F pcap, or a .pcap name) is converted on the way.
  const nano = a.nano === true || a.timeStampPrecision === 'nano' || a.format === 'pcap-ns';
  const pcap =
    !printing && formatForPath(a.write, a.format) === 'pcap'
      ? convertingWritable(toStdout ? 1 : a.write!, { format: 'pcap', precision: nano ? 'nano' : 'micro', snapLen: snaplen })
      : undefined;
  let progress: CaptureProgress | undefined;
  const capture = new Capture({
    port: a.interface!,
    ports: a.interfaces,
    // Ports need privileges, the file and everything after do not (tcpdump -Z's order).
    onPortsOpen: a.user === undefined ? undefined : () => dropPrivileges(a.user!),
    output: printing ? pass! : pcap !== undefined ? pcap.input : toStdout ? process.stdout : a.write!,
    snaplen,
    // -c and -a packets/duration end the capture; -b rotates files and -a filesize/files stop on them.
    count: stop.packets,
    duration: stop.duration,
    rotation: fileArgs.rotation,
    writeMode: a.writeMode as 'auto' | 'direct' | 'buffered' | undefined,
    onWriteMode: (m) => {
      if (m.mode !== 'stream' && !a.quiet) process.stderr.write(`nmcap: writing ${m.mode === 'direct' ? 'with' : 'buffered:'} ${m.detail}\n`);
    },
    fileStop: fileArgs.fileStop,
    promisc: a.noPromiscuousMode !== true,
    queue: a.queue,
    filter: a.filter,
    divert: a.divert,
    // Printing wants packets on screen promptly; files want big writes.
    flushMs: printing ? 20 : 100,
    onProgress: (p) => (progress = p),
    onListening: (p) => {
      if (p.choice) process.stderr.write(`nmcap: ${p.choice}\n`);
      process.stderr.write(`${listening(p, snaplen)}\n`);
    },
  });

  const sig = onInterrupt(() => capture.stop(), () => progressLines(progress));
  const status = !printing && !toStdout && !a.quiet && process.stderr.isTTY ? startStatusLine(capture, a.write!) : undefined;

  let printed: Promise<number> | undefined;
  let captureFailed = false;
  if (pass) {
    const reader = openTrace(pass);
    printed = printPackets(a, reader.batches(), Infinity, { stop: false }).catch((e: unknown) => {
      if (!captureFailed) reportError(e); // else the stream was cut because the capture failed: one line is enough
      return 0;
    });
  }
  void pcap?.done.then((c) => c.error !== undefined && capture.stop());
  try {
    const r = await capture.run();
    status?.end();
    if (printed) await printed;
    if (pcap !== undefined) {
      const c = await pcap.done;
      r.fileBytes = c.bytes;
      // The capture itself went well but the file could not take it (disk full...): one line, exit 1.
      if (c.error !== undefined && r.error === undefined) throw c.error;
    }
    const out = toStdout ? process.stderr : process.stdout;
    if (a.json) out.write(`${JSON.stringify(statsJson(r, a.write))}\n`);
    if (!a.json || !toStdout) {
      // The sender closing its end is how a pipe capture normally ends: said with the statistics, not as an error.
      const end = r.reason === 'peer-closed' ? [`the other end of ${r.port} closed`] : [];
      if (!(a.quiet && !printing)) process.stderr.write(`\n${[...end, ...statsLines(r)].join('\n')}\n`);
    }
    if (r.error) {
      process.stderr.write(`nmcap: ${describeError(r.error)}\n`);
      return EXIT_RUNTIME;
    }
    return EXIT_OK; // also after Ctrl-C or SIGTERM: the capture ended as asked, as tcpdump's does
  } catch (e) {
    status?.end();
    captureFailed = true;
    pass?.destroy();
    // The classic pcap file was created up front: close it valid (a header, nothing captured).
    pcap?.input.end();
    await pcap?.done;
    return reportError(e);
  } finally {
    sig.dispose();
  }
}

