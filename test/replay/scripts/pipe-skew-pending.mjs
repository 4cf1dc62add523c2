// A hostile pipe reader, for tests: `node pipe-skew-pending.mjs NAME` opens the slave end NAME
// (pipe:X}0) and never consumes. Each line "skew" on its stdin rewrites every slot of the
// master -> slave direction in the shared memory (as root, through /proc/self/map_files): len
// 65535 and NS_MOREFRAG, what would make a sender that trusted the slots count nothing pending
// and wrong byte counts. Prints "open" once open and "skewed" after each rewrite; exits when its
// stdin closes.
import { createRequire } from 'node:module';
import { closeSync, writeSync } from 'node:fs';
import { openPipeShm } from '../../helpers/pipe-shm.mjs';
import { createInterface } from 'node:readline';

const require = createRequire(import.meta.url);
const { Port } = require('../../../build/Release/nmcap.node');

const name = process.argv[2];
const port = new Port(name);
process.stdout.write('open\n');

// Every TX slot rewritten to len 65535 with NS_MOREFRAG (layout: test/helpers/pipe-shm.mjs).
function skew() {
  const { fd, numSlots, slots0: slots } = openPipeShm(name);
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
