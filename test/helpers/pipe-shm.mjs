// The shared memory of one of our pipes, opened read-write from inside a process that holds the
// port, so that test scripts can play a hostile peer. The layout is native/ports/pipe's: a
// header (num_slots u32 at +8, direction 0's slot array offset u64 at +24), then per direction
// a control block (prod at +0, cons at +64) and 16-byte slots (buf_idx u32, len u16, flags u16,
// ptr u64).
import { openSync, readFileSync, readSync } from 'node:fs';

/** For pipe:NAME{N / pipe:NAME}N: { fd, numSlots, slots0 } of the mapping this process has. */
export function openPipeShm(portName) {
  const pipe = portName.slice('pipe:'.length).split(/[{}]/)[0];
  const line = readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .find((l) => l.includes(`/memfd:nmcap-pipe-${pipe}`));
  if (!line) throw new Error('shared memory mapping not found');
  const fd = openSync(`/proc/self/map_files/${line.split(' ')[0]}`, 'r+');
  const hdr = Buffer.alloc(32);
  readSync(fd, hdr, 0, 32, 0);
  return { fd, numSlots: hdr.readUInt32LE(8), slots0: Number(hdr.readBigUInt64LE(24)) };
}
