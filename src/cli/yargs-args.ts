// Full command-line parsing with yargs: help, version, every spelling yargs accepts, and its error
// messages. Loaded only when the fast scanner (argv.ts) declines a command line.

import { readFileSync } from 'node:fs';
import yargs from 'yargs';
import type { Options } from 'yargs';
import { UsageError, type OptionDef } from './common.js';

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export interface CommandText {
  scriptName: string;
  usage: string;
  epilog?: string;
}

function camel(name: string): string {
  return name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
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
  const options: Record<string, Options> = {};
  for (const d of defs) {
    const o: Options = { describe: d.describe, type: d.type };
    if (d.short !== undefined) o.alias = d.short;
    if (d.choices !== undefined) o.choices = [...d.choices];
    if (d.type === 'string' || d.type === 'number') o.requiresArg = true;
    if (d.arg !== undefined) o.nargs = 1;
    options[d.name] = o;
  }
  let shown = false;
  const y = yargs([...argv])
    .scriptName(text.scriptName)
    .usage(text.usage)
    .options(options)
    .strictOptions()
    .help('help')
    .alias('help', 'h')
    .version(packageVersion())
    .wrap(Math.min(100, process.stdout.columns ?? 100))
    .exitProcess(false)
    .fail((msg: string | undefined, err: Error | undefined) => {
      throw new UsageError((msg ?? err?.message ?? 'invalid command line').replace(/:\s*\n\s*/g, ': ').replace(/\s*\n\s*/g, '; '));
    });
  if (text.epilog !== undefined) y.epilog(text.epilog);
  const parsed = (await y.parseAsync()) as Record<string, unknown>;
  if (argv.some((a) => a === '--help' || a === '-h' || a === '--version')) shown = true;
  if (shown) return null;
  const positional = parsed['_'] as unknown[];
  if (positional.length > 0) {
    throw new UsageError(`unexpected argument "${String(positional[0])}" (filter expressions are not supported)`);
  }
  const out: Record<string, unknown> = {};
  for (const d of defs) {
    const v = parsed[d.name];
    if (v === undefined) continue;
    if (d.multiple === true) {
      out[camel(d.name)] = (Array.isArray(v) ? v : [v]).map(String);
      continue;
    }
    if (Array.isArray(v)) throw new UsageError(`--${d.name} given more than once`);
    if (d.type === 'count' && v === 0) continue;
    out[camel(d.name)] = v;
  }
  return out;
}
