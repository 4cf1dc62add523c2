// A classic pcap (µs, little-endian, Ethernet) of given frames, 1 ms apart: traces for tests that
// feed tcpdump and nmcap the same packets. Frames longer than `snap` are cut, as a capture would.
export function classicPcap(frames: readonly Buffer[], snap = 262144): Buffer {
  const parts: Buffer[] = [];
  const h = Buffer.alloc(24);
  h.writeUInt32LE(0xa1b2c3d4, 0);
  h.writeUInt16LE(2, 4);
  h.writeUInt16LE(4, 6);
  h.writeUInt32LE(snap, 16);
  h.writeUInt32LE(1, 20);
  parts.push(h);
  frames.forEach((f, i) => {
    const cap = Math.min(f.length, snap);
    const r = Buffer.alloc(16);
    r.writeUInt32LE(1_700_000_000 + Math.floor(i / 1000), 0);
    r.writeUInt32LE((i % 1000) * 1000, 4);
    r.writeUInt32LE(cap, 8);
    r.writeUInt32LE(f.length, 12);
    parts.push(r, f.subarray(0, cap));
  });
  return Buffer.concat(parts);
}
