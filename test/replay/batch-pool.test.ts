// The streamed replay's recycled batch memory: a slot is an exact copy of the batch (bytes rebased
// to the slot's own buffer), and slots given back are used again instead of new memory.
import { expect, it } from 'vitest';
import { PcapWriter, openSink, readBatchesSync } from '../../src/pcap/index.js';
import { BatchPool } from '../../src/replay/batch-pool.js';
import { tempDir } from '../helpers/cli.js';
import { readFileSync } from 'node:fs';

it('copies each batch exactly and reuses the slots it gets back', async () => {
  const tmp = tempDir();
  try {
    const f = tmp.path('t.pcap');
    const w = new PcapWriter(openSink(f), { linkType: 1, snapLen: 65535 });
    for (let i = 0; i < 300; i++) w.writePacket({ ts: 1_700_000_000_000_000_000n + BigInt(i) * 1000n, data: Buffer.alloc(14 + (i % 200), i) });
    await w.close();
    const batches = [...readBatchesSync(readFileSync(f), { batchPackets: 100 })];
    expect(batches).toHaveLength(3);
    const pool = new BatchPool();
    const slots = batches.map((b) => {
      const s = pool.take(b);
      expect(s.count).toBe(b.count);
      for (let i = 0; i < b.count; i++) {
        expect(Buffer.from(s.data.subarray(s.off[i]!, s.off[i]! + s.capLen[i]!)).equals(b.data(i))).toBe(true);
        expect([s.origLen[i], s.sec[i], s.nsec[i]]).toEqual([b.origLen[i], b.tsSec[i], b.tsNsec[i]]);
      }
      return s;
    });
    for (const s of slots) pool.give(s);
    const again = batches.map((b) => pool.take(b));
    expect(new Set(again.map((s) => s.data))).toEqual(new Set(slots.map((s) => s.data)));
  } finally {
    tmp.cleanup();
  }
});
