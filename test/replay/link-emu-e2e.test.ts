// Link emulation end to end: nmreplay -> pipe -> nmcap (another process, writing a file). Counts
// add up, packets dropped on purpose are reported (text and --json), one seed drops the same
// packets every run, and receive timestamps respect the emulated delay and bandwidth spacing as
// LOWER bounds only (a slow machine may deliver later, never earlier).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTrace } from '../../src/pcap/index.js';
import { Replay, type ReplayOptions, type ReplayResult } from '../../src/replay/replay.js';
import { numberedTrace } from '../helpers/numbered-trace.js';
import { pipeName, run, start, tempDir } from '../helpers/cli.js';

const tmp = tempDir();
const LEN = 100;
let trace: string; // 2000 packets of 100 bytes, numbered at offset 14, 1 us apart

beforeAll(async () => {
  trace = await numberedTrace(tmp.path('numbered.pcap'), 2000, LEN);
});

afterAll(() => tmp.cleanup());

interface Received {
  ids: number[];
  ts: bigint[];
}

async function readCapture(file: string): Promise<Received> {
  const got: Received = { ids: [], ts: [] };
  const r = openTrace(file);
  for await (const b of r.batches()) {
    for (let i = 0; i < b.count; i++) {
      got.ids.push(Buffer.from(b.data(i)).readUInt32BE(14));
      got.ts.push(b.ts(i)!);
    }
  }
  await r.close();
  return got;
}

/** nmreplay's CLI into a pipe captured by nmcap to a file. */
async function cliRun(args: string[]): Promise<{ code: number | null; stderr: string; json: Record<string, any>; rx: Received }> {
  const name = pipeName('le');
  const out = tmp.path(`${name}.pcapng`);
  const cap = start('nmcap', ['-i', `pipe:${name}}0`, '-w', out, '-q']);
  await cap.waitFor(/^listening on/);
  const r = await run('nmreplay', ['-i', `pipe:${name}{0`, trace, '--json', ...args]);
  const c = await cap.done;
  expect(c.code, c.stderr).toBe(0);
  return { code: r.code, stderr: r.stderr, json: r.code === 0 ? JSON.parse(r.stdout) : {}, rx: await readCapture(out) };
}

/** The API into a pipe captured by nmcap; `ref` is a realtime reading taken before the first departure. */
async function apiRun(opts: Omit<ReplayOptions, 'port' | 'files'>): Promise<{ r: ReplayResult; ref: bigint; rx: Received }> {
  const name = pipeName('la');
  const out = tmp.path(`${name}.pcapng`);
  const cap = start('nmcap', ['-i', `pipe:${name}}0`, '-w', out, '-q']);
  await cap.waitFor(/^listening on/);
  let ref = 0n;
  const r = await new Replay({ port: `pipe:${name}{0`, files: [trace], ...opts, onOpen: () => (ref = BigInt(Date.now()) * 1_000_000n) }).run();
  const c = await cap.done;
  expect(c.code, c.stderr).toBe(0);
  return { r, ref, rx: await readCapture(out) };
}

describe('loss end to end', () => {
  it('what was dropped on purpose is reported, the rest arrives, in order; the same seed drops the same packets', async () => {
    const a = await cliRun(['-t', '--loss', '0.25', '--seed', '1234']);
    expect(a.code, a.stderr).toBe(0);
    const dropped = a.json.emuDropped as number;
    expect(dropped).toBeGreaterThan(0);
    expect(a.json).toMatchObject({ packets: 2000 - dropped, queued: 2000 - dropped, failed: 0, pending: 0 });
    expect(a.json.linkEmulation).toMatchObject({ seed: 1234, loss: { kind: 'packet', rate: 0.25 }, dropped });
    expect(a.json.departure).toBeNull(); // loss alone sets no times: topspeed stays unpaced
    expect(a.stderr).toContain(`seed 1234; ${dropped} packets dropped on purpose`);
    expect(a.stderr).toMatch(new RegExp(`Dropped on purpose:\\s+${dropped}`));
    expect(a.rx.ids.length).toBe(2000 - dropped);
    expect(a.rx.ids).toEqual([...a.rx.ids].sort((x, y) => x - y)); // never reordered
    // 25% of 2000, within 5 standard errors
    expect(Math.abs(dropped / 2000 - 0.25)).toBeLessThan(5 * Math.sqrt((0.25 * 0.75) / 2000));

    const b = await cliRun(['-t', '--loss', '0.25', '--seed', '1234']);
    expect(b.rx.ids).toEqual(a.rx.ids);
    const c = await cliRun(['-t', '--loss', '0.25', '--seed', '1235']);
    expect(c.rx.ids).not.toEqual(a.rx.ids);
  });

  it('without --seed a seed is drawn and printed, so the run can be repeated', async () => {
    const a = await cliRun(['-t', '--loss', 'ber,1e-4']);
    const seed = a.json.linkEmulation.seed as number;
    expect(Number.isSafeInteger(seed)).toBe(true);
    expect(a.stderr).toContain(`seed ${seed};`);
    const b = await cliRun(['-t', '--loss', 'ber,1e-4', '--seed', String(seed)]);
    expect(b.rx.ids).toEqual(a.rx.ids);
    expect(b.json.emuDropped).toBe(a.json.emuDropped);
  });

  it('-L counts packets offered to the link, lost ones included', async () => {
    const a = await cliRun(['-t', '-L', '500', '--loss', '0.5', '--seed', '3']);
    expect(a.json.queued + a.json.emuDropped).toBe(500);
    expect(a.rx.ids.length).toBe(a.json.packets);
    expect(a.rx.ids.every((id) => id < 500)).toBe(true);
  });
});

describe('delay and bandwidth at the receiver (lower bounds only)', () => {
  it('--delay: nothing arrives before the minimum delay has passed', async () => {
    const { r, ref, rx } = await apiRun({ topspeed: true, limit: 50, delay: '30ms..40ms', seed: 8 });
    expect(r.packets).toBe(50);
    expect(r.departure?.count).toBe(50); // paced on the emulated times, errors measured against them
    expect(rx.ids.length).toBe(50);
    const early = rx.ts.filter((t) => t - ref < 30_000_000n).length;
    expect(early).toBe(0);
  });

  it('--bandwidth with Ethernet framing: packet k arrives no sooner than k+1 serialisation times', async () => {
    // 10 Mbit/s, (100 + 24) bytes: 99.2 us per packet; 200 packets take at least 19.84 ms.
    const { r, ref, rx } = await apiRun({ topspeed: true, limit: 200, bandwidth: '10Mbps,eth', seed: 1 });
    expect(r.packets).toBe(200);
    expect(r.linkEmu?.bandwidth).toEqual({ num: 10_000_000, den: 1, overheadBytes: 24 });
    let early = 0;
    for (let k = 0; k < rx.ts.length; k++) if (rx.ts[k]! - ref < BigInt(Math.floor((k + 1) * 99_200))) early++;
    expect(rx.ids).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(early).toBe(0);
    // The sender's own span covers the serialisation of all of them (the first leaves after one).
    expect(r.seconds).toBeGreaterThanOrEqual(199 * 99.2e-6);
  });

  it('a --rate source into a slower link: the link sets the pace, nothing is lost, departure errors are measured against it', async () => {
    const { r, ref, rx } = await apiRun({ rate: { unit: 'pps', num: 100_000, den: 1 }, limit: 300, bandwidth: '20Mbps' }); // 40 us per packet > 10 us gaps
    expect(r.packets).toBe(300);
    expect(r.departure?.count).toBe(300);
    expect(rx.ts[299]! - ref).toBeGreaterThanOrEqual(300n * 40_000n);
  });
});
