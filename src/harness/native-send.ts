// Sending large volumes, or at a rate, through the native replay session: the loop nmreplay runs
// (native/loops/), on the harness's own open port, paced on a native thread. JS pacing (session.ts)
// is for test volumes only: a timer cannot hold a rate, nor a million packets a second. The caller
// keeps draining the other ports while this runs (`whileSending`).
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { HarnessError, HarnessErrorCode } from '../errors.js';
import { openTrace } from '../pcap/index.js';
import { native, type NativePort, type ReplayConfig, type ReplayEndEvent } from '../ports/binding.js';
import type { PoolSlot } from '../replay/batch-pool.js';

/** Packets per batch handed to the native thread. */
const BATCH_PACKETS = 8192;
/** Above this many packets a send goes native even without a rate. */
export const JS_SEND_LIMIT = 4096;

export interface NativeSendOptions {
  /** packets per second; default topspeed */
  pps?: number;
  /** give up once nothing has left for this long after the last packet (a reader that never came) */
  drainIdleMs?: number;
  /** called between event-loop turns while the native thread sends (drain the capture ports) */
  whileSending?: () => void;
}

export interface NativeSendResult {
  /** the packets that left, in order (views into the batches: no copies) */
  packets: Uint8Array[];
  /** the native loop's end report (undefined when there was nothing to send) */
  end?: ReplayEndEvent;
}

/** A batch in the form the native session takes: the replay's own slot shape, without its budget. */
type Batch = Omit<PoolSlot, 'bytes'>;

/** Packs packets given as bytes into batches of one buffer each. */
function packBatches(packets: readonly Uint8Array[]): Batch[] {
  const out: Batch[] = [];
  for (let from = 0; from < packets.length; from += BATCH_PACKETS) {
    const part = packets.slice(from, from + BATCH_PACKETS);
    const bytes = part.reduce((n, p) => n + p.length, 0);
    const b: Batch = {
      data: new Uint8Array(bytes),
      off: new Uint32Array(part.length),
      capLen: new Uint32Array(part.length),
      origLen: new Uint32Array(part.length),
      sec: new Float64Array(part.length), // no trace timing: sent at a rate or topspeed
      nsec: new Uint32Array(part.length),
      count: part.length,
    };
    let at = 0;
    part.forEach((p, i) => {
      b.data.set(p, at);
      b.off[i] = at;
      b.capLen[i] = b.origLen[i] = p.length;
      at += p.length;
    });
    out.push(b);
  }
  return out;
}

async function traceBatches(file: string): Promise<Batch[]> {
  const out: Batch[] = [];
  const reader = openTrace(file);
  try {
    for await (const b of reader.batches()) {
      if (b.count === 0) continue;
      if (b.section.interfaces.some((i) => i.linkType !== 1)) {
        throw new HarnessError(HarnessErrorCode.BAD_PACKET, `${file}: the harness sends Ethernet frames only (link type 1); convert the trace first`);
      }
      out.push({ data: b.buffer, off: b.dataOffset, capLen: b.capLen, origLen: b.origLen, sec: b.tsSec, nsec: b.tsNsec, count: b.count });
    }
  } finally {
    await reader.close();
  }
  return out;
}

function addViews(out: Uint8Array[], b: Batch): void {
  for (let i = 0; i < b.count; i++) out.push(b.data.subarray(b.off[i]!, b.off[i]! + b.capLen[i]!));
}

/** Sends packets (bytes, or a trace file's records) through the native replay session on `port`. */
export async function sendNative(port: NativePort, what: readonly Uint8Array[] | { file: string }, opts: NativeSendOptions = {}): Promise<NativeSendResult> {
  const batches = 'file' in what ? await traceBatches(what.file) : packBatches(what);
  const total = batches.reduce((n, b) => n + b.count, 0);
  // The views of what is sent are made while the native thread sends, a batch per turn.
  const packets: Uint8Array[] = [];
  let viewed = 0;
  if (total === 0) return { packets };
  const config: ReplayConfig = {
    mode: opts.pps === undefined ? 'topspeed' : 'pps',
    limit: 0,
    durationMs: 0,
    preload: true,
    loops: 1,
    burst: 0,
    truncateOversize: false,
  };
  if (opts.pps !== undefined) {
    if (!(opts.pps > 0) || !Number.isFinite(opts.pps)) throw new HarnessError(HarnessErrorCode.BAD_PACKET, `pps must be a positive number, got ${opts.pps}`);
    // A rational rate: pps to a thousandth.
    config.rateNum = Math.round(opts.pps * 1000);
    config.rateDen = 1000;
  }
  if (opts.drainIdleMs !== undefined) config.drainIdleMs = opts.drainIdleMs;
  let end: ReplayEndEvent | undefined;
  const session = new native.ReplaySession(port, config, (kind, ev) => {
    if (kind === 'end') end = ev as ReplayEndEvent;
  });
  batches.forEach((b, i) => session.push(b.data, b.off, b.capLen, b.origLen, b.sec, b.nsec, b.count, i === 0, 1));
  session.endInput();
  session.start();
  try {
    while (end === undefined) {
      opts.whileSending?.();
      if (viewed < batches.length) addViews(packets, batches[viewed++]!);
      await yieldToLoop();
    }
  } catch (e) {
    session.stop();
    while (end === undefined) await yieldToLoop();
    throw e;
  }
  while (viewed < batches.length) addViews(packets, batches[viewed++]!);
  const e = end as ReplayEndEvent;
  if (e.reason === 'error' || e.reason === 'peer-closed') {
    throw new HarnessError(HarnessErrorCode.PORT, `sending failed after ${e.sent} of ${total} packet(s): ${e.message}`);
  }
  if (e.failed > 0) throw new HarnessError(HarnessErrorCode.BAD_PACKET, `${e.failed} of ${total} packet(s) could not be sent (larger than the port's MTU or slots)`);
  return { packets: packets.slice(0, e.queued), end: e }; // queued: in the ring, taken or still pending
}
