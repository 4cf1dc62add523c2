// Runs a capture file through both readers, src/pcap (the reference) and the native walk of
// streamed replay (the test addon's traceWalk, which reads as the reader thread reads), and
// checks that they agree packet by packet: timestamps, lengths, link types, bytes, warnings, error.
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect } from 'vitest';

import { PcapFormatError, type PcapWarning } from '../../src/errors.js';
import { readBatchesSync } from '../../src/pcap/index.js';
import { nativeTest } from '../helpers/native-test.js';

interface NativeWalk {
  linkTypes: number[];
  linkType: Uint32Array;
  caplen: Uint32Array;
  origlen: Uint32Array;
  sec: Float64Array;
  nsec: Uint32Array;
  data: Buffer;
  batches: number;
  problems: { error: boolean; code: string; offset: number; reason: string }[];
  done: number;
}
const traceWalk = (nativeTest as unknown as { traceWalk(fd: number, chunkBytes: number): NativeWalk }).traceWalk;

export interface Walk {
  /** the distinct link types, in order of first appearance */
  linkTypes: number[];
  packets: { sec: number; nsec: number; caplen: number; origlen: number; linkType: number }[];
  data: Buffer;
  warnings: { code: string; offset: number; message: string }[];
  error?: { code: string; offset: number; reason: string };
}

const dir = mkdtempSync(join(tmpdir(), 'nmcap-walker-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let seq = 0;

export function tsWalk(buf: Buffer): Walk {
  const w: Walk = { linkTypes: [], packets: [], data: Buffer.alloc(0), warnings: [] };
  const warnings: PcapWarning[] = [];
  const parts: Buffer[] = [];
  try {
    for (const b of readBatchesSync(buf, { onWarning: (x) => warnings.push(x), batchPackets: 7 })) {
      for (let i = 0; i < b.count; i++) {
        const linkType = b.section.interfaces[b.iface[i]!]!.linkType;
        if (!w.linkTypes.includes(linkType)) w.linkTypes.push(linkType);
        w.packets.push({ sec: b.tsSec[i]!, nsec: b.tsNsec[i]!, caplen: b.capLen[i]!, origlen: b.origLen[i]!, linkType });
        parts.push(Buffer.from(b.buffer.subarray(b.dataOffset[i]!, b.dataOffset[i]! + b.capLen[i]!)));
      }
    }
  } catch (e) {
    if (!(e instanceof PcapFormatError)) throw e;
    w.error = { code: e.code, offset: e.offset, reason: e.reason };
  }
  w.data = Buffer.concat(parts);
  w.warnings = warnings.map((x) => ({ code: x.code, offset: x.offset, message: x.message }));
  return w;
}

export function nativeWalk(buf: Buffer, chunkBytes: number): Walk {
  const path = join(dir, `t${seq++}`);
  writeFileSync(path, buf);
  const fd = openSync(path, 'r');
  let n: NativeWalk;
  try {
    n = traceWalk(fd, chunkBytes);
  } finally {
    closeSync(fd);
    rmSync(path);
  }
  const w: Walk = { linkTypes: [], packets: [], data: n.data, warnings: [] };
  for (const lt of n.linkTypes) if (!w.linkTypes.includes(lt)) w.linkTypes.push(lt);
  for (let i = 0; i < n.caplen.length; i++) {
    w.packets.push({ sec: n.sec[i]!, nsec: n.nsec[i]!, caplen: n.caplen[i]!, origlen: n.origlen[i]!, linkType: n.linkType[i]! });
  }
  for (const p of n.problems) {
    if (p.error) w.error = { code: p.code, offset: p.offset, reason: p.reason };
    else w.warnings.push({ code: p.code, offset: p.offset, message: p.reason });
  }
  return w;
}

/** Both walkers over buf; the native one at several chunk sizes (small ones split records). */
export function expectSame(buf: Buffer, chunks = [64, 1000, 1 << 16]): Walk {
  const want = tsWalk(buf);
  for (const c of chunks) {
    const got = nativeWalk(buf, c);
    // The link type is said once known, packets or not (src/pcap says it with packets).
    if (want.packets.length > 0) expect(got.linkTypes, `chunk ${c}`).toEqual(want.linkTypes);
    expect(got.packets, `chunk ${c}`).toEqual(want.packets);
    expect(got.data.equals(want.data), `chunk ${c}: packet bytes`).toBe(true);
    expect(got.warnings, `chunk ${c}`).toEqual(want.warnings);
    expect(got.error, `chunk ${c}`).toEqual(want.error);
  }
  return want;
}
