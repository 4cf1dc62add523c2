// A hostile pipe end, for tests: `node pipe-corrupt.mjs NAME MODE`. It opens NAME with the addon
// like any peer, then writes into the shared memory directly (through /proc/self/map_files, as
// root) what no correct peer writes. Direction 0 (master -> slave) is the one it attacks, so
// the test's end is the slave (receiver) for rx-* modes and the master (sender) for tx-* modes.
//   rx-bufidx    sends "good", then a slot naming buffer 0xfffffff0
//   rx-len       sends "good", then a slot whose len (60000) overruns its 2048-byte buffer
//   rx-indirect  sends "good", then an NS_INDIRECT slot pointing at address 0x1000
//   rx-prod      sets the producer index to 99999 (beyond the ring)
//   tx-bufidx    (as receiver) rewrites every slot's buffer index to 0xfffffff0
//   tx-bufidx-5  (as receiver) the same from slot 5 on (the sender meets it inside a run of packets)
//   tx-cons      (as receiver) sets the consumer index to 99999
// Prints "open\n" once the end is open, "done\n" once the damage is done; then waits for its
// stdin to close.
import { createRequire } from 'node:module';
import { closeSync, readSync, writeSync } from 'node:fs';
import { openPipeShm } from '../../helpers/pipe-shm.mjs';

const require = createRequire(import.meta.url);
const { Port } = require('../../../build/Release/nmcap.node');

const [name, mode] = process.argv.slice(2);
const port = new Port(name);
process.stdout.write('open\n');

// The pipe's shared memory, as test/helpers/pipe-shm.mjs describes it.
const { fd, numSlots, slots0 } = openPipeShm(name);
const CTL0 = 64; // ctl[0] follows the 48-byte header, aligned to 64
const u32 = (v) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
};
const writeSlot = (i, { bufIdx, len, flags, ptr }) => {
  const b = Buffer.alloc(16);
  readSync(fd, b, 0, 16, slots0 + 16 * i);
  if (bufIdx !== undefined) b.writeUInt32LE(bufIdx >>> 0, 0);
  if (len !== undefined) b.writeUInt16LE(len, 4);
  if (flags !== undefined) b.writeUInt16LE(flags, 6);
  if (ptr !== undefined) b.writeBigUInt64LE(ptr, 8);
  writeSync(fd, b, 0, 16, slots0 + 16 * i);
};
const setProd = (v) => writeSync(fd, u32(v), 0, 4, CTL0);
const setCons = (v) => writeSync(fd, u32(v), 0, 4, CTL0 + 64);

if (mode.startsWith('rx-') && mode !== 'rx-prod') {
  port.inject(Buffer.from('good'));
  port.txsync();
  const at = port.ring('tx', 0).head; // the next slot: fill it badly and publish it by hand
  if (mode === 'rx-bufidx') writeSlot(at, { bufIdx: 0xfffffff0, len: 60, flags: 0 });
  if (mode === 'rx-len') writeSlot(at, { len: 60000, flags: 0 });
  if (mode === 'rx-indirect') writeSlot(at, { len: 60, flags: 0x10, ptr: 0x1000n });
  setProd((at + 1) % numSlots);
} else if (mode === 'rx-prod') {
  setProd(99999);
} else if (mode === 'tx-bufidx' || mode === 'tx-bufidx-5') {
  for (let i = mode === 'tx-bufidx' ? 0 : 5; i < numSlots; i++) writeSlot(i, { bufIdx: 0xfffffff0 });
} else if (mode === 'tx-cons') {
  setCons(99999);
} else {
  throw new Error(`unknown mode ${mode}`);
}
closeSync(fd);
process.stdout.write('done\n');
process.stdin.resume();
process.stdin.on('end', () => {
  port.close();
  process.exit(0);
});
