#!/usr/bin/env node
// Builds the addon. Run by `npm install`: a failed build is not fatal there (the package falls back to
// its pure-TypeScript transport with a warning), unless --strict or TSERVER_HA_NATIVE=require.
// Finds Node's headers itself (<prefix>/include/node) so the build works offline without npm's nodedir.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createRequire } from 'node:module';

const args = process.argv.slice(2);
const strict = args.includes('--strict') || process.env.TSERVER_HA_NATIVE === 'require';
const useGyp = args.includes('--gyp');
const debug = args.includes('--debug');
const extra = [];
const i = args.indexOf('--');
if (i >= 0) extra.push(...args.slice(i + 1));

if (process.env.TSERVER_HA_NATIVE === 'off') {
  console.log('tserver-ha: TSERVER_HA_NATIVE=off, not building the addon');
  process.exit(0);
}

const root = resolve(dirname(new URL(import.meta.url).pathname), '..');
const require = createRequire(join(root, 'package.json'));

function nodeDir() {
  const candidates = [process.env.npm_config_nodedir, dirname(dirname(process.execPath))].filter(Boolean);
  return candidates.find((d) => existsSync(join(d, 'include', 'node', 'node_api.h')));
}

function run(cmd, argv, env) {
  const r = spawnSync(cmd, argv, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  if (r.error) console.error(`tserver-ha: could not run ${cmd}: ${r.error.message}`);
  return r.status === 0;
}

const dir = nodeDir();
if (!dir) console.warn('tserver-ha: Node headers not found next to this node binary; the build may try to download them');
let ok;
if (useGyp) {
  const gyp = join(dirname(require.resolve('node-gyp/package.json')), 'bin', 'node-gyp.js');
  ok = run(process.execPath, [gyp, 'rebuild', ...(dir ? [`--nodedir=${dir}`] : []), ...(debug ? ['--debug'] : []), ...extra]);
} else {
  // cmake-js 8 has no CLI flag for the headers directory: it reads npm's `nodedir` from the
  // npm_config_nodedir environment variable (npm sets it only inside npm scripts, and npm 12 drops it),
  // so we set it ourselves. `-d` is the *project* directory, not the headers.
  const cmakeJs = join(dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');
  ok = run(process.execPath, [cmakeJs, 'compile', '--directory', root, ...(debug ? ['--debug'] : []), ...extra],
    dir ? { npm_config_nodedir: dir } : {});
}

if (!ok) {
  const msg = `tserver-ha: building the native addon failed (${useGyp ? 'node-gyp' : 'cmake-js'}); the pure-TypeScript transport will be used.`;
  if (strict) {
    console.error(msg);
    process.exit(1);
  }
  console.warn(msg);
}
