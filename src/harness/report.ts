// Reports a person can act on: for each failure the expected packet, the closest captured
// candidate, a field-by-field diff of the decoded headers and a hex diff marking the first
// differing byte; above them a summary of matched/missing/extra/reordered/changed per port.
import { decodeFields, summary } from './decode.js';
import type { Counts, Failure, MatchResult } from './match.js';

export interface FieldDifference {
  field: string;
  expected: number | string | undefined;
  actual: number | string | undefined;
}

/** Named fields whose values differ (absent on one side counts), in decoder order; payload last. */
export function fieldDiff(expected: Uint8Array, actual: Uint8Array): FieldDifference[] {
  const e = decodeFields(expected);
  const a = decodeFields(actual);
  const names = [...new Set([...Object.keys(e), ...Object.keys(a)])];
  return names.filter((n) => e[n] !== a[n]).map((field) => ({ field, expected: e[field], actual: a[field] }));
}

/** Index of the first differing byte (a length difference counts at the shorter length), or -1. */
export function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

function hexRow(d: Uint8Array, from: number, width: number, other: Uint8Array): string {
  let s = '';
  for (let i = from; i < from + width; i++) {
    if (i >= d.length) s += '   ';
    else {
      const h = d[i]!.toString(16).padStart(2, '0');
      s += (i < other.length && other[i] === d[i] ? ` ${h}` : `*${h}`);
    }
  }
  return s;
}

/**
 * Expected and actual side by side, 16 bytes a row, only rows that differ plus their neighbours;
 * differing bytes are starred and a caret line points at the first one.
 */
export function hexDiff(expected: Uint8Array, actual: Uint8Array, width = 16): string {
  const first = firstDifference(expected, actual);
  if (first < 0) return '  (identical bytes)';
  const rows = Math.ceil(Math.max(expected.length, actual.length) / width);
  const differs = (r: number): boolean => {
    for (let i = r * width; i < (r + 1) * width; i++) {
      if (i < expected.length !== i < actual.length) return true;
      if (i < expected.length && expected[i] !== actual[i]) return true;
    }
    return false;
  };
  const show = new Set<number>();
  for (let r = 0; r < rows; r++) if (differs(r)) for (const q of [r - 1, r, r + 1]) if (q >= 0 && q < rows) show.add(q);
  const out = [`  first difference at byte ${first} (0x${first.toString(16)}); expected ${expected.length} bytes, got ${actual.length}`];
  let last = -1;
  for (const r of [...show].sort((x, y) => x - y)) {
    if (last >= 0 && r !== last + 1) out.push('  ...');
    const off = (r * width).toString(16).padStart(4, '0');
    out.push(`  ${off} exp${hexRow(expected, r * width, width, actual)}`);
    out.push(`  ${off} got${hexRow(actual, r * width, width, expected)}`);
    if (first >= r * width && first < (r + 1) * width) out.push(`${' '.repeat(11 + 3 * (first - r * width))}^^ first`);
    last = r;
  }
  return out.join('\n');
}

function value(v: number | string | undefined): string {
  return v === undefined ? '(absent)' : String(v);
}

/** One failure, described in full. */
export function describeFailure(f: Failure): string {
  const lines = [`${f.kind.toUpperCase()}: ${f.message}`];
  if (f.expected) lines.push(`  expected: ${summary(f.expected)}`);
  if (f.actual) lines.push(`  ${f.kind === 'missing' ? 'closest captured' : 'captured'}: ${summary(f.actual.data)} [${f.actual.port} #${f.actual.index}${f.actual.ts !== null ? ` ts ${f.actual.ts}` : ''}]`);
  else if (f.kind === 'missing') lines.push('  closest captured: nothing captured on that port');
  if (f.expected && f.actual) {
    const diff = fieldDiff(f.expected, f.actual.data);
    if (diff.length > 0) {
      const w = Math.max(...diff.map((d) => d.field.length));
      lines.push('  fields:');
      for (const d of diff) lines.push(`    ${d.field.padEnd(w)}  ${value(d.expected)} -> ${value(d.actual)}`);
    }
    lines.push(hexDiff(f.expected, f.actual.data));
  }
  return lines.join('\n');
}

const COLUMNS: (keyof Counts)[] = ['captured', 'matched', 'missing', 'extra', 'reordered', 'changed', 'noise'];

/** The per-port summary as a table. */
export function formatSummary(r: MatchResult): string {
  const names = Object.keys(r.ports);
  const w = Math.max(5, ...names.map((n) => n.length));
  const head = `${'port'.padEnd(w)}  ${COLUMNS.map((c) => c.padStart(10)).join('')}`;
  const row = (n: string, c: Counts) => `${n.padEnd(w)}  ${COLUMNS.map((k) => String(c[k]).padStart(10)).join('')}`;
  return [head, ...names.map((n) => row(n, r.ports[n]!)), row('total', r.total)].join('\n');
}

/** Summary, then the first `max` failures in full. */
export function formatReport(r: MatchResult, max = 10): string {
  const out = [`${r.ok ? 'MATCH' : 'MISMATCH'} (${r.order} order): ${r.total.matched} matched, ${r.total.missing} missing, ${r.total.extra} extra, ${r.total.reordered} reordered, ${r.total.changed} changed`, formatSummary(r)];
  r.failures.slice(0, max).forEach((f) => out.push('', describeFailure(f)));
  const rest = r.failureCount - Math.min(max, r.failures.length);
  if (rest > 0) out.push('', `... and ${rest} more failure${rest === 1 ? '' : 's'}`);
  return out.join('\n');
}

/** The JSON form: counts, per-port counts and the first differences with their field diffs. */
export function reportJson(r: MatchResult, max = 10): Record<string, unknown> {
  const t = r.total;
  return {
    match: r.ok,
    order: r.order,
    matched: t.matched,
    missing: t.missing,
    extra: t.extra,
    reordered: t.reordered,
    changed: t.changed,
    noise: t.noise,
    ports: r.ports,
    failures: r.failureCount,
    differences: r.failures.slice(0, max).map((f) => ({
      kind: f.kind,
      port: f.port,
      message: f.message,
      expectation: f.expectation ?? null,
      actual: f.actual ? { port: f.actual.port, index: f.actual.index } : null,
      firstDifferingByte: f.expected && f.actual ? firstDifference(f.expected, f.actual.data) : null,
      fields: f.expected && f.actual ? fieldDiff(f.expected, f.actual.data) : [],
    })),
  };
}
