// The fast argv scanner must agree with yargs on every command line it accepts, and hand everything
// else to yargs.
import { describe, expect, it } from 'vitest';
import { scanArgs } from '../../src/cli/argv.js';
import { NMCAP_OPTIONS } from '../../src/cli/common.js';
import { parseWithYargs } from '../../src/cli/yargs-args.js';

const TEXT = { scriptName: 'nmcap', usage: 'usage' };

const ACCEPTED: string[][] = [
  ['-r', 'in.pcap'],
  ['-r', 'in.pcap', '-w', 'out.pcapng'],
  ['-r', '-', '-w', '-'],
  ['--read', 'a', '--write=b', '--format', 'pcap'],
  ['-r', 'a', '-w', 'b', '-F', 'pcap-ns', '-c', '10', '-q'],
  ['-r', 'a', '--json', '-n', '-e', '--nano'],
  ['-r', 'a', '-tt'],
  ['-r', 'a', '-t', '-t', '-t'],
  ['-r', 'a', '-ttttt'],
  ['-r', 'a', '--time-stamp-precision', 'nano'],
  ['-r', 'a', '--time-stamp-precision=micro', '--count=3'],
  ['--quiet', '--link', '--numeric', '--read', 'x y.pcap'],
  ['-r', 'a', '-r', 'b'], // the last one counts, as tcpdump
  ['-r', 'a', '-c', '2', '-c', '3'],
];

const DECLINED: string[][] = [
  ['--help'],
  ['-h'],
  ['--version'],
  ['-r', 'a', 'tcp'],
  ['-r', 'a', '--bogus'],
  ['-r', 'a', '-c', 'x'],
  ['-r', 'a', '-c10'],
  ['-r', 'a', '-qe'],
  ['-r', 'a', '-F', 'nope'],
  ['-r'],
  ['-r', '-w'],
  ['-r', 'a', '--json=yes'],
  ['-r', 'a', '--no-json'],
];

describe('fast argv scanner', () => {
  it('agrees with yargs on every line it accepts', async () => {
    for (const argv of ACCEPTED) {
      const fast = scanArgs(argv, NMCAP_OPTIONS);
      expect(fast, argv.join(' ')).toBeDefined();
      const full = await parseWithYargs(argv, NMCAP_OPTIONS, TEXT);
      expect(fast, argv.join(' ')).toEqual(full);
    }
  });

  it('declines anything unusual, leaving it to yargs', () => {
    for (const argv of DECLINED) expect(scanArgs(argv, NMCAP_OPTIONS), argv.join(' ')).toBeUndefined();
  });
});
