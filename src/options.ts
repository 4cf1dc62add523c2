// Options objects checked at run time: JavaScript callers get no type check, and an option that is
// misspelt or of the wrong type would otherwise be ignored silently (a replay meant at 10 Mpps
// running at top speed). Unknown keys throw ERR_OPTION_UNKNOWN, wrong types ERR_OPTION_TYPE.
import type { CaptureOptions } from './capture/capture.js';
import { OptionError } from './errors.js';
import type { PortOptions } from './ports/binding.js';
import type { ReplayOptions } from './replay/replay.js';

/** A schema for exactly the keys of T (the compiler keeps the two in step). */
type SchemaOf<T> = { readonly [K in keyof Required<T>]: Kind };

type Kind =
  | 'string'
  | 'number'
  | 'count'
  | 'boolean'
  | 'function'
  | 'strings'
  | 'rate'
  | 'fraction'
  | 'output'
  | 'integers'
  | { object: Schema };

/** What each key takes; keys not listed are unknown. */
export interface Schema {
  readonly [key: string]: Kind;
}

const DESCRIBE: Record<string, string> = {
  string: 'a string',
  number: 'a non-negative number',
  count: 'a non-negative whole number',
  boolean: 'true or false',
  function: 'a function',
  strings: 'an array of strings',
  rate: "a Rate object { unit: 'pps' | 'bps', num, den } (parseRate('10Mpps') makes one)",
  fraction: 'a fraction object { num, den } (parseMultiplier(2) makes one)',
  output: 'a path, a file descriptor or a Writable stream',
  integers: 'an array of whole numbers',
};

function shown(v: unknown): string {
  if (typeof v === 'string') return `the string '${v}'`;
  if (Array.isArray(v)) return 'an array';
  if (v === null) return 'null';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`;
}

const positive = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const whole = (v: unknown): v is number => positive(v) && Number.isInteger(v);

function fits(kind: Exclude<Kind, { object: Schema }>, v: unknown): boolean {
  switch (kind) {
    case 'string':
      return typeof v === 'string';
    case 'number':
      return positive(v);
    case 'count':
      return whole(v);
    case 'boolean':
      return typeof v === 'boolean';
    case 'function':
      return typeof v === 'function';
    case 'strings':
      return Array.isArray(v) && v.every((x) => typeof x === 'string');
    case 'integers':
      return Array.isArray(v) && v.every(whole);
    case 'rate': {
      const r = v as { unit?: unknown; num?: unknown; den?: unknown } | null;
      return typeof r === 'object' && r !== null && (r.unit === 'pps' || r.unit === 'bps') && whole(r.num) && whole(r.den) && r.den > 0;
    }
    case 'fraction': {
      const f = v as { num?: unknown; den?: unknown } | null;
      return typeof f === 'object' && f !== null && whole(f.num) && whole(f.den) && f.den > 0;
    }
    case 'output':
      return typeof v === 'string' || whole(v) || (typeof v === 'object' && v !== null && typeof (v as { write?: unknown }).write === 'function');
  }
}

/**
 * Checks `opts` against `schema` for `what` ("Replay options"); `required` keys must be present.
 * undefined counts as absent, as TypeScript's optional properties do.
 */
export function checkOptions(what: string, opts: unknown, schema: Schema, required: readonly string[] = []): void {
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) {
    throw new OptionError('ERR_OPTION_TYPE', `${what} must be an object, got ${shown(opts)}`);
  }
  const o = opts as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!Object.hasOwn(schema, key)) {
      throw new OptionError('ERR_OPTION_UNKNOWN', `${what}: unknown option '${key}' (known: ${Object.keys(schema).join(', ')})`);
    }
  }
  for (const key of required) {
    if (o[key] === undefined) throw new OptionError('ERR_OPTION_TYPE', `${what}: '${key}' is required`);
  }
  for (const [key, kind] of Object.entries(schema)) {
    const v = o[key];
    if (v === undefined) continue;
    if (typeof kind === 'object') checkOptions(`${what}.${key}`, v, kind.object);
    else if (!fits(kind, v)) throw new OptionError('ERR_OPTION_TYPE', `${what}: '${key}' must be ${DESCRIBE[kind]}, got ${shown(v)}`);
  }
}

/** PortOptions (src/ports/binding.ts), as the addon reads them. */
export const PORT_OPTIONS = {
  direction: 'string',
  promisc: 'boolean',
  rxSlots: 'count',
  txSlots: 'count',
  bufSize: 'count',
  snaplen: 'count',
  queue: 'count',
  txBudget: 'count',
  zeroCopy: 'boolean',
  filterPending: 'boolean',
} as const satisfies SchemaOf<PortOptions>;

/** ReplayOptions (src/replay/replay.ts). */
export const REPLAY_OPTIONS = {
  port: 'string',
  files: 'strings',
  rate: 'rate',
  multiplier: 'fraction',
  topspeed: 'boolean',
  loop: 'count',
  limit: 'count',
  duration: 'number',
  preload: 'boolean',
  burst: 'count',
  truncate: 'boolean',
  portOptions: { object: PORT_OPTIONS },
  onOpen: 'function',
  onProgress: 'function',
  onWarning: 'function',
  drainTimeout: 'number',
  onStall: 'function',
  dmac: 'string',
  smac: 'string',
  vlanPush: 'count',
  vlanPcp: 'count',
  vlanPop: 'boolean',
  onNotice: 'function',
  delay: 'string',
  loss: 'string',
  bandwidth: 'string',
  seed: 'count',
  realtime: 'boolean',
  cpu: 'count',
  threads: 'count',
  cpus: 'integers',
} as const satisfies SchemaOf<ReplayOptions>;

/** CaptureOptions (src/capture/capture.ts). */
export const CAPTURE_OPTIONS = {
  port: 'string',
  ports: 'strings',
  onPortsOpen: 'function',
  filter: 'string',
  rotation: { object: { filesize: 'count', duration: 'number', interval: 'number', packets: 'count', files: 'count', printname: 'string' } },
  fileStop: { object: { filesize: 'count', files: 'count' } },
  writeMode: 'string',
  onWriteMode: 'function',
  output: 'output',
  snaplen: 'count',
  count: 'count',
  duration: 'number',
  promisc: 'boolean',
  queue: 'count',
  divert: 'boolean',
  bufferSize: 'count',
  buffers: 'count',
  flushMs: 'number',
  comment: 'string',
  onListening: 'function',
  onProgress: 'function',
} as const satisfies SchemaOf<CaptureOptions>;
