// Streamed replay through the native reader (classic pcap and pcapng) does what the JS reader does: the same
// frames leave in the same order over several files and passes, a cut last record is a warning with
// every complete packet sent, a bad record ends the input with the packets before it sent, and a
// raw-IP trace gets its Ethernet header and its notice. Each case runs both readers (the JS one
// forced with NMCAP_JS_READER=1) into a real pipe, a real nmcap writing pcapng, and compares.
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';

import { readPacketsSync } from '../../src/pcap/index.js';
import { Replay, type ReplayOptions, type ReplayResult } from '../../src/replay/replay.js';
import { pipeName, start, tempDir } from '../helpers/cli.js';
import { epb, idb, opt, opts, pcapHeader, pcapRecord, shb, spb, u32, u8, udpFrame, type Order } from '../helpers/hand.js';
import { nativeReadable } from '../../src/replay/native-stream.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

interface Run {
  r: ReplayResult;
  frames: Buffer[];
  notices: string[];
}

/** The same frames in the same order (compared as one block: fast, and exact). */
function expectSameFrames(a: Run, b: Run): void {
  expect(a.frames.length).toBe(b.frames.length);
  expect(Buffer.concat(a.frames.map((f) => Buffer.concat([Buffer.from([f.length >> 8, f.length & 255]), f]))).equals(
    Buffer.concat(b.frames.map((f) => Buffer.concat([Buffer.from([f.length >> 8, f.length & 255]), f]))),
  )).toBe(true);
}

async function replayBoth(opts: Omit<ReplayOptions, 'port'>): Promise<{ native: Run; js: Run }> {
  const out: Partial<Record<'native' | 'js', Run>> = {};
  for (const which of ['native', 'js'] as const) {
    const name = pipeName('ns');
    const file = tmp.path(`${name}.pcapng`);
    const cap = start('nmcap', ['-i', `pipe:${name}}0`, '-w', file, '--json']);
    await cap.waitFor(/^listening on/);
    const notices: string[] = [];
    if (which === 'js') process.env.NMCAP_JS_READER = '1';
    try {
      const r = await new Replay({ port: `pipe:${name}{0`, topspeed: true, preload: false, onNotice: (m) => notices.push(m), ...opts }).run();
      const c = await cap.done;
      expect(c.code, c.stderr).toBe(0);
      out[which] = { r, notices, frames: readPacketsSync(readFileSync(file)).map((p) => Buffer.from(p.data)) };
    } finally {
      delete process.env.NMCAP_JS_READER;
    }
  }
  return { native: out.native!, js: out.js! };
}

function trace(name: string, count: number, seed: number, tail: Buffer[] = [], linkType = 1): string {
  const path = tmp.path(name);
  const recs = Array.from({ length: count }, (_, i) => {
    const f = udpFrame(18 + ((i * 13) % 200), 1000 + seed, 2000, i);
    f.writeUInt32BE(seed * 1_000_000 + i, f.length - 4);
    return pcapRecord(seed % 2 ? 'be' : 'le', 1_700_000_000 + i, i, linkType === 1 ? f : f.subarray(14));
  });
  writeFileSync(path, Buffer.concat([pcapHeader(seed % 2 ? 'be' : 'le', seed % 3 === 0, 65535, linkType), ...recs, ...tail]));
  return path;
}

describe('streamed replay: native reader and JS reader agree', () => {
  it('two files (both byte orders), two passes: the same frames in the same order', async () => {
    const a = trace('a.pcap', 1300, 1);
    const b = trace('b.pcap', 1000, 2);
    const { native, js } = await replayBoth({ files: [a, b], loop: 2 });
    expect(native.r).toMatchObject({ packets: 4600, failed: 0, reason: 'done', loops: 2 });
    expect(native.frames.length).toBe(4600);
    expectSameFrames(native, js);
    expect(js.r).toMatchObject({ packets: native.r.packets, loops: native.r.loops });
  });

  it('a cut last record: one warning, every complete packet sent', async () => {
    const cut = pcapRecord('le', 1, 2, udpFrame(50)).subarray(0, 30);
    const f = trace('cut.pcap', 400, 4, [cut]);
    const { native, js } = await replayBoth({ files: [f] });
    expect(native.r.packets).toBe(400);
    expect(native.r.warnings.map((w) => w.code)).toEqual(['WARN_PCAP_TRUNCATED']);
    expect(native.r.warnings).toEqual(js.r.warnings);
    expectSameFrames(native, js);
  });

  it('a record claiming an absurd length ends the input: the packets before it are sent, the error reported', async () => {
    const bad = Buffer.concat([u32(1, 'le'), u32(0, 'le'), u32(0x7fffffff, 'le'), u32(60, 'le')]);
    const f = trace('bad.pcap', 700, 6, [bad, pcapRecord('le', 9, 9, udpFrame(30))]);
    const { native, js } = await replayBoth({ files: [f, f] });
    expect(native.r.packets).toBe(700);
    expect(native.r.inputError?.code).toBe('ERR_PCAP_BAD_CAPLEN');
    expect(native.r.inputError?.message).toBe(js.r.inputError?.message);
    expectSameFrames(native, js);
  });

  it('raw IP: Ethernet headers in front, and the notice said once', async () => {
    const f = trace('raw.pcap', 300, 8, [], 101);
    const { native, js } = await replayBoth({ files: [f, f] });
    expect(native.r.packets).toBe(600);
    expect(native.notices).toEqual(js.notices);
    expect(native.notices.length).toBe(1);
    expectSameFrames(native, js);
    expect(native.frames[0]!.readUInt16BE(12)).toBe(0x0800);
  });

  it('a limit stops the reader too (the replay ends, nothing hangs)', async () => {
    const a = trace('lim.pcap', 1000, 10);
    const { native, js } = await replayBoth({ files: [a], loop: 0, limit: 3210 });
    expect(native.r).toMatchObject({ packets: 3210, reason: 'limit' });
    expectSameFrames(native, js);
  });
  it('pcapng (two sections in both byte orders, EPB and SPB) streams byte-identical through a pipe', async () => {
    const section = (o: Order, count: number, seed: number): Buffer =>
      Buffer.concat([
        shb(o),
        idb(o, 1, 65535, opts(o, opt(9, u8(9), o))),
        ...Array.from({ length: count }, (_, i) => {
          const f = udpFrame(18 + ((i * 13) % 200), 1000 + seed, 2000, i);
          f.writeUInt32BE(seed * 1_000_000 + i, f.length - 4);
          return i % 5 === 4 ? spb(o, f.length, f) : epb(o, 0, 1_700_000_000_000_000_000n + BigInt(i) * 1000n, f);
        }),
      ]);
    const path = tmp.path('two-sections.pcapng');
    writeFileSync(path, Buffer.concat([section('le', 1200, 1), section('be', 900, 2)]));
    expect(nativeReadable([path])).toBe(true);
    const want = readPacketsSync(readFileSync(path)).map((p) => Buffer.from(p.data));
    expect(want.length).toBe(2100);
    const { native, js } = await replayBoth({ files: [path], loop: 2 });
    expect(native.r).toMatchObject({ packets: 4200, failed: 0, reason: 'done', loops: 2 });
    expect(native.r.warnings).toEqual([]);
    expectSameFrames(native, { ...native, frames: [...want, ...want] });
    expectSameFrames(native, js);
  });

  it('pcapng with an Ethernet and a raw-IP interface: each record sent as its own link type says', async () => {
    const o: Order = 'le';
    const frames = Array.from({ length: 600 }, (_, i) => udpFrame(30 + (i % 50), 7, 8, i));
    const path = tmp.path('mixed.pcapng');
    writeFileSync(
      path,
      Buffer.concat([shb(o), idb(o, 1, 0), idb(o, 101, 0), ...frames.map((f, i) => (i % 7 < 3 ? epb(o, 0, BigInt(i), f) : epb(o, 1, BigInt(i), f.subarray(14))))]),
    );
    const r = await replayBoth({ files: [path] });
    const native = r.native;
    expect(native.r).toMatchObject({ packets: 600, failed: 0, reason: 'done' });
    expect(native.notices.length).toBe(1); // the raw-IP notice, said once
    // The JS reader's batches mix the two interfaces; each run of one link type goes on its own
    // (streamed, and preloaded with -K), so every reader sends the same frames.
    expect(r.js.notices).toEqual(native.notices);
    expectSameFrames(native, r.js);
    const k = await replayBoth({ files: [path], preload: true });
    expectSameFrames(native, k.native);
    expectSameFrames(native, k.js);
    native.frames.forEach((f, i) => {
      if (i % 7 < 3) expect(f.equals(frames[i]!), `frame ${i}`).toBe(true);
      else {
        expect(f.subarray(14).equals(frames[i]!.subarray(14)), `frame ${i}`).toBe(true);
        expect(f.readUInt16BE(12)).toBe(0x0800);
      }
    });
  });
});
