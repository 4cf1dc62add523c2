// Settling: which rule each kind of port gets, and that a wait that never ends is an error.
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { HarnessSession, HarnessErrorCode, buildPacket, settleRuleOf, ruleFor, openHarnessPort, type HarnessPort } from '../../src/harness/index.js';
import { pipeName } from '../helpers/cli.js';

const opened: (HarnessSession | HarnessPort)[] = [];
afterEach(() => {
  for (const s of opened.splice(0)) s.close();
});

describe('settle rules', () => {
  it('follow where forwarding happens', () => {
    expect(settleRuleOf('pipe', 'pipe:x{0')).toBe('pipe-drained');
    expect(settleRuleOf('netmap', 'vale0:p1')).toBe('vale-sync');
    expect(settleRuleOf('netmap', 'netmap:eth0')).toBe('counters-idle');
    expect(settleRuleOf('af_packet', 'af_packet:eth0')).toBe('counters-idle');
    const n = pipeName('st');
    const a = openHarnessPort(`pipe:${n}{0`);
    opened.push(a);
    expect(a.rule).toBe('pipe-drained');
    expect(ruleFor([a])).toBe('pipe-drained');
  });

  it('a sender nobody drains times out as an error, never a pass', async () => {
    const n = pipeName('st');
    const h = HarnessSession.open({ a: `pipe:${n}{0` }); // nobody holds the other end
    opened.push(h);
    await h.send('a', [buildPacket({ payload: 'into the void' })]);
    await expect(h.settle({ timeoutMs: 200 })).rejects.toMatchObject({
      code: HarnessErrorCode.SETTLE_TIMEOUT,
      message: expect.stringMatching(/did not settle within 200 ms \(rule pipe-drained: 1 packet\(s\) still pending/),
    });
  });

  it.skipIf(!existsSync('/dev/netmap'))('on real VALE: final txsync and one rxsync per port (skipped here: no /dev/netmap)', async () => {
    const h = HarnessSession.open({ a: 'vale0:harness_a', b: 'vale0:harness_b' });
    opened.push(h);
    const p = buildPacket({ eth: { dst: 'ff:ff:ff:ff:ff:ff' }, payload: 'flood' });
    const r = await h.test({ send: [{ port: 'a', packets: [p] }], expect: [{ packet: p, ports: 'b' }] });
    expect(r.settle.rule).toBe('vale-sync');
    expect(r.ok, r.report()).toBe(true);
  });
});
