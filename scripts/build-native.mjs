#!/usr/bin/env node
// Builds the addon.
//   --install (the package's `install` script): nothing to do when a prebuild for this platform loads
//     (prebuilds/<platform>-<arch>/, the usual case); otherwise compile it — cmake-js in a clone (a dev
//     dependency), else node-gyp (npm's own, or the node-gyp package) — and when no compiler is found or
//     the build fails, say why and how to fix it, and exit 0: the package then runs on its pure-TypeScript
//     transport. What happened is kept in build/install-report.json, which the loader quotes at run time.
//   --strict (or TSERVER_HA_NATIVE=require): a failed build exits 1.  --gyp: node-gyp instead of cmake-js.
// Finds Node's headers itself (<prefix>/include/node) so the build works offline without npm's nodedir.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { createRequire } from 'node:module';

const args = process.argv.slice(2);
const install = args.includes('--install');
const strict = args.includes('--strict') || process.env.TSERVER_HA_NATIVE === 'require';
let useGyp = args.includes('--gyp');
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
const reportFile = join(root, 'build', 'install-report.json');

function report(outcome, detail) {
  try {
    mkdirSync(dirname(reportFile), { recursive: true });
    writeFileSync(reportFile, JSON.stringify({ outcome, detail, node: process.version, platform: `${process.platform}-${process.arch}`, at: new Date().toISOString() }) + '\n');
  } catch { /* read-only install: the loader says what it can without it */ }
}

/** A prebuild for this platform that loads in this Node (checked in a child: a bad binary may crash). */
function loadablePrebuild() {
  const dir = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  let names = [];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.node'));
  } catch {
    return undefined;
  }
  for (const n of names) {
    const r = spawnSync(process.execPath, ['-e', 'const b = require(process.argv[1]); if (typeof b.decode !== "function") process.exit(3)', join(dir, n)], { stdio: 'ignore' });
    if (r.status === 0) return join(dir, n);
  }
  return undefined;
}

/** `name` on PATH (a compiler, make, python), else undefined. */
function onPath(name) {
  for (const d of (process.env.PATH ?? '').split(delimiter)) {
    if (!d) continue;
    for (const ext of process.platform === 'win32' ? ['.exe', '.cmd', ''] : ['']) {
      if (existsSync(join(d, name + ext))) return join(d, name + ext);
    }
  }
  return undefined;
}

/** What a compile needs that is missing from PATH (Unix: a C++ compiler, make, python3 for node-gyp / cmake for cmake-js). */
function missingTools(gyp) {
  if (process.platform === 'win32') return [];
  const missing = [];
  const cxx = process.env.CXX ? [process.env.CXX] : ['c++', 'g++', 'clang++'];
  if (!cxx.some((c) => onPath(c) || existsSync(c))) missing.push('a C++ compiler (g++ or clang++)');
  if (!onPath('make')) missing.push('make');
  if (gyp && !onPath('python3') && !onPath('python')) missing.push('python3');
  if (!gyp && !onPath('cmake')) missing.push('cmake');
  return missing;
}

const HOW_TO_FIX = 'To get the native transport (heartbeats off the main thread: immune to event-loop stalls): ' +
  'install g++, make and python3 (Debian/Ubuntu: apt-get install g++ make python3; Alpine: apk add g++ make python3), ' +
  'then run `npm rebuild tserver-ha`; or install on a platform that has a prebuild (linux-x64 glibc). ' +
  'Check with: node -e "import(\'tserver-ha\').then(m => console.log(m.nativeStatus()))". ' +
  'Until then the pure-TypeScript transport is used (it works, but a stalled event loop can look like a dead server to the peer).';

if (install) {
  const pre = loadablePrebuild();
  if (pre) {
    report('prebuild', pre);
    console.log(`tserver-ha: using the prebuilt addon ${pre.slice(root.length + 1)}; nothing to compile`);
    process.exit(0);
  }
  // A clone has cmake-js (a dev dependency); an installed package compiles with node-gyp.
  let hasCmakeJs = false;
  try {
    require.resolve('cmake-js/package.json');
    hasCmakeJs = true;
  } catch { /* installed package */ }
  useGyp = !hasCmakeJs;
  const missing = missingTools(useGyp);
  if (missing.length > 0) {
    const why = `no prebuilt addon for ${process.platform}-${process.arch} (Node ${process.version}) and it cannot be compiled here: ${missing.join(', ')} not found on PATH`;
    report('no-compiler', why);
    console.warn(`tserver-ha: ${why}.\n${HOW_TO_FIX}`);
    process.exit(strict ? 1 : 0);
  }
}

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
  // npm's own node-gyp (npm sets npm_config_node_gyp in scripts), else the node-gyp package.
  let gyp = process.env.npm_config_node_gyp;
  if (!gyp || !existsSync(gyp)) {
    try {
      gyp = join(dirname(require.resolve('node-gyp/package.json')), 'bin', 'node-gyp.js');
    } catch {
      gyp = undefined;
    }
  }
  if (!gyp) {
    console.error('tserver-ha: node-gyp not found (neither npm\'s own nor the node-gyp package)');
    ok = false;
  } else {
    ok = run(process.execPath, [gyp, 'rebuild', ...(dir ? [`--nodedir=${dir}`] : []), ...(debug ? ['--debug'] : []), ...extra]);
  }
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
  if (install) report('build-failed', `no prebuilt addon for ${process.platform}-${process.arch} and compiling it with ${useGyp ? 'node-gyp' : 'cmake-js'} failed (see the install log)`);
  if (strict) {
    console.error(msg);
    process.exit(1);
  }
  console.warn(`${msg}\n${HOW_TO_FIX}`);
} else if (install) {
  report('compiled', join(root, 'build', 'Release', 'tserver_ha.node'));
}
