// Opening netmap ports through the real Port class. Without the netmap module (no /dev/netmap)
// every well-formed name must fail with ERR_NETMAP_UNAVAILABLE and a message that says what to use
// instead; bad names fail as bad names first, wherever netmap is.
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { native, type PortOptions } from '../../src/ports/binding.js';
import { netmapAvailable } from '../../src/ports/names.js';

const UNAVAILABLE =
  'netmap is not available: /dev/netmap does not exist (the netmap kernel module is not loaded); ' +
  'use af_xdp:IF or af_packet:IF instead';

function openError(name: string, opts?: PortOptions): Error & { code?: string; errno?: number } {
  try {
    const p = new native.Port(name, opts);
    p.close();
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error(`opening ${name} succeeded`);
}

describe('netmap ports', () => {
  it('netmapAvailable() tells whether /dev/netmap exists', () => {
    expect(netmapAvailable()).toBe(existsSync('/dev/netmap'));
  });

  it.skipIf(netmapAvailable())(
    `fails clearly without /dev/netmap${netmapAvailable() ? ' (skipped: /dev/netmap exists here)' : ''}`,
    () => {
      const cases: Array<[string, PortOptions | undefined]> = [
        ['netmap:eth0', undefined],
        ['netmap:eth0', { direction: 'rx' }],
        ['netmap:eth0-1/R', { direction: 'rx' }],
        ['netmap:eth0^', undefined],
        ['netmap:x{1', { direction: 'tx', txSlots: 256 }],
        ['vale0:p1', undefined],
        ['vale:p1@conf:slots=1024', undefined],
      ];
      for (const [name, opts] of cases) {
        const e = openError(name, opts);
        expect(e.code, name).toBe('ERR_NETMAP_UNAVAILABLE');
        expect(e.message, name).toBe(UNAVAILABLE);
        expect(e.errno, name).toBe(2); // ENOENT
      }
    },
  );

  it('refuses bad names before touching /dev/netmap', () => {
    expect(openError('netmap:eth0-')).toMatchObject({
      code: 'ERR_PORT_BAD_NAME',
      message: expect.stringContaining("expected a ring number after '-'"),
    });
    expect(openError('vale0:')).toMatchObject({ code: 'ERR_PORT_BAD_NAME' });
    expect(openError('valex')).toMatchObject({ code: 'ERR_PORT_BAD_NAME', message: expect.stringContaining("missing ':'") });
    expect(openError('netmap:eth0/R', { direction: 'tx' })).toMatchObject({
      code: 'ERR_PORT_BAD_NAME',
      message: expect.stringContaining('drop the R flag'),
    });
    expect(openError('netmap:eth0-2', { queue: 1 })).toMatchObject({ code: 'ERR_PORT_BAD_NAME' });
    expect(openError('netmap:eth0@extmem:file=/tmp/x')).toMatchObject({ code: 'ERR_PORT_UNSUPPORTED' });
  });
});
