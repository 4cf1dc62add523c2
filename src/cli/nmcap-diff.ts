// `nmcap --diff EXPECTED ACTUAL`: two capture files compared with the harness's matcher, streamed
// side by side in bounded memory (src/harness/stream-diff.ts). Each pcapng interface is a port
// (if0, if1, ...; classic pcap has one). Exit 0 when they match, 1 when
// they differ, 2 on a usage or file error. Timestamps count only with --timing TOLERANCE.
import { parseArgs } from 'node:util';
import { checkFieldNames, FIELD_NAMES } from '../harness/decode.js';
import type { OrderMode } from '../harness/match.js';
import { diffTraces } from '../harness/stream-diff.js';
import { formatReport, reportJson } from '../harness/report.js';
import { describeError, EXIT_OK, EXIT_RUNTIME, EXIT_USAGE, UsageError } from './common.js';

const USAGE = `Usage: nmcap --diff EXPECTED ACTUAL [--ignore FIELD[,FIELD...]] [--unordered | --per-flow] [--timing TOLERANCE] [--json]

Compares two pcap/pcapng files packet by packet: exit 0 when they match, 1 when they differ,
2 on a usage or file error. Order is strict unless --unordered (a multiset) or --per-flow (order
kept within each 5-tuple). Timestamps are ignored unless --timing TOLERANCE (e.g. 10us, 2ms, 0.5s)
bounds how far each packet's time since the first packet may move.
Fields: ${FIELD_NAMES.join(', ')}`;

/** "10us", "2ms", "0.5s", "1500ns"; a bare number is seconds. */
export function parseTolerance(text: string): bigint {
  const m = /^([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s)?$/.exec(text.trim());
  if (!m) throw new UsageError(`--timing needs a duration such as 10us, 2ms or 0.5s, got "${text}"`);
  const scale = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9 }[m[2] ?? 's']!;
  return BigInt(Math.round(Number(m[1]) * scale));
}

export async function runDiff(argv: string[]): Promise<number> {
  try {
    let parsed;
    try {
      parsed = parseArgs({
        args: argv,
        allowPositionals: true,
        options: {
          diff: { type: 'boolean' },
          ignore: { type: 'string', multiple: true },
          unordered: { type: 'boolean' },
          'per-flow': { type: 'boolean' },
          timing: { type: 'string' },
          json: { type: 'boolean' },
          help: { type: 'boolean', short: 'h' },
        },
      });
    } catch (e) {
      throw new UsageError(`${(e as Error).message.replace(/\. To specify.*$/, '')} (see nmcap --diff --help)`);
    }
    const o = parsed.values;
    if (o.help) {
      process.stdout.write(`${USAGE}\n`);
      return EXIT_OK;
    }
    if (parsed.positionals.length !== 2) throw new UsageError(`--diff needs two capture files, EXPECTED and ACTUAL (got ${parsed.positionals.length})`);
    if (o.unordered && o['per-flow']) throw new UsageError('give --unordered or --per-flow, not both');
    const ignore = (o.ignore ?? []).flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s !== '');
    try {
      checkFieldNames(ignore);
    } catch (e) {
      throw new UsageError(`--ignore: ${(e as Error).message}`);
    }
    const tolerance = o.timing !== undefined ? parseTolerance(o.timing) : undefined;
    const order: OrderMode = o.unordered ? 'unordered' : o['per-flow'] ? 'per-flow' : 'strict';
    const [expPath, actPath] = parsed.positionals as [string, string];
    if (expPath === '-' && actPath === '-') throw new UsageError('only one of EXPECTED and ACTUAL can be "-" (standard input)');
    const { result, expectedPackets, actualPackets } = await diffTraces(expPath, actPath, { order, ignore, timingToleranceNs: tolerance, maxFailures: 10 });
    if (o.json) {
      process.stdout.write(`${JSON.stringify({ expected: { file: expPath, packets: expectedPackets }, actual: { file: actPath, packets: actualPackets }, ...reportJson(result, 10) })}\n`);
    } else {
      process.stdout.write(`${expPath} (${expectedPackets} packets) vs ${actPath} (${actualPackets} packets)\n${formatReport(result, 10)}\n`);
    }
    return result.ok ? EXIT_OK : EXIT_RUNTIME;
  } catch (err) {
    process.stderr.write(`nmcap: ${describeError(err).replace(/\s*\n\s*/g, ' ')}\n`);
    return EXIT_USAGE;
  }
}
