// Port names as resolved before anything is opened: which backends a bare interface name tries.
import { describe, expect, it } from 'vitest';
import { LINUX_PREFERENCE, divertsTraffic, resolvePortName } from '../../src/ports/names.js';
import { openPort } from '../../src/ports/open.js';

describe('bare names', () => {
  it('never pick af_xdp for capture (capture is passive), but may to send', () => {
    // lo exists in every network namespace.
    const rx = resolvePortName('lo', 'rx', false);
    expect(rx.auto).toBe(true);
    expect(rx.candidates.map((c) => c.backend)).toEqual(['af_packet']);
    expect(LINUX_PREFERENCE.rx).not.toContain('af_xdp');
    expect(resolvePortName('lo', 'tx', false).candidates.map((c) => c.backend)).toEqual(['af_xdp', 'af_packet']);
  });

  it('af_xdp:IF diverts; the others do not', () => {
    expect(divertsTraffic('af_xdp:eth0')).toBe(true);
    expect(divertsTraffic(' af_xdp:eth0')).toBe(true);
    for (const n of ['eth0', 'af_packet:eth0', 'pipe:x}0', 'netmap:eth0']) expect(divertsTraffic(n)).toBe(false);
  });

  it('openPort refuses to receive on af_xdp:IF without divert: true, before opening anything', () => {
    expect(() => openPort('af_xdp:lo', 'rx')).toThrow(expect.objectContaining({ code: 'ERR_PORT_DIVERT' }));
  });
});
