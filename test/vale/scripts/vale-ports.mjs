// Child process for test/vale/*.test.ts, run inside a namespace (interfaces, bridges and packet
// sockets belong to the namespace they are made in). Uses the Port API from dist/. Prints JSON
// lines on stdout; the test decides what is right.
//
//   learn SWITCH         three ports a, b, c: a scripted exchange (see below), then what each got
//   hold NAME DIR        open NAME, print {"ready", info, choice}, wait for "close" on stdin, close
//   sendrecv NAME HEX    open NAME, send one frame, then print each frame received until "close"
//   open NAME            try to open NAME; print {"ok"} or {"code", "message"}
import { createInterface } from 'node:readline';

const { openPort } = await import('../../../dist/ports/open.js');
const { WAIT_RX } = await import('../../../dist/ports/binding.js');
const { scaled } = await import('../../helpers/slowness.mjs');

const MAC = { a: '02:00:00:00:00:0a', b: '02:00:00:00:00:0b', c: '02:00:00:00:00:0c', x: '02:00:00:00:00:ee', bcast: 'ff:ff:ff:ff:ff:ff' };
const mac = (m) => Buffer.from(m.split(':').map((h) => parseInt(h, 16)));

/** dst, src, ethertype 0x88b5 (local experimental), then the tag as text, padded to 60 bytes. */
export function frame(dst, src, tag) {
  const f = Buffer.alloc(60);
  mac(dst).copy(f, 0);
  mac(src).copy(f, 6);
  f.writeUInt16BE(0x88b5, 12);
  f.write(`${tag};`, 14, 'latin1');
  return f;
}

const tagOf = (d) => (d.length >= 14 && d.readUInt16BE(12) === 0x88b5 ? d.toString('latin1', 14).split(';')[0] : `other:${d.length}`);

function send(p, f) {
  const ok = p.port.inject(f);
  p.port.txsync();
  return ok;
}

const [mode, ...args] = process.argv.slice(2);
const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);

if (mode === 'learn') {
  const sw = args[0];
  const ports = {};
  for (const n of ['a', 'b', 'c']) ports[n] = openPort(`${sw}:${n}`, 'both');
  const got = { a: [], b: [], c: [] };
  const sent = [];
  const step = (from, dst, tag) => sent.push({ from, tag, ok: send(ports[from], frame(MAC[dst] ?? dst, MAC[from], tag)) });
  step('a', 'bcast', 'bcast-from-a'); // floods to b and c; teaches the switch A is at a
  step('b', 'a', 'b-to-a'); // A is known: only a; teaches B
  step('a', 'x', 'a-to-unknown'); // unknown destination: floods to b and c
  step('c', 'b', 'c-to-b'); // B is known: only b
  step('a', 'a', 'a-to-a'); // destination learnt on the ingress port: goes nowhere
  const runt = Buffer.alloc(10, 0xff); // under 14 bytes: no Ethernet header
  sent.push({ from: 'a', tag: 'runt', ok: send(ports.a, runt) });
  // Markers last: once a port has the others' markers, everything sent before them has arrived.
  for (const n of ['a', 'b', 'c']) step(n, 'bcast', `marker-${n}`);
  const deadline = Date.now() + scaled(10_000); // a hang guard only; the markers end the wait
  const done = (n) => ['a', 'b', 'c'].filter((m) => m !== n).every((m) => got[n].includes(`marker-${m}`));
  while (!['a', 'b', 'c'].every(done) && Date.now() < deadline) {
    for (const n of ['a', 'b', 'c']) {
      ports[n].port.wait(WAIT_RX, 20);
      ports[n].port.rxsync();
      for (const r of ports[n].port.receive()) got[n].push(tagOf(r.data));
    }
  }
  for (const n of ['a', 'b', 'c']) ports[n].port.close();
  out({ sent, got, descriptions: Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, v.info.description])) });
} else if (mode === 'hold') {
  const p = openPort(args[0], args[1] ?? 'both');
  out({ ready: true, info: p.info, choice: p.choice });
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (l) => {
    if (l.trim() === 'close') {
      p.port.close();
      out({ closed: true });
      rl.close();
    }
  });
} else if (mode === 'sendrecv') {
  // open NAME, send the frame HEX, then print {"frame": HEX} for each frame received until "close"
  const p = openPort(args[0], 'both');
  send(p, Buffer.from(args[1], 'hex'));
  out({ ready: true });
  let open = true;
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (l) => {
    if (l.trim() === 'close') open = false;
  });
  const pump = () => {
    if (!open) {
      p.port.close();
      out({ closed: true });
      rl.close();
      return;
    }
    p.port.rxsync();
    for (const r of p.port.receive()) out({ frame: Buffer.from(r.data).toString('hex') });
    setTimeout(pump, 5);
  };
  pump();
} else if (mode === 'open') {
  try {
    const p = openPort(args[0], 'both');
    p.port.close();
    out({ ok: true });
  } catch (e) {
    out({ code: e.code, message: e.message });
  }
}
