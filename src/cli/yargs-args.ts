// Full command-line parsing for both tools, from their option tables (common.ts): yargs prints
// help and the version and splits the words; every usage problem is found and worded here, in
// the tool's own words (never yargs' "Unknown arguments: x, x" or "got NaN"). As tcpdump and
// tcpreplay do, an option given twice takes its last value. Loaded only when the fast scanner
// (argv.ts) declines a command line.

import yargs from 'yargs';
import type { Options } from 'yargs';
import { VERSION } from '../version.js';
import { UsageError, optionValue, type OptionDef } from './common.js';

export interface CommandText {
  scriptName: string;
  usage: string;
  epilog?: string;
  /** the name positional words are returned under (nmreplay's trace files); without it they are refused */
  positional?: string;
  /** what to say about a positional word when none are taken */
  positionalHint?: string;
}

function camel(name: string): string {
  return name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

function flag(d: OptionDef): string {
  return d.short !== undefined ? `-${d.short}` : `--${d.name}`;
}

/**
 * Finds options the table does not know and value options without a value, before yargs sees
 * the line, so that the message is ours.
 */
function checkWords(argv: readonly string[], defs: readonly OptionDef[], tool: string): void {
  const byLong = new Map<string, OptionDef>();
  const byShort = new Map<string, OptionDef>();
  for (const d of defs) {
    byLong.set(d.name, d);
    for (const a of d.aliases ?? []) byLong.set(a, d);
    if (d.short !== undefined) byShort.set(d.short, d);
  }
  const takesValue = (d: OptionDef): boolean => d.type === 'string' || d.type === 'number';
  // The value as typed, checked with the spelling the user typed.
  const needsValue = (d: OptionDef, spelled: string, value: string | undefined): void => {
    if (value === undefined || (value.startsWith('-') && value !== '-' && !/^-\d/.test(value))) {
      throw new UsageError(`${spelled} needs a value${d.arg ? ` (${spelled} ${d.arg})` : ''}`);
    }
    optionValue(d, spelled, value);
  };
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i]!;
    if (tok === '--') break;
    if (tok === '-' || !tok.startsWith('-') || /^-\d/.test(tok)) continue;
    if (tok.startsWith('--')) {
      const eq = tok.indexOf('=');
      const name = tok.slice(2, eq < 0 ? undefined : eq);
      if (name === 'help' || name === 'version') continue;
      const d = byLong.get(name) ?? (name.startsWith('no-') && byLong.get(name.slice(3))?.type === 'boolean' ? byLong.get(name.slice(3)) : undefined);
      if (d === undefined) throw new UsageError(`unknown option '--${name}' (see ${tool} --help)`);
      if (takesValue(d)) {
        needsValue(d, `--${name}`, eq < 0 ? argv[++i] : tok.slice(eq + 1));
      }
      continue;
    }
    // -abc: flags bundled, the last one may take the value that follows or the rest of the word.
    for (let j = 1; j < tok.length; j++) {
      const c = tok[j]!;
      if (c === 'h') continue;
      const d = byShort.get(c);
      if (d === undefined) throw new UsageError(`unknown option '-${c}' (see ${tool} --help)`);
      if (takesValue(d)) {
        needsValue(d, `-${c}`, j === tok.length - 1 ? argv[++i] : tok.slice(j + 1));
        break;
      }
    }
  }
}

/**
 * Parses argv against the option table. Returns the options (camelCase keys, absent options left
 * out), or null when help or the version was printed. Usage problems throw UsageError (one line).
 */
export async function parseWithYargs(
  argv: readonly string[],
  defs: readonly OptionDef[],
  text: CommandText,
): Promise<Record<string, unknown> | null> {
  checkWords(argv, defs, text.scriptName);
  const options: Record<string, Options> = {};
  for (const d of defs) {
    // Numbers are read as strings and converted by optionValue, which says what is wrong.
    const o: Options = { describe: d.describe, type: d.type === 'number' ? 'string' : d.type };
    const aliases = [...(d.short !== undefined ? [d.short] : []), ...(d.aliases ?? [])];
    if (aliases.length) o.alias = aliases;
    if (d.choices !== undefined) o.describe = `${d.describe} [${d.choices.join(', ')}]`;
    if (d.arg !== undefined) o.nargs = 1;
    if (d.repeat) o.array = true;
    options[d.name] = o;
  }
  const y = yargs([...argv])
    .scriptName(text.scriptName)
    .usage(text.usage)
    .options(options)
    .parserConfiguration({ 'duplicate-arguments-array': false, 'strip-aliased': true })
    .help('help')
    .alias('help', 'h')
    .version(VERSION)
    .wrap(Math.min(100, process.stdout.columns ?? 100))
    .exitProcess(false)
    .fail((msg: string | undefined, err: Error | undefined) => {
      throw new UsageError((msg ?? err?.message ?? 'invalid command line').replace(/:\s*\n\s*/g, ': ').replace(/\s*\n\s*/g, '; '));
    });
  if (text.epilog !== undefined) y.epilog(text.epilog);
  const parsed = (await y.parseAsync()) as Record<string, unknown>;
  if (argv.some((a) => a === '--help' || a === '-h' || a === '--version')) return null;
  const positional = (parsed['_'] as unknown[]).map(String);
  const out: Record<string, unknown> = {};
  if (text.positional !== undefined) {
    if (positional.length > 0) out[text.positional] = positional;
  } else if (positional.length > 0) {
    throw new UsageError(`unexpected argument '${positional[0]}'${text.positionalHint ? ` (${text.positionalHint})` : ''}`);
  }
  for (const d of defs) {
    let v = parsed[d.name];
    if (v === undefined) continue;
    if (d.repeat) {
      out[camel(d.name)] = (Array.isArray(v) ? v : [v]).map(String);
      continue;
    }
    if (Array.isArray(v)) v = v.at(-1); // repeated: the last one counts
    if (d.type === 'count' && v === 0) continue;
    out[camel(d.name)] = d.type === 'string' || d.type === 'number' ? optionValue(d, flag(d), String(v)) : v;
  }
  return out;
}
