// Which packets of a sequence arrived in order: the longest non-decreasing subsequence of their
// expected positions is kept as "in order"; every other packet counts as reordered. That is the
// fewest packets that must move to restore the order, so one late packet counts once, not for
// every packet it overtook.

/** keep[j] is true for the members of one longest non-decreasing subsequence of seq. O(n log n). */
export function nonDecreasingRun(seq: ArrayLike<number>): boolean[] {
  const n = seq.length;
  const keep = new Array<boolean>(n).fill(false);
  if (n === 0) return keep;
  let sorted = true;
  for (let j = 1; j < n && sorted; j++) sorted = seq[j - 1]! <= seq[j]!;
  if (sorted) return keep.fill(true); // the usual case, in one pass
  const tails: number[] = []; // tails[l]: index in seq of the smallest tail of a run of length l+1
  const prev = new Int32Array(n).fill(-1);
  for (let j = 0; j < n; j++) {
    const v = seq[j]!;
    let lo = 0;
    let hi = tails.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (seq[tails[mid]!]! <= v) lo = mid + 1;
      else hi = mid;
    }
    if (lo > 0) prev[j] = tails[lo - 1]!;
    tails[lo] = j;
  }
  for (let j = tails[tails.length - 1]!; j >= 0; j = prev[j]!) keep[j] = true;
  return keep;
}
