// A hash map from small non-negative integers (30-bit hashes) to non-negative integers, in two
// typed arrays with open addressing. The matcher keeps one entry per expected packet; at a million
// entries this is several times faster than a Map and costs no objects for the garbage collector.

export class IntMap {
  private keys: Int32Array;
  private vals: Int32Array;
  private mask: number;
  private used = 0;

  constructor(expected = 16) {
    let cap = 16;
    while (cap < expected * 2) cap <<= 1;
    this.keys = new Int32Array(cap).fill(-1);
    this.vals = new Int32Array(cap);
    this.mask = cap - 1;
  }

  private slot(key: number): number {
    let i = Math.imul(key, 0x9e3779b1) >>> 0 & this.mask;
    while (this.keys[i] !== -1 && this.keys[i] !== key) i = (i + 1) & this.mask;
    return i;
  }

  /** the value, or -1 when absent */
  get(key: number): number {
    const i = this.slot(key);
    return this.keys[i] === key ? this.vals[i]! : -1;
  }

  /** value -1 marks the key as absent again (the slot stays taken: keys are never removed) */
  set(key: number, value: number): void {
    let i = this.slot(key);
    if (this.keys[i] !== key) {
      if ((this.used + 1) * 2 > this.keys.length) {
        this.grow();
        i = this.slot(key);
      }
      this.keys[i] = key;
      this.used++;
    }
    this.vals[i] = value;
  }

  private grow(): void {
    const { keys, vals } = this;
    this.keys = new Int32Array(keys.length * 2).fill(-1);
    this.vals = new Int32Array(keys.length * 2);
    this.mask = this.keys.length - 1;
    this.used = 0;
    for (let i = 0; i < keys.length; i++) if (keys[i] !== -1) this.set(keys[i]!, vals[i]!);
  }
}
