// A small classic pcap for replay tests: `count` Ethernet frames of `len` bytes (zeros), packet i
// carrying i as a big-endian u32 at offset 14, stamped 1 us apart.
import { PcapWriter, openSink } from '../../src/pcap/index.js';

export async function numberedTrace(path: string, count: number, len = 60): Promise<string> {
  const w = new PcapWriter(openSink(path), { linkType: 1, snapLen: 65535 });
  for (let i = 0; i < count; i++) {
    const d = Buffer.alloc(len, 0);
    d.writeUInt32BE(i, 14);
    w.writePacket({ ts: 1_700_000_000_000_000_000n + BigInt(i) * 1000n, data: d });
  }
  await w.close();
  return path;
}
