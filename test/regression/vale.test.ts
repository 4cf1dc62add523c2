// nmcap's own regression suite, written with nmcap/harness: the fixtures replayed through pipes
// (nmcap's and, where /dev/netmap exists, netmap's) and through VALE names (the Linux-bridge switch
// here, netmap's VALE where /dev/netmap exists), each capture judged against what it must hold:
// for a pipe the fixture itself, for a switch what a VALE learning switch delivers
// (test/helpers/switch-model.ts), with no other packet on any port. Settling is the harness's rule
// for the backend (no sleeps). Loss in a switch is counted (expected minus received) and said.
// The bridge-backed switch lives in a throwaway namespace, so its tests run the harness there
// (test/regression/scripts/harness-run.mjs) and read its outcome.
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, afterEach, describe, expect, it } from 'vitest';

import { HarnessSession } from '../../src/harness/index.js';
import { readPacketsSync } from '../../src/pcap/index.js';
import { netmapAvailable } from '../../src/ports/names.js';
import { pipeName, start, tempDir } from '../helpers/cli.js';
import { netnsUnavailable } from '../helpers/netns.js';
import { switchDeliveries, type SwitchEvent } from '../helpers/switch-model.js';
import { createNamespace, type Namespace } from '../helpers/vale.js';

const FIXTURES = ['demo.pcapng', 'simple-packets.pcapng', 'classic-us-le.pcap', 'classic-ns-be.pcap'].map(
  (f) => new URL(`../fixtures/${f}`, import.meta.url).pathname,
);
const RUN_SCRIPT = new URL('./scripts/harness-run.mjs', import.meta.url).pathname;
const framesOf = (file: string): Buffer[] => readPacketsSync(readFileSync(file)).map((p) => Buffer.from(p.data));
const tmp = tempDir();
afterAll(() => tmp.cleanup());

// --- pipes: lossless, so the capture is the fixture, byte for byte and in order

const sessions: HarnessSession[] = [];
afterEach(() => {
  for (const s of sessions.splice(0)) s.close();
});

const pipeKinds = [
  { kind: 'pipe', skip: null as string | null },
  { kind: 'netmap', skip: netmapAvailable() ? null : 'needs /dev/netmap' },
];
for (const { kind, skip } of pipeKinds) {
  describe.skipIf(skip !== null)(`regression through ${kind} pipes${skip ? ` (skipped: ${skip})` : ''}`, () => {
    for (const fixture of FIXTURES) {
      const name = fixture.split('/').pop()!;
      it(`${name}: the other end holds the fixture, and nothing else`, async () => {
        const want = framesOf(fixture);
        const id = pipeName('rg');
        const h = HarnessSession.open({ a: `${kind}:${id}{0`, b: `${kind}:${id}}0` });
        sessions.push(h);
        const r = await h.test({ send: [{ port: 'a', file: fixture }], expect: want.map((packet) => ({ packet, ports: 'b' })) });
        expect(r.ok, r.report()).toBe(true);
        expect(r.settle.rule).toBe('pipe-drained');
        expect(r.match.total).toMatchObject({ matched: want.length, missing: 0, extra: 0, reordered: 0, changed: 0 });
        expect(r.captures['b']!.map((c) => Buffer.from(c.data))).toEqual(want);
        expect(r.captures['a']).toEqual([]);
      });
    }
  });
}

// --- switches: what a learning switch delivers

interface RunOutcome {
  ok: boolean;
  ports: Record<string, { backend: string; rule: string; ifnames: string[]; valeSwitch: string | null; valeBackend: string | null; choice: string | null }>;
  settle: { rule: string; ms: number; detail: string };
  steps: string[];
  total: { matched: number; missing: number; extra: number; changed: number; reordered: number };
  perPort: Record<string, { captured: number; matched: number; missing: number; extra: number }>;
  captured: Record<string, number>;
  switchLoss: { port: string; lost: number; expected: number; message: string }[];
  loss: unknown[];
  report: string;
}

interface Step {
  port: string;
  frames: Buffer[];
  settleAfter?: boolean;
}

/** The harness test for `steps` through switch `sw`: expectations from the VALE model on `ports`. */
function switchSpec(sw: string, ports: string[], steps: Step[], backend: 'bridge' | 'netmap'): { spec: object; want: Map<string, Buffer[]> } {
  const events: SwitchEvent[] = steps.flatMap((s) => s.frames.map((frame) => ({ port: s.port, frame })));
  const want = switchDeliveries(events, ports);
  const expectations = [...want].flatMap(([port, frames]) => frames.map((f) => ({ hex: f.toString('hex'), ports: port })));
  const spec = {
    ports: Object.fromEntries(ports.map((p) => [p, `${sw}:${p}`])),
    portOptions: { valeBackend: backend },
    send: steps.map((s) => ({ port: s.port, hex: s.frames.map((f) => f.toString('hex')), settleAfter: s.settleAfter })),
    expect: expectations,
    order: 'strict',
  };
  return { spec, want };
}

/** Runs the spec with the harness: in a fresh namespace (bridge) or on the host (netmap's VALE). */
async function runHarness(n: Namespace | null, spec: object): Promise<RunOutcome> {
  const file = tmp.path(`spec-${process.hrtime.bigint()}.json`);
  writeFileSync(file, JSON.stringify(spec));
  const r = await start(process.execPath, [RUN_SCRIPT, file], { prefix: n?.prefix ?? [] }).done;
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as RunOutcome;
}

const TEACHER_MAC = [0x02, 0, 0, 0, 0, 0x0b]; // demo.pcapng's second host
function broadcast(src: number[], text: string, dst = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff]): Buffer {
  const f = Buffer.alloc(60);
  Buffer.from(dst).copy(f, 0);
  Buffer.from(src).copy(f, 6);
  f.writeUInt16BE(0x88b5, 12);
  f.write(text, 14, 'latin1');
  return f;
}

const switchKinds: { backend: 'bridge' | 'netmap'; skip: string | null }[] = [
  { backend: 'bridge', skip: netnsUnavailable() },
  { backend: 'netmap', skip: netmapAvailable() ? null : 'needs /dev/netmap' },
];
for (const { backend, skip } of switchKinds) {
  describe.skipIf(skip !== null)(`regression through VALE (${backend}), judged by the harness${skip ? ` (skipped: ${skip})` : ''}`, () => {
    const sw = backend === 'netmap' ? `vale${process.pid % 100}` : 'vale0';
    const rule = backend === 'netmap' ? 'vale-sync' : 'counters-idle';
    // The bridge-backed switch lives in a namespace of its own, left empty; netmap's VALE is host-wide.
    const withSwitch = async (fn: (n: Namespace | null) => Promise<void>): Promise<void> => {
      const n = backend === 'bridge' ? createNamespace() : null;
      try {
        await fn(n);
        if (n) expect(n.valeLinks()).toEqual([]);
      } finally {
        n?.destroy();
      }
    };
    const checkPorts = (r: RunOutcome, labels: string[]): void => {
      for (const l of labels) {
        expect(r.ports[l]).toMatchObject({ rule, valeSwitch: sw, valeBackend: backend });
        if (backend === 'bridge') expect(r.ports[l]!.ifnames.length).toBe(3); // our veth end, the bridge's, the bridge
      }
      expect(r.settle.rule).toBe(rule);
    };

    for (const fixture of FIXTURES) {
      const name = fixture.split('/').pop()!;
      it(`${name} into port a, captured on b and c: what a learning switch delivers, nothing else anywhere`, async () => {
        await withSwitch(async (n) => {
          const { spec, want } = switchSpec(sw, ['a', 'b', 'c'], [{ port: 'a', frames: framesOf(fixture) }], backend);
          const r = await runHarness(n, spec);
          expect(r.ok, r.report).toBe(true);
          checkPorts(r, ['a', 'b', 'c']);
          const expected = [...want.values()].reduce((s, f) => s + f.length, 0);
          expect(expected).toBeGreaterThan(0);
          expect(r.total).toMatchObject({ matched: expected, missing: 0, extra: 0, changed: 0 });
          expect(r.captured).toEqual({ a: 0, b: want.get('b')!.length, c: want.get('c')!.length });
          expect(r.switchLoss).toEqual([]);
        });
      });
    }

    it('three ports learning: a host learnt at port t gets its unicast there only; the rest floods to b and c', async () => {
      await withSwitch(async (n) => {
        const demo = framesOf(FIXTURES[0]!).filter((f) => f.subarray(6, 12).equals(Buffer.from([2, 0, 0, 0, 0, 0x0a])));
        const toTeacher = (f: Buffer): boolean => f.subarray(0, 6).equals(Buffer.from(TEACHER_MAC));
        expect(demo.filter(toTeacher).length).toBeGreaterThan(0);
        const { spec, want } = switchSpec(sw, ['a', 'b', 'c', 't'], [
          // The switch must have learnt 0b at t before a's frames come: settle between the steps.
          { port: 't', frames: [broadcast(TEACHER_MAC, 'host 0b lives at port t')], settleAfter: true },
          { port: 'a', frames: demo },
        ], backend);
        // The model's claim, said plainly: unicast to 0b goes to t and neither b nor c.
        expect(want.get('t')!.filter(toTeacher).length).toBe(demo.filter(toTeacher).length);
        expect(want.get('b')!.filter(toTeacher)).toEqual([]);
        const r = await runHarness(n, spec);
        expect(r.ok, r.report).toBe(true); // every port got exactly the model's frames, in order
        checkPorts(r, ['a', 'b', 'c', 't']);
        expect(r.steps).toEqual([rule]);
        expect(r.captured).toEqual({ a: 1, b: want.get('b')!.length, c: want.get('c')!.length, t: want.get('t')!.length });
      });
    });

    it.skipIf(backend !== 'bridge')('loss in the switch is reported as such, never hidden (bridge: Linux never forwards pause frames to 01:80:c2:00:00:01, VALE floods them)', async () => {
      await withSwitch(async (n) => {
        const frames = [broadcast([2, 0, 0, 0, 0, 0x31], 'flooded'), broadcast([2, 0, 0, 0, 0, 0x31], 'held back by Linux', [0x01, 0x80, 0xc2, 0, 0, 1])];
        const { spec } = switchSpec(sw, ['a', 'b'], [{ port: 'a', frames }], backend);
        const r = await runHarness(n, spec);
        expect(r.ok).toBe(false);
        expect(r.total).toMatchObject({ matched: 1, missing: 1, extra: 0 });
        expect(r.switchLoss).toMatchObject([{ port: 'b', lost: 1, expected: 2 }]);
        expect(r.switchLoss[0]!.message).toMatch(/1 of 2 packets sent into vale0:a were lost in the switch on the way to vale0:b/);
        expect(r.report).toMatch(/^SWITCH LOSS: /m);
      });
    });
  });
}
