// The project's own fixtures through pipes, judged by the harness: every packet of each trace
// arrives byte-exact and in order on the other end, nothing else arrives, and the pipe rule settles it.
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { readPacketsSync } from '../../src/pcap/index.js';
import { HarnessSession } from '../../src/harness/index.js';
import { pipeName } from '../helpers/cli.js';

const FIXTURES = ['demo.pcapng', 'simple-packets.pcapng', 'classic-us-le.pcap', 'classic-ns-be.pcap'];
const sessions: HarnessSession[] = [];
afterEach(() => {
  for (const s of sessions.splice(0)) s.close();
});

describe('fixtures through a pipe, judged by the harness', () => {
  for (const name of FIXTURES) {
    it(name, async () => {
      const file = new URL(`../fixtures/${name}`, import.meta.url).pathname;
      const want = readPacketsSync(readFileSync(file));
      expect(want.length).toBeGreaterThan(0);
      const n = pipeName('fx');
      const h = HarnessSession.open({ a: `pipe:${n}{0`, b: `pipe:${n}}0` });
      sessions.push(h);
      const r = await h.test({ send: [{ port: 'a', file }], expect: want.map((p) => ({ packet: p.data, ports: 'b' })) });
      expect(r.ok, r.report()).toBe(true);
      expect(r.settle.rule).toBe('pipe-drained');
      expect(r.match.total).toMatchObject({ matched: want.length, missing: 0, extra: 0, reordered: 0, changed: 0 });
      r.captures['b']!.forEach((c, i) => expect(Buffer.compare(Buffer.from(c.data), want[i]!.data)).toBe(0));
    });
  }
});
