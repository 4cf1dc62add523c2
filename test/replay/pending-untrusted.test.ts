// A pipe peer can write the sender's TX slots (they are shared memory). The counts nmreplay reports
// (sent, pending, bytes) come from what it put into the slots and from the checked ring indices,
// never from slot len/flags the peer may have rewritten: a reader that took nothing and marked
// every slot a 65535-byte fragment still leaves every packet counted as pending, none as sent.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { numberedTrace } from '../helpers/numbered-trace.js';
import { pipeName, start, tempDir } from '../helpers/cli.js';

const tmp = tempDir();
let trace: string;
const SCRIPT = new URL('./scripts/pipe-skew-pending.mjs', import.meta.url).pathname;

beforeAll(async () => {
  trace = await numberedTrace(tmp.path('hundred.pcap'), 100);
});

afterAll(() => tmp.cleanup());

/** Resolves with the first stdout line of `child` matching re. */
async function line(child: ReturnType<typeof spawn>, re: RegExp): Promise<void> {
  let out = '';
  while (!re.test(out)) {
    const [d] = (await once(child.stdout!, 'data')) as [Buffer];
    out += d.toString();
  }
}

describe('pending counts with a hostile pipe reader', () => {
  it.skipIf(process.getuid?.() !== 0)('slots rewritten by the peer (len 65535, NS_MOREFRAG) do not skew sent, pending or bytes (needs root for map_files)', async () => {
    const name = pipeName('sk');
    const peer = spawn(process.execPath, [SCRIPT, `pipe:${name}}0`], { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      await line(peer, /^open$/m);
      const rep = start('nmreplay', ['-i', `pipe:${name}{0`, trace, '-t', '--json']);
      // The reader takes nothing: after a second nmreplay says it is waiting; then the peer strikes.
      await rep.waitFor(/waiting for a reader/, 20_000);
      peer.stdin!.write('skew\n');
      await line(peer, /^skewed$/m);
      rep.child.kill('SIGINT');
      const done = await rep.done;
      expect(done.code, done.stderr).toBe(130);
      const j = JSON.parse(done.stdout);
      expect(j).toMatchObject({ queued: 100, queuedBytes: 6000, pending: 100, packets: 0, bytes: 0 });
      expect(done.stderr).toMatch(/Never left \(pending\):\s+100/);
    } finally {
      peer.stdin!.end();
      await once(peer, 'exit');
    }
  });
});
