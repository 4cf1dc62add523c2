// Every counter nmcap reports, one table per counter set: the key it has in results and in --json
// (the same key: nothing is renamed on the way out), the key of the native object it comes from,
// what it means, and whether a backend may not know it (then it is null, never 0).
// test/errors/counters.test.ts checks the native objects' keys against these tables, and the
// `satisfies` clauses check them against the TypeScript types of the native objects.
import type { CaptureEndEvent, NativeReplayStats, PortCounters } from './ports/binding.js';

export interface CounterDef<Native extends string = string> {
  /** key in the result object and in --json */
  readonly key: string;
  /** key in the object the addon hands over */
  readonly native: Native;
  readonly meaning: string;
  /** a backend may not know it: null (JSON null), never 0 */
  readonly unknownable: boolean;
}

/** A capture's counters (native: the capture session's end event). */
export const CAPTURE_COUNTERS = [
  { key: 'captured', native: 'packets', meaning: 'packets written to the output', unknownable: false },
  { key: 'received', native: 'taken', meaning: "packets taken from the rings (head moved past them, so a sender sees their slots come back): captured, filtered and invalid ones; never ones left in the rings", unknownable: false },
  { key: 'unread', native: 'rxUnread', meaning: 'packets that reached the rings (or socket) but were still there, untaken, when the capture stopped (after -c, or arriving as it ended)', unknownable: true },
  { key: 'portReceived', native: 'rxReceived', meaning: "what the backend's own counter says reached us, dropped and unread ones included", unknownable: true },
  { key: 'dropped', native: 'rxDrops', meaning: 'packets lost before nmcap could read them', unknownable: true },
  { key: 'ringFull', native: 'rxRingFull', meaning: 'AF_XDP: times the kernel found the RX or fill ring full', unknownable: true },
  { key: 'bytes', native: 'wireBytes', meaning: 'bytes of the captured packets on the wire', unknownable: false },
  { key: 'truncated', native: 'truncated', meaning: 'packets cut to the snap length', unknownable: false },
  { key: 'invalid', native: 'invalid', meaning: 'slots naming no valid buffer, skipped', unknownable: false },
  { key: 'filtered', native: 'filtered', meaning: 'packets the filter rejected on the capture thread (kernel rejections are not counted)', unknownable: false },
] as const satisfies readonly CounterDef<keyof CaptureEndEvent>[];

/** A replay's counters (native: the replay session's progress and end events). */
export const REPLAY_COUNTERS = [
  { key: 'packets', native: 'sent', meaning: 'packets that left (never packets still queued)', unknownable: false },
  { key: 'bytes', native: 'sentBytes', meaning: 'bytes of the packets that left', unknownable: false },
  { key: 'queued', native: 'queued', meaning: 'packets put into TX slots', unknownable: false },
  { key: 'queuedBytes', native: 'queuedBytes', meaning: 'bytes put into TX slots', unknownable: false },
  { key: 'failed', native: 'failed', meaning: 'records not sent: empty, or larger than the port sends', unknownable: false },
  { key: 'truncated', native: 'truncated', meaning: 'packets sent cut to what the port sends (--truncate)', unknownable: false },
  { key: 'pending', native: 'pending', meaning: 'packets still pending at the end (never counted as sent)', unknownable: false },
  { key: 'syncs', native: 'syncs', meaning: 'TX syncs that handed packets over (bursts)', unknownable: false },
  { key: 'burstMax', native: 'burstMax', meaning: 'most packets handed over by one TX sync', unknownable: false },
  { key: 'loopsDone', native: 'loopsDone', meaning: 'passes over the trace completed by the native loop', unknownable: false },
  { key: 'inputWaits', native: 'inputWaits', meaning: 'times the sender waited for the trace to be read', unknownable: false },
  { key: 'ringFullWaits', native: 'ringFullWaits', meaning: 'times the TX ring was full and the sender waited for the port', unknownable: false },
  { key: 'ringFullNs', native: 'ringFullNs', meaning: 'nanoseconds spent in those waits', unknownable: false },
  { key: 'sendNs', native: 'sendNs', meaning: 'nanoseconds from the first departure to the last TX sync', unknownable: false },
  { key: 'durationNs', native: 'durationNs', meaning: 'nanoseconds from the first departure until nothing was pending', unknownable: false },
  { key: 'unconvertible', native: 'unconvertible', meaning: 'records of a link type that cannot be sent on this port (counted in failed too)', unknownable: false },
  { key: 'threadCpuNs', native: 'threadCpuNs', meaning: "nanoseconds of CPU the sending thread used", unknownable: false },
  { key: 'waitCpuNs', native: 'waitCpuNs', meaning: 'of those, nanoseconds spent in port waits (for TX room, the drain), not on packets; spinning for a deadline (up to 4 Mpps) is not in it', unknownable: false },
  { key: 'sleepCpuNs', native: 'sleepCpuNs', meaning: "of those, nanoseconds in the pacer's sleeps between quanta (above 4 Mpps): the kernel's side of each sleep and wake-up", unknownable: false },
  { key: 'emuDropped', native: 'emuDropped', meaning: 'packets the emulated link lost on purpose (--loss)', unknownable: false },
  { key: 'preemptions', native: 'preemptions', meaning: 'times the sending thread was taken off its CPU against its will', unknownable: false },
] as const satisfies readonly CounterDef<keyof NativeReplayStats>[];

/** A port's own counters (native: Port.counters()). */
export const PORT_COUNTERS = [
  { key: 'rxReceived', native: 'rxReceived', meaning: 'packets the backend saw, dropped ones included', unknownable: true },
  { key: 'rxDrops', native: 'rxDrops', meaning: 'packets lost before they could be read', unknownable: true },
  { key: 'rxRingFull', native: 'rxRingFull', meaning: 'AF_XDP: times the kernel found the RX or fill ring full', unknownable: true },
] as const satisfies readonly CounterDef<keyof PortCounters>[];

/** The values of one counter set: number, or number | null where the backend may not know. */
export type CounterValues<T extends readonly CounterDef[]> = {
  [C in T[number] as C['key']]: C['unknownable'] extends true ? number | null : number;
};

/** Reads a counter set out of a native object (bigints become numbers, unknown stays null). */
export function countersOf<T extends readonly CounterDef[]>(table: T, from: object): CounterValues<T> {
  const out: Record<string, number | null> = {};
  const src = from as Record<string, unknown>;
  for (const c of table) {
    const v = src[c.native];
    if (v === undefined || (v === null && !c.unknownable)) throw new TypeError(`native object has no counter ${c.native}`);
    out[c.key] = v === null ? null : Number(v);
  }
  return out as CounterValues<T>;
}

/** The counters of a result, by the table's keys, for --json. */
export function countersJson<T extends readonly CounterDef[]>(table: T, result: Partial<CounterValues<T>>): Record<string, number | null> {
  const src = result as Record<string, number | null | undefined>;
  const out: Record<string, number | null> = {};
  for (const c of table) if (src[c.key] !== undefined) out[c.key] = src[c.key]!;
  return out;
}
