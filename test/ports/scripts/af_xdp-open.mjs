// Tries to open each port given as a JSON array of [name, options] in --cases and prints one JSON
// line per case: the error code and message, or the port info (the port is closed at once).
import { addon, arg } from './af_xdp-frames.mjs';

const { Port } = addon();
for (const [name, opts] of JSON.parse(arg('cases', '[]'))) {
  try {
    const p = new Port(name, opts);
    const info = p.info();
    p.close();
    p.close(); // idempotent
    console.log(JSON.stringify({ name, ok: true, info }));
  } catch (e) {
    console.log(JSON.stringify({ name, code: e.code, message: e.message }));
  }
}
