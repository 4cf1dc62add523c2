#!/usr/bin/env node
// Builds the native addon with the node-gyp that ships inside npm, against the headers of the
// Node.js that runs this script. Passing --nodedir keeps node-gyp from downloading headers:
// no install step may download anything but npm packages.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function findNodeDir() {
  const candidates = [
    process.env.npm_config_nodedir,
    resolve(dirname(process.execPath), '..'),
    '/usr',
    '/usr/local',
  ].filter(Boolean);
  for (const dir of candidates) {
    if (existsSync(join(dir, 'include', 'node', 'node_api.h'))) return dir;
  }
  return null;
}

function findNodeGyp() {
  const npmDirs = [
    process.env.npm_execpath ? resolve(dirname(process.env.npm_execpath), '..') : null,
    resolve(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm'),
    '/usr/lib/node_modules/npm',
    '/usr/local/lib/node_modules/npm',
  ].filter(Boolean);
  for (const dir of npmDirs) {
    const js = join(dir, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
    if (existsSync(js)) return js;
  }
  return null;
}

const nodedir = findNodeDir();
if (!nodedir) {
  console.error(
    'nmcap: cannot find Node.js headers (include/node/node_api.h); install the nodejs headers package ' +
      'or set npm_config_nodedir to the prefix that holds include/node',
  );
  process.exit(1);
}
const nodeGyp = findNodeGyp();
if (!nodeGyp) {
  console.error('nmcap: cannot find the node-gyp bundled with npm; run the build through npm (npm ci)');
  process.exit(1);
}
const jobs = process.env.JOBS ?? 'max';
const r = spawnSync(process.execPath, [nodeGyp, 'rebuild', `--nodedir=${nodedir}`, `--jobs=${jobs}`], {
  cwd: root,
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
