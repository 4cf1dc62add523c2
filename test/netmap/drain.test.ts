// A replay whose reader stopped or never came: nmcap's pipes, like netmap's pipes and VALE ports,
// give no sign of that, so after a second without progress nmreplay says whom it waits for, and
// --drain-timeout gives up. Runs on nmcap's pipes everywhere, on netmap pipes where /dev/netmap is.
import { describe, expect, it } from 'vitest';

import { netmapAvailable } from '../../src/ports/names.js';
import { pipeName, run, start } from '../helpers/cli.js';

const TRACE = new URL('../fixtures/demo.pcapng', import.meta.url).pathname;
const PACKETS = 218; // records in demo.pcapng

const kinds: { kind: string; skip: string | null }[] = [
  { kind: 'pipe', skip: null },
  { kind: 'netmap', skip: netmapAvailable() ? null : 'needs /dev/netmap (the netmap kernel module)' },
];

for (const { kind, skip } of kinds) {
  describe.skipIf(skip !== null)(`${kind} pipes: waiting for a reader${skip ? ` (skipped: ${skip})` : ''}`, () => {
    it('no reader: says it waits, gives up after --drain-timeout, counts the packets as pending, exit 1', async () => {
      const name = `${kind}:${pipeName('dr')}{0`;
      const r = await run('nmreplay', ['-i', name, '-t', '--drain-timeout', '3', '--json', TRACE]);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^nmreplay: waiting for a reader on ${name.replace(/[{}]/g, '\\$&')}: \\d+ packets pending and none taken for 1 s`, 'm'));
      expect(r.stderr).toMatch(/^nmreplay: gave up after 3 s without progress: \d+ packets never left/m);
      const j = JSON.parse(r.stdout);
      expect(j.pending).toBeGreaterThan(0);
      expect(j.packets + j.pending).toBe(PACKETS);
    });

    it('a reader that comes late: the replay finishes once it reads, exit 0', async () => {
      const id = pipeName('dl');
      const rep = start('nmreplay', ['-i', `${kind}:${id}{0`, '-t', '--json', TRACE]);
      await rep.waitFor(/^nmreplay: waiting for a reader/, 20_000);
      const cap = start('nmcap', ['-i', `${kind}:${id}}0`, '-c', String(PACKETS), '-w', '/dev/null', '--json']);
      const [r, c] = await Promise.all([rep.done, cap.done]);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ packets: PACKETS, pending: 0 });
      expect(c.code, c.stderr).toBe(0);
      expect(JSON.parse(c.stdout).captured).toBe(PACKETS);
    });

    it('--drain-timeout wants a positive number of seconds (exit 2)', async () => {
      const r = await run('nmreplay', ['-i', `${kind}:${pipeName('du')}{0`, '--drain-timeout', '0', TRACE]);
      expect(r.code).toBe(2);
      expect(r.stderr.trim()).toBe('nmreplay: --drain-timeout needs a positive number of seconds, got 0');
    });
  });
}
