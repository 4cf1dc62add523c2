// `nmcap -i PORT`: live capture. With -w, the native loop's EPBs go to the file (pcapng); without
// it, packets are printed like tcpdump does, through the same reader and printer as -r. At the end
// (count, duration, Ctrl-C, SIGTERM, the pipe's other end closing) every packet captured is on
// disk, with an ISB, and the statistics say what the backend really knows.
import { PassThrough } from 'node:stream';

import { Capture, type CaptureResult } from '../capture/capture.js';
import { CAPTURE_COUNTERS, countersJson } from '../counters.js';
import { linkTypeName } from '../pcap/index.js';
import { openTrace } from '../pcap/reader.js';
import type { CaptureProgress } from '../ports/binding.js';
import type { OpenedPort } from '../ports/open.js';
import { EXIT_OK, EXIT_RUNTIME, describeError, onInterrupt, reportError, type NmcapArgs } from './common.js';
import { printPackets } from './nmcap-offline.js';


/** tcpdump's end-of-capture lines, honest about what the backend cannot count. */
export function statsLines(r: CaptureResult): string[] {
  const lines = [`${r.captured} packet${r.captured === 1 ? '' : 's'} captured`];
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
    seconds: r.seconds,
    reason: r.reason,
    port: r.port,
    backend: r.backend,
    output: output ?? null,
    fileBytes: r.fileBytes,
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
  const pass = printing ? new PassThrough({ highWaterMark: 8 << 20 }) : undefined;
  let progress: CaptureProgress | undefined;
  const capture = new Capture({
    port: a.interface!,
    output: printing ? pass! : toStdout ? process.stdout : a.write!,
    snaplen,
    count: a.count,
    duration: a.duration,
    promisc: a.noPromiscuousMode !== true,
    queue: a.queue,
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

  let printed: Promise<number> | undefined;
  let captureFailed = false;
  if (pass) {
    const reader = openTrace(pass);
    printed = printPackets(a, reader.batches(), Infinity, { stop: false }).catch((e: unknown) => {
      if (!captureFailed) reportError(e); // else the stream was cut because the capture failed: one line is enough
      return 0;
    });
  }
  try {
    const r = await capture.run();
    if (printed) await printed;
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
    captureFailed = true;
    pass?.destroy();
    return reportError(e);
  } finally {
    sig.dispose();
  }
}

