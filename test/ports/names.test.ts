// Port names as resolved before anything is opened: which backends a bare interface name tries.
import { describe, expect, it } from 'vitest';
import { LINUX_PREFERENCE, divertingInterface, divertsTraffic, resolvePortName } from '../../src/ports/names.js';
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

  it('af_xdp:IF and netmap NIC ports divert; pipes, VALE, AF_PACKET and bare names do not', () => {
    for (const n of ['af_xdp:eth0', ' af_xdp:eth0', 'netmap:eth0', 'netmap:eth0-1/R', 'netmap:eth0^', 'netmap:eth0*']) {
      expect(divertsTraffic(n), n).toBe(true);
    }
    expect(divertingInterface('netmap:eth0-1/R')).toBe('eth0');
    expect(divertingInterface('af_xdp:veth1')).toBe('veth1');
    for (const n of ['eth0', 'af_packet:eth0', 'pipe:x}0', 'netmap:p{0', 'netmap:p}3', 'vale0:a']) expect(divertsTraffic(n), n).toBe(false);
  });

  it('openPort refuses to receive on netmap:IF without divert: true, before opening anything', () => {
    expect(() => openPort('netmap:lo', 'rx')).toThrow(expect.objectContaining({ code: 'ERR_PORT_DIVERT' }));
  });

  it('openPort refuses to receive on af_xdp:IF without divert: true, before opening anything', () => {
    expect(() => openPort('af_xdp:lo', 'rx')).toThrow(expect.objectContaining({ code: 'ERR_PORT_DIVERT' }));
  });
});
