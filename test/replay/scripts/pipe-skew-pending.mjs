// A hostile pipe reader, for tests: `node pipe-skew-pending.mjs NAME` opens the slave end NAME
// (pipe:X}0) and never consumes. Each line "skew" on its stdin rewrites every slot of the
// master -> slave direction in the shared memory (as root, through /proc/self/map_files): len
// 65535 and NS_MOREFRAG, what would make a sender that trusted the slots count nothing pending
// and wrong byte counts. Prints "open" once open and "skewed" after each rewrite; exits when its
// stdin closes.
import { createRequire } from 'node:module';
import { closeSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { createInterface } from 'node:readline';

const require = createRequire(import.meta.url);
const { Port } = require('../../../build/Release/nmcap.node');

const name = process.argv[2];
const port = new Port(name);
process.stdout.write('open\n');

// Layout (native/ports/pipe): a header with num_slots at +8 and direction 0's slot array offset at
// +24; 16-byte slots (buf_idx u32, len u16, flags u16, ptr u64).
function skew() {
  const pipe = name.slice(5).split(/[{}]/)[0];
  const line = readFileSync('/proc/self/maps', 'utf8').split('\n').find((l) => l.includes(`/memfd:nmcap-pipe-${pipe}`));
  if (!line) throw new Error('shared memory mapping not found');
  const fd = openSync(`/proc/self/map_files/${line.split(' ')[0]}`, 'r+');
  const hdr = Buffer.alloc(32);
  readSync(fd, hdr, 0, 32, 0);
  const numSlots = hdr.readUInt32LE(8);
  const slots = Number(hdr.readBigUInt64LE(24));
  const lenFlags = Buffer.alloc(4);
  lenFlags.writeUInt16LE(65535, 0);
  lenFlags.writeUInt16LE(0x20, 2); // NS_MOREFRAG
  for (let i = 0; i < numSlots; i++) writeSync(fd, lenFlags, 0, 4, slots + 16 * i + 4);
  closeSync(fd);
}

const rl = createInterface({ input: process.stdin });
rl.on('line', (l) => {
  if (l.trim() !== 'skew') return;
  skew();
  process.stdout.write('skewed\n');
});
rl.on('close', () => {
  port.close();
  process.exit(0);
});
