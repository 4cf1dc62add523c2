import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { openTrace, PcapFormatError, readPacketsSync, type TraceSource } from '../../src/pcap/index.js';
import { pageOffset } from '../../src/pcap/native.js';
import { FileSource } from '../../src/pcap/sources.js';
import { bytesOf, epb, idb, isb, opt, opts, pcapHeader, pcapRecord, shb, spb, str, u8 } from '../helpers/hand.js';

const dir = mkdtempSync(join(tmpdir(), 'nmcap-stream-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Summary {
  packets: [string | null, number, number, number, number, string][];
  records: string[];
  warnings: string[];
  error?: string;
}

async function summarize(src: TraceSource, o: Parameters<typeof openTrace>[1] = {}): Promise<Summary> {
  const r = openTrace(src, o);
  const s: Summary = { packets: [], records: [], warnings: [] };
  try {
    for await (const b of r.batches()) {
      for (const rec of b.records) s.records.push(`${rec.kind}@${rec.offset}`);
      for (let i = 0; i < b.count; i++) {
        s.packets.push([String(b.ts(i)), b.capLen[i]!, b.origLen[i]!, b.iface[i]!, b.section.index, b.data(i).toString('hex')]);
      }
    }
  } catch (e) {
    s.error = `${(e as PcapFormatError).code}@${(e as PcapFormatError).offset}`;
  }
  s.warnings = r.warnings.map((w) => `${w.code}@${w.offset}`);
  return s;
}

/** A pcapng file mixing sizes, sections and byte orders, with one block bigger than small chunks. */
function sampleNg(): Buffer {
  return Buffer.concat([
    shb('le', opts('le', opt(1, str('sample'), 'le'))),
    idb('le', 1, 0, opts('le', opt(9, u8(9), 'le'))),
    ...Array.from({ length: 40 }, (_, i) => epb('le', 0, BigInt(i) * 1_000_000_007n, bytesOf((i * 37) % 300, i))),
    epb('le', 0, 99n, bytesOf(5000, 7)),
    isb('le', 0, 100n),
    shb('be'),
    idb('be', 101, 128),
    spb('be', 1000, bytesOf(128, 3)),
    ...Array.from({ length: 10 }, (_, i) => epb('be', 0, BigInt(i), bytesOf(i * 11, i))),
  ]);
}

function samplePcap(): Buffer {
  return Buffer.concat([pcapHeader('be', true, 65535, 1), ...Array.from({ length: 50 }, (_, i) => pcapRecord('be', i, i * 7, bytesOf((i * 53) % 700, i)))]);
}

function chunked(buf: Buffer, size: number): Readable {
  const parts: Buffer[] = [];
  for (let p = 0; p < buf.length; p += size) parts.push(buf.subarray(p, p + size));
  return Readable.from(parts);
}

describe('streaming reader', () => {
  for (const [name, make] of [
    ['pcapng', sampleNg],
    ['pcap', samplePcap],
  ] as const) {
    it(`gives the same result from a path, a Buffer and a Readable, whatever the chunk size (${name})`, async () => {
      const buf = make();
      const path = join(dir, `sample.${name}`);
      writeFileSync(path, buf);
      const expected = await summarize(buf);
      expect(expected.packets.length).toBeGreaterThan(40);
      expect(expected.error).toBeUndefined();
      for (const chunkSize of [64, 100, 1024, 4096, 1 << 20]) {
        expect(await summarize(path, { chunkSize, batchPackets: 7 })).toEqual(expected);
        expect(await summarize(path, { chunkSize, reuse: true })).toEqual(expected);
      }
      for (const piece of [1, 3, 64, 999, buf.length]) {
        expect(await summarize(chunked(buf, piece))).toEqual(expected);
      }
    });
  }

  it('delivers the packets before a fault, then the typed error, from every source', async () => {
    const good = sampleNg();
    // An EPB header claiming 13 bytes (not a multiple of 4) in the big-endian last section.
    const bad = Buffer.concat([good, Buffer.from([0, 0, 0, 6, 0, 0, 0, 13, 0, 0, 0, 0, 0, 0, 0, 0])]);
    const path = join(dir, 'bad.pcapng');
    writeFileSync(path, bad);
    const fromBuf = await summarize(bad);
    expect(fromBuf.error).toBe(`ERR_PCAP_BAD_BLOCK_LENGTH@${good.length + 4}`);
    expect(fromBuf.packets.length).toBe((await summarize(good)).packets.length);
    expect(await summarize(path, { chunkSize: 100 })).toEqual(fromBuf);
    expect(await summarize(chunked(bad, 50))).toEqual(fromBuf);
  });

  it('warns once for a cut last record, from a file as from a stream', async () => {
    const full = samplePcap();
    const cut = full.subarray(0, full.length - 5);
    const path = join(dir, 'cut.pcap');
    writeFileSync(path, cut);
    const a = await summarize(path, { chunkSize: 128 });
    const b = await summarize(chunked(cut, 77));
    expect(a).toEqual(b);
    expect(a.warnings).toHaveLength(1);
    expect(a.warnings[0]).toMatch(/^WARN_PCAP_TRUNCATED@/);
    expect(a.packets).toHaveLength(49);
  });

  it('reports a missing file as the system error', async () => {
    const r = openTrace(join(dir, 'nope.pcap'));
    await expect(r.batches().next()).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('stops early on close() and releases the file', async () => {
    const path = join(dir, 'early.pcap');
    writeFileSync(path, samplePcap());
    const r = openTrace(path, { batchPackets: 5, chunkSize: 256 });
    let n = 0;
    for await (const b of r.batches()) {
      n += b.count;
      if (n >= 10) break;
    }
    await r.close();
    expect(n).toBe(10);
    expect(r.format).toBe('pcap');
    expect(r.sections).toHaveLength(1);
  });

  it('offers packets() as objects with the same content', async () => {
    const buf = sampleNg();
    const objs = [];
    for await (const p of openTrace(chunked(buf, 333)).packets()) objs.push(p);
    const sync = readPacketsSync(buf);
    expect(objs.map((p) => [p.ts, p.capLen, p.interface, p.linkType, p.blockType, p.section.index])).toEqual(
      sync.map((p) => [p.ts, p.capLen, p.interface, p.linkType, p.blockType, p.section.index]),
    );
  });

  it('reads a long stream in bounded memory', async () => {
    // 256 MiB of 1500-byte records through a Readable that re-sends one 1 MiB piece: the reader
    // must not hold on to what it has parsed.
    const rec = pcapRecord('le', 1, 0, bytesOf(1484));
    const piece = Buffer.concat(Array.from({ length: Math.floor((1 << 20) / rec.length) }, () => rec));
    const rounds = 256;
    async function* gen(): AsyncGenerator<Buffer> {
      yield pcapHeader('le', false, 65535, 1);
      for (let i = 0; i < rounds; i++) yield piece;
    }
    const r = openTrace(Readable.from(gen()));
    const before = process.memoryUsage().rss;
    let peak = before;
    let n = 0;
    let k = 0;
    for await (const b of r.batches()) {
      n += b.count;
      if (++k % 32 === 0) peak = Math.max(peak, process.memoryUsage().rss);
    }
    expect(n).toBe(rounds * (piece.length / rec.length));
    // Generous bound: chunks in flight plus GC slack, far below the 256 MiB streamed.
    expect(peak - before).toBeLessThan(96 * 1024 * 1024);
  });
});

describe('where the file reader puts its reads', () => {
  // A read into a buffer a few bytes past the source's place in the page runs 3-4x slower (4K
  // aliasing in the kernel's copy); a large Buffer starts 16 bytes into its page. Each read must
  // land page-congruent to its file offset, whatever the tail in front of it.
  it('every chunk\'s new bytes start at the same place in their page as in the file', async () => {
    const path = join(dir, 'pages.bin');
    writeFileSync(path, Buffer.alloc(5 * 65536 + 123, 7));
    const chunkSize = 65536;
    const src = new FileSource(path, chunkSize, true);
    let tail = Buffer.alloc(0);
    let base = 0;
    const seen: number[] = [];
    for (let i = 0; i < 6; i++) {
      const keep = [0, 40, 100, 4095, 17, 3][i]!; // a tail of any length in front of the new bytes
      const { chunk, base: b, eof } = await src.refill(tail, base, 0);
      const newAt = b + tail.length; // file offset of the first byte read into this chunk
      if (chunk.length > tail.length) seen.push((pageOffset(chunk)! + tail.length - newAt) % 4096);
      if (eof) break;
      const cut = Math.max(0, chunk.length - keep);
      tail = Buffer.from(chunk.subarray(cut));
      base = b + cut;
    }
    await src.close();
    expect(seen.length).toBeGreaterThanOrEqual(5);
    expect(seen.map((x) => (x + 4096) % 4096)).toEqual(seen.map(() => 0));
  });
});
