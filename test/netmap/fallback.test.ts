// Which backend a bare interface name gets on a netmap host, and when a failure lets the next one
// try: the choice logic of src/ports/open.ts, run without a kernel (the opener is the test's, the
// errors are the PortErrors the backends raise).
import { describe, expect, it } from 'vitest';
import { PortError, PortErrorCode } from '../../src/errors.js';
import type { NativePort, NativePortInfo } from '../../src/ports/binding.js';
import { resolvePortName } from '../../src/ports/names.js';
import { fallsBack, openFirst } from '../../src/ports/open.js';

const info = (backend: string): NativePortInfo => ({ backend, mode: `${backend} mode` }) as NativePortInfo;
const port = {} as NativePort;

describe('bare names with /dev/netmap present', () => {
  it('to send, netmap goes first, then the Linux backends; to capture, AF_PACKET only (capture is passive: netmap NIC mode, like AF_XDP, detaches the interface)', () => {
    expect(resolvePortName('lo', 'tx', true).candidates.map((c) => c.name)).toEqual(['netmap:lo', 'af_xdp:lo', 'af_packet:lo']);
    expect(resolvePortName('lo', 'rx', true).candidates.map((c) => c.name)).toEqual(['af_packet:lo']);
    expect(resolvePortName('lo', 'rx', false).candidates.map((c) => c.backend)).toEqual(['af_packet']);
  });

  it('an I/O-class netmap failure falls back, and the choice says what was skipped', () => {
    const tried: string[] = [];
    const r = openFirst(resolvePortName('lo', 'tx', true).candidates, true, (c) => {
      tried.push(c.name);
      if (c.backend === 'netmap') throw new PortError(PortErrorCode.IO, 'netmap: netmap:lo: registration failed: Input/output error', 5);
      return { port, info: info(c.backend) };
    });
    expect(tried).toEqual(['netmap:lo', 'af_xdp:lo']);
    expect(r.name).toBe('af_xdp:lo');
    expect(r.choice).toBe('using af_xdp:lo (af_xdp mode); skipped netmap:lo: netmap: netmap:lo: registration failed: Input/output error');
  });

  it('netmap not finding the port (the module does not take this interface) falls back too', () => {
    const r = openFirst(resolvePortName('lo', 'tx', true).candidates, true, (c) => {
      if (c.backend === 'netmap') throw Object.assign(new Error('netmap: no such port'), { code: PortErrorCode.NOT_FOUND });
      return { port, info: info(c.backend) };
    });
    expect(r.name).toBe('af_xdp:lo');
  });

  it('a link that is down stops at once: every backend would refuse it', () => {
    const tried: string[] = [];
    expect(() =>
      openFirst(resolvePortName('lo', 'tx', true).candidates, true, (c) => {
        tried.push(c.name);
        throw new PortError(PortErrorCode.DOWN, 'interface lo is down');
      }),
    ).toThrow(/is down/);
    expect(tried).toEqual(['netmap:lo']);
  });

  it('an explicit name never falls back', () => {
    const tried: string[] = [];
    expect(() =>
      openFirst([{ backend: 'netmap', name: 'netmap:lo' }], false, (c) => {
        tried.push(c.name);
        throw new PortError(PortErrorCode.IO, 'netmap: boom');
      }),
    ).toThrow('netmap: boom');
    expect(tried).toEqual(['netmap:lo']);
  });

  it('the last failure is what the caller sees when nothing opens', () => {
    expect(() =>
      openFirst(resolvePortName('lo', 'rx', true).candidates, true, (c) => {
        throw new PortError(PortErrorCode.PERMISSION, `${c.name}: permission denied`);
      }),
    ).toThrow('af_packet:lo: permission denied');
  });

  it('I/O-class errors fall back only from netmap; backend-specific ones from any backend', () => {
    expect(fallsBack('netmap', PortErrorCode.IO)).toBe(true);
    expect(fallsBack('netmap', PortErrorCode.NOT_FOUND)).toBe(true);
    expect(fallsBack('af_xdp', PortErrorCode.IO)).toBe(false);
    expect(fallsBack('af_packet', PortErrorCode.NOT_FOUND)).toBe(false);
    for (const b of ['netmap', 'af_xdp', 'af_packet'] as const) {
      expect(fallsBack(b, PortErrorCode.PERMISSION)).toBe(true);
      expect(fallsBack(b, PortErrorCode.DOWN)).toBe(false);
      expect(fallsBack(b, PortErrorCode.BAD_NAME)).toBe(false);
    }
  });
});
