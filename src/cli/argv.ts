// A strict scanner for the plain command lines nmcap is run with most (`-r in -w out -F pcap -c 10`).
// It exists for start-up time: loading yargs costs ~65 ms on this class of machine, more than the
// whole conversion of a million packets. It accepts only unambiguous forms of the options in the
// shared table and returns undefined for anything else (help, version, bundled flags, positional
// words, bad values, repeats), which then goes to yargs for full parsing and its error messages.
// Both parsers must agree on every line this one accepts (test/cli/argv.test.ts checks it).

import type { OptionDef } from './common.js';

function camel(name: string): string {
  return name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

export function scanArgs(argv: readonly string[], defs: readonly OptionDef[]): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  const byLong = new Map<string, OptionDef>();
  const byShort = new Map<string, OptionDef>();
  for (const d of defs) {
    byLong.set(d.name, d);
    if (d.short !== undefined) byShort.set(d.short, d);
  }
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i]!;
    let def: OptionDef | undefined;
    let inline: string | undefined;
    if (tok.startsWith('--')) {
      const eq = tok.indexOf('=');
      const name = eq < 0 ? tok.slice(2) : tok.slice(2, eq);
      def = byLong.get(name);
      if (eq >= 0) inline = tok.slice(eq + 1);
    } else if (tok.startsWith('-') && tok.length >= 2) {
      const letters = tok.slice(1);
      def = byShort.get(letters[0]!);
      if (def === undefined) return undefined;
      if (letters.length > 1) {
        // Only a repeated count flag (-tt, -ttt...) is accepted bundled.
        if (def.type !== 'count' || [...letters].some((c) => c !== letters[0])) return undefined;
        const key = camel(def.name);
        out[key] = ((out[key] as number | undefined) ?? 0) + letters.length;
        continue;
      }
    } else {
      return undefined; // positional word
    }
    if (def === undefined) return undefined;
    const key = camel(def.name);
    if (def.type === 'boolean' || def.type === 'count') {
      if (inline !== undefined) return undefined;
      if (def.type === 'boolean') out[key] = true;
      else out[key] = ((out[key] as number | undefined) ?? 0) + 1;
      continue;
    }
    let value = inline;
    if (value === undefined) {
      value = argv[i + 1];
      if (value === undefined || (value.startsWith('-') && value !== '-')) return undefined;
      i++;
    }
    if (def.multiple === true) {
      ((out[key] as string[] | undefined) ?? (out[key] = [])).push(value);
      continue;
    }
    if (key in out) return undefined; // a repeated value option: let yargs decide
    if (def.choices !== undefined && !def.choices.includes(value)) return undefined;
    if (def.type === 'number') {
      if (!/^[0-9]+$/.test(value)) return undefined;
      out[key] = Number(value);
    } else {
      out[key] = value;
    }
  }
  return out;
}
