// Streamed replay of classic pcap and pcapng files through the native reader (native/loops/trace_feed.h):
// a native thread reads and walks the records into the replay loop, so no packet passes through
// JS and the parser no longer competes with the sender and the receiver for the CPU. JS opens
// the files in replay order (passes x files), a couple ahead of the reader, and turns the
// reader's events into notices, warnings and the input error. src/pcap stays the reference for
// the format: test/replay/native-walker.test.ts and native-pcapng-walker.test.ts check the native
// walkers against it.
import { closeSync, openSync, readSync } from 'node:fs';

import { NmcapError, PcapErrorCode, PcapFormatError, TraceError, type PcapWarning, type PcapWarningCode } from '../errors.js';
import { assertReadable } from '../files.js';
import { BlockType, PCAP_MAGIC_NS, PCAP_MAGIC_NS_SWAPPED, PCAP_MAGIC_US, PCAP_MAGIC_US_SWAPPED } from '../pcap/constants.js';
import { native, type NativeReplaySession, type TraceFeedProblem } from '../ports/binding.js';

/** Files queued to the reader beyond the one it reads: the next is open before the last ends. */
const FILES_AHEAD = 2;
/** The first four bytes (read little-endian) of the files the native reader walks: classic pcap, and pcapng's SHB. */
const NATIVE_MAGICS = new Set([PCAP_MAGIC_US, PCAP_MAGIC_NS, PCAP_MAGIC_US_SWAPPED, PCAP_MAGIC_NS_SWAPPED, BlockType.SHB]);

/** True when every file starts as classic pcap or pcapng does (the native reader's formats). */
export function nativeReadable(files: string[]): boolean {
  if (typeof native.TraceFeed !== 'function' || process.env.NMCAP_JS_READER === '1') return false;
  const head = Buffer.alloc(4);
  return files.every((f) => {
    let fd: number | undefined;
    try {
      fd = openSync(f, 'r');
      return readSync(fd, head, 0, 4, 0) === 4 && NATIVE_MAGICS.has(head.readUInt32LE(0));
    } catch {
      return false; // the JS reader reports it
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  });
}

export interface NativeStreamHooks {
  /** the link type of a file, as its header says (before any of its packets is sent) */
  onLinkType(linkType: number): void;
  onWarning(w: PcapWarning): void;
  /** resolves when the session has ended (limit, duration, stop, port error) */
  ended: Promise<unknown>;
}

/** A native reader attached to a session (before start()); close() it once the session ended. */
export class NativeStream {
  private readonly feed;
  private added = 0;
  private done = 0;
  private finished = false;
  private error: NmcapError | undefined;
  private settle: (() => void) | undefined;
  private order: Iterator<{ file: number; loopStart: boolean }> | undefined;

  constructor(
    session: NativeReplaySession,
    private readonly files: string[],
    private readonly hooks: NativeStreamHooks,
  ) {
    this.feed = new native.TraceFeed(session, (kind, ev) => {
      if (kind === 'file') hooks.onLinkType(ev.linkType ?? 1);
      else if (kind === 'warning') hooks.onWarning({ code: ev.code as PcapWarningCode, offset: ev.offset ?? 0, message: ev.reason ?? '' });
      else if (kind === 'error') {
        this.error = problemError(ev as TraceFeedProblem);
        this.settle?.();
      } else {
        this.done++;
        this.pump();
      }
    });
  }

  /** Reads `loops` passes (0 = until the session ends) starting at files[first]; the input error, if any. */
  async run(first: number, loops: number): Promise<NmcapError | undefined> {
    this.order = passes(this.files.length, first, loops);
    const over = new Promise<void>((resolve) => {
      this.settle = resolve;
      void this.hooks.ended.then(() => resolve());
    });
    this.pump();
    await over;
    // The reader queues its error before it ends the input, so before the session can end; but
    // the two reach JS through different thread-safe functions, and the session's may be called
    // first. Both were pending in the same turn of the event loop: by setImmediate's phase the
    // reader's event has been delivered too.
    await new Promise<void>((resolve) => setImmediate(resolve));
    return this.error;
  }

  close(): void {
    this.feed.close();
  }

  /** Keeps FILES_AHEAD files queued; after the last one, tells the reader to end the input. */
  private pump(): void {
    while (!this.finished && this.error === undefined && this.added - this.done <= FILES_AHEAD) {
      const next = this.order!.next();
      if (next.done) {
        this.finished = true;
        this.feed.finish();
        break;
      }
      const path = this.files[next.value.file]!;
      let fd: number;
      try {
        fd = openSync(path, 'r');
      } catch (e) {
        try {
          assertReadable(path);
          this.error = new TraceError(`${path}: ${(e as Error).message}`);
        } catch (why) {
          this.error = why as NmcapError;
        }
        this.feed.finish(); // what was added is still sent
        this.finished = true;
        break;
      }
      this.feed.add(fd, next.value.loopStart, next.value.file);
      this.added++;
    }
    if (this.finished && this.done === this.added) this.settle?.();
  }
}

/** The files of each pass in order; a pass's first file starts the pass (the first pass at `first`). */
function* passes(count: number, first: number, loops: number): Generator<{ file: number; loopStart: boolean }> {
  for (let pass = 0; loops === 0 || pass < loops; pass++) {
    const from = pass === 0 ? first : 0;
    for (let file = from; file < count; file++) yield { file, loopStart: file === from };
  }
}

const FORMAT_CODES = new Set<string>(Object.values(PcapErrorCode));

/** The reader's error as src/pcap raises it: a PcapFormatError, or a read that failed. */
function problemError(p: TraceFeedProblem): NmcapError {
  if (FORMAT_CODES.has(p.code)) return new PcapFormatError(p.code as PcapErrorCode, p.offset, p.reason);
  return new TraceError(p.reason);
}
