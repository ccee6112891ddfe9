#!/usr/bin/env node
// `npm run prebuild [-- --if-missing]`: the N-API prebuild of the addon for this platform, made with
// prebuildify (node-gyp, binding.gyp) into prebuilds/<platform>-<arch>/tserver-ha.<libc>.node — the
// node-gyp-build layout that lib/native/loader.ts searches first. N-API: one binary for Node 20, 22, 24.
// Other platforms: run the same command on each (macOS arm64/x64, linux arm64, a musl image for Alpine),
// collect every prebuilds/<platform>-<arch>/ directory into one tree, then `npm pack` (README, "Install").
//
// A build output: never committed (.gitignore); `npm pack` (prepack) makes it when missing.
// npm also runs a script named `prebuild` before `build` (its pre-hook); that run does nothing here.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';

const root = resolve(dirname(new URL(import.meta.url).pathname), '..');
const args = process.argv.slice(2);
const dir = join(root, 'prebuilds', `${process.platform}-${process.arch}`);

/** The command line of process `pid` (Linux /proc, else ps), or '' when it cannot be read. */
function cmdline(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    const r = spawnSync('ps', ['-o', 'args=', '-p', String(pid)], { encoding: 'utf8' });
    return r.status === 0 ? r.stdout.trim() : '';
  }
}

function parentOf(pid) {
  try {
    return Number(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[1]);
  } catch {
    const r = spawnSync('ps', ['-o', 'ppid=', '-p', String(pid)], { encoding: 'utf8' });
    return r.status === 0 ? Number(r.stdout.trim()) : 0;
  }
}

/** True when npm runs this as the pre-hook of `npm run build` (not `npm run prebuild`). */
function isBuildHook() {
  if (process.env.npm_lifecycle_event !== 'prebuild') return false;
  let pid = process.ppid;
  for (let i = 0; i < 4 && pid > 1; i++, pid = parentOf(pid)) {
    const words = cmdline(pid).split(/\s+/);
    const at = words.findIndex((w) => w === 'run' || w === 'run-script' || w === 'rum' || w === 'urn');
    if (at >= 0 && /npm/.test(words.slice(0, at).join(' '))) return words[at + 1] === 'build';
  }
  return false;
}

function headersDir() {
  const candidates = [process.env.npm_config_nodedir, dirname(dirname(process.execPath))].filter(Boolean);
  return candidates.find((d) => existsSync(join(d, 'include', 'node', 'node_api.h')));
}

function existing() {
  try {
    return readdirSync(dir).filter((n) => n.endsWith('.node')).map((n) => join(dir, n));
  } catch {
    return [];
  }
}

if (isBuildHook()) process.exit(0);
if (args.includes('--if-missing') && existing().length > 0) {
  console.error(`tserver-ha: prebuild present: ${existing().map((f) => f.slice(root.length + 1)).join(', ')}`);
  process.exit(0);
}

const require = createRequire(join(root, 'package.json'));
let prebuildify;
let nodeGyp;
try {
  prebuildify = join(dirname(require.resolve('prebuildify/package.json')), 'bin.js');
  nodeGyp = join(dirname(require.resolve('node-gyp/package.json')), 'bin', 'node-gyp.js');
} catch {
  console.error('tserver-ha: prebuild needs the dev dependencies prebuildify and node-gyp (npm install in the repository)');
  process.exit(1);
}
const nodedir = headersDir();
// node-gyp rebuild replaces build/: keep the main (cmake-js) build where it is.
const kept = join(root, `build-kept-${process.pid}`);
const hadBuild = existsSync(join(root, 'build'));
if (hadBuild) renameSync(join(root, 'build'), kept);
let status = 1;
try {
  rmSync(dir, { recursive: true, force: true });
  const r = spawnSync(process.execPath, [prebuildify, '--napi', '--strip', '--tag-libc', '-t', process.versions.node], {
    cwd: root,
    stdio: 'inherit',
    env: {
      ...process.env,
      // Offline: the running Node's own headers, not a download.
      ...(nodedir ? { npm_config_nodedir: nodedir } : {}),
      PREBUILD_NODE_GYP: nodeGyp,
    },
  });
  status = r.status ?? 1;
} finally {
  rmSync(join(root, 'build'), { recursive: true, force: true });
  if (hadBuild) renameSync(kept, join(root, 'build'));
}
if (status !== 0) {
  console.error('tserver-ha: prebuildify failed');
  process.exit(status);
}
// The prebuild must load where it was built, through the package's own loader rules.
const files = existing();
const check = spawnSync(process.execPath, ['-e', `
  const b = require(process.argv[1]);
  const l = b.indexLayout;
  if (typeof b.decode !== 'function' || !b.io || l.headerSize !== 8 || l.stride !== 8) throw new Error('unexpected exports');
`, files[0] ?? ''], { stdio: 'inherit' });
if (files.length !== 1 || check.status !== 0) {
  console.error(`tserver-ha: the prebuild in ${dir} does not load (${files.length} file(s))`);
  process.exit(1);
}
console.error(`tserver-ha: prebuild ${files[0].slice(root.length + 1)} (${statSync(files[0]).size} bytes, N-API, Node >= 20)`);
