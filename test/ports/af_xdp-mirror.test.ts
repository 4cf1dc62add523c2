// The TypeScript mirror of the af_xdp backend: names, the mode string, and errors that need no
// privileges (bad names are refused before any socket is opened).
import { describe, expect, it } from 'vitest';
import { afXdpName, isValidIfname, openAfXdp, parseAfXdpMode, parseAfXdpName } from '../../src/ports/af_xdp.js';

describe('af_xdp mirror', () => {
  it('splits and builds port names', () => {
    expect(parseAfXdpName('af_xdp:eth0')).toBe('eth0');
    expect(parseAfXdpName('af_packet:eth0')).toBeNull();
    expect(afXdpName('vb')).toBe('af_xdp:vb');
  });

  it('applies the kernel interface-name rules', () => {
    expect(isValidIfname('vb')).toBe(true);
    expect(isValidIfname('enp0s31f6')).toBe(true);
    for (const bad of ['', '.', '..', 'a/b', 'a:b', 'a b', 'sixteen-chars-xx']) expect(isValidIfname(bad)).toBe(false);
  });

  it('parses every mode string the backend writes', () => {
    expect(parseAfXdpMode('copy, drv, bpf link, tx budget 2048')).toEqual({
      zeroCopy: false,
      attach: 'drv',
      drvRefusal: null,
      method: 'bpf link',
      txBudget: 2048,
      notes: [],
    });
    expect(parseAfXdpMode('copy, tx budget kernel default (XDP_MAX_TX_SKB_BUDGET unsupported)')).toMatchObject({
      attach: null,
      method: null,
      txBudget: 'kernel-default',
    });
    expect(parseAfXdpMode('zero-copy, skb (drv refused: Numerical result out of range, really), netlink')).toMatchObject({
      zeroCopy: true,
      attach: 'skb',
      drvRefusal: 'Numerical result out of range, really',
      method: 'netlink',
      txBudget: null,
    });
    expect(parseAfXdpMode('copy, drv, bpf link, promiscuous mode not set: Operation not permitted').notes).toEqual([
      'promiscuous mode not set: Operation not permitted',
    ]);
  });

  it('refuses bogus names with ERR_PORT_BAD_NAME and unknown interfaces with ERR_PORT_NOT_FOUND', () => {
    for (const bad of ['', 'a/b', 'x:1', 'much-too-long-name0']) {
      expect(() => openAfXdp(bad)).toThrow(expect.objectContaining({ code: 'ERR_PORT_BAD_NAME' }));
    }
    expect(() => openAfXdp('nmcnosuch9')).toThrow(
      expect.objectContaining({ code: 'ERR_PORT_NOT_FOUND', message: "no network interface named 'nmcnosuch9' (see `ip link`)" }),
    );
  });
});
