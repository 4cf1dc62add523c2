import { describe, expect, it } from 'vitest';
import { createVethBed, netnsUnavailable } from '../helpers/netns.js';

const why = netnsUnavailable();

describe.skipIf(why !== null)(`veth test bed${why ? ` (skipped: ${why})` : ''}`, () => {
  it('creates a namespace with a veth pair that is up, and removes it', () => {
    const bed = createVethBed();
    try {
      const links = bed.exec('ip', ['-o', 'link', 'show']);
      expect(links).toMatch(/va@vb.*state UP/);
      expect(links).toMatch(/vb@va.*state UP/);
    } finally {
      bed.destroy();
    }
    expect(() => bed.exec('true', [])).toThrow();
  });
});
