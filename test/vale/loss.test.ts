// Loss through a switch is sent minus received, said with what helps (src/ports/vale-loss.ts).
import { describe, expect, it } from 'vitest';

import { largerRingsHint, switchLoss } from '../../src/ports/vale-loss.js';

describe('lost in the switch', () => {
  it('says how many of how many, between which ports, and offers larger rings on netmap', () => {
    const l = switchLoss({ packets: 10_000, port: 'vale0:a' }, { captured: 8184, port: 'vale0:b@conf:slots=1024' }, undefined, 'netmap');
    expect(l).toMatchObject({ sent: 10_000, expected: 10_000, received: 8184, lost: 1816, extra: 0 });
    expect(l.message).toBe(
      '1816 of 10000 packets sent into vale0:a were lost in the switch on the way to vale0:b (8184 arrived; the switch counts no drops): ' +
        'give the receiving port larger rings when it is created, e.g. vale0:b@conf:rings=1,slots=4096 (netmap sizes only the ports an open creates), or send slower',
    );
  });

  it('maps the offer to AF_PACKET ring sizes on the bridge-backed switch', () => {
    const l = switchLoss({ packets: 100, port: 'vale0:a' }, { captured: 99, port: 'vale0:c' }, undefined, 'bridge');
    expect(l.lost).toBe(1);
    expect(l.message).toContain('larger AF_PACKET rings, e.g. vale0:c@conf:slots=65536');
    expect(largerRingsHint('pipe:x}0', 'bridge')).toBe('give pipe:x}0 larger RX rings');
  });

  it('nothing lost: no message; more than expected is counted apart, never as negative loss', () => {
    expect(switchLoss({ packets: 5, port: 'vale0:a' }, { captured: 5, port: 'vale0:b' })).toMatchObject({ lost: 0, extra: 0, message: null });
    expect(switchLoss({ packets: 5, port: 'vale0:a' }, { captured: 7, port: 'vale0:b' })).toMatchObject({ lost: 0, extra: 2, message: null });
    expect(switchLoss({ packets: 10, port: 'vale0:a' }, { captured: 2, port: 'vale0:b' }, 3, 'bridge')).toMatchObject({ expected: 3, lost: 1 });
  });
});
