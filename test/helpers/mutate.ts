// Mutated capture files for cross-checks of two readers: bit flips, length fields overwritten with
// edge values, cuts and splices, from a seeded generator (the same files on every run).

const INTERESTING = [0, 1, 15, 16, 17, 128, 129, 262144, 262145, 999999, 1000000, 0x7fffffff, 0xffffffff];

/** `count` files, each one of `seeds` with one to three mutations; `index` counts from 0. */
export function* mutatedFiles(seeds: Buffer[], count: number, seed: number): Generator<{ file: Buffer; index: number }> {
  let a = seed;
  const rand = (): number => {
    a = (a * 1103515245 + 12345) >>> 0;
    return a / 4294967296;
  };
  const pick = (n: number): number => Math.floor(rand() * n);
  for (let index = 0; index < count; index++) {
    let b = Buffer.from(seeds[pick(seeds.length)]!);
    for (let r = 1 + pick(3); r > 0 && b.length > 0; r--) {
      const k = pick(4);
      if (k === 0) for (let i = 1 + pick(6); i > 0; i--) b[pick(b.length)]! ^= 1 << pick(8);
      else if (k === 1) {
        const at = pick(b.length >> 2) * 4;
        if (at + 4 <= b.length) b.writeUInt32LE(INTERESTING[pick(INTERESTING.length)]! >>> 0, at);
      } else if (k === 2) b = b.subarray(0, pick(b.length + 1));
      else {
        const at = pick(b.length);
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + pick(20))]);
      }
    }
    yield { file: b, index };
  }
}
