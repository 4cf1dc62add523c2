// Ports and child processes a test opened, closed and killed after each test whatever its end.
import type { ChildProcess } from 'node:child_process';
import { afterEach } from 'vitest';

export interface Leftovers<P extends { close(): void }> {
  /** ports to close after the test (a port closed already is fine) */
  opened: P[];
  /** children to SIGKILL after the test */
  children: ChildProcess[];
}

/** Registers the afterEach hook in the calling test file and returns the lists it empties. */
export function cleanupAfterEach<P extends { close(): void } = { close(): void }>(): Leftovers<P> {
  const left: Leftovers<P> = { opened: [], children: [] };
  afterEach(() => {
    for (const p of left.opened.splice(0)) {
      try {
        p.close();
      } catch {
        /* closed already */
      }
    }
    for (const c of left.children.splice(0)) c.kill('SIGKILL');
  });
  return left;
}
