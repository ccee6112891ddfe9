/**
 * The package as a production team gets it: `npm pack`, then the tarball installed into fresh projects —
 * with `--ignore-scripts` (pnpm 10, npm's coming default), with scripts, and without a compiler on PATH.
 * Asserts what ships, which transport each install path gets, that the CLI (bench included), the
 * examples, `require()` and `tserver-ha/metrics` work from the installed package, and the message a team
 * sees when the addon cannot be had. Prints the measured facts (size, file list, install times) as one
 * JSON line prefixed `package-facts:`.
 *
 * `npm run test:package` (vitest.package.config.ts), alone: packing runs prepack (dist/ rebuilt, the
 * prebuild made when missing). Installs use npm's cache (`--prefer-offline`).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const plat = `${process.platform}-${process.arch}`;
const hasPrebuildPlatform = plat === 'linux-x64';
let tmp: string;
let tgz: string;
let pack: { size: number; unpackedSize: number; entryCount: number; files: { path: string; size: number }[] };
const facts: Record<string, unknown> = {};

function sh(cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): { code: number | null; out: string; err: string; ms: number } {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, encoding: 'utf8', timeout: opts.timeoutMs ?? 300_000, maxBuffer: 64 * 1024 * 1024 });
  return { code: r.status, out: r.stdout ?? '', err: r.stderr ?? '', ms: performance.now() - t0 };
}

/** A fresh project with the tarball (and prom-client) installed; returns its directory and the install time. */
function consumer(name: string, flags: string[], env?: NodeJS.ProcessEnv): { dir: string; ms: number; log: string } {
  const dir = join(tmp, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `consumer-${name}`, version: '1.0.0', private: true, type: 'module' }));
  const r = sh('npm', ['install', tgz, 'prom-client@^15', '--no-audit', '--no-fund', '--prefer-offline', ...flags], { cwd: dir, env });
  expect(r.code, `${r.out}\n${r.err}`).toBe(0);
  return { dir, ms: Math.round(r.ms), log: r.out + r.err };
}

function nodeIn(dir: string, code: string, env?: NodeJS.ProcessEnv): { code: number | null; out: string; err: string } {
  return sh(process.execPath, ['--input-type=module', '-e', code], { cwd: dir, env });
}

const STATUS = `
  const m = await import('tserver-ha');
  const warnings = [];
  process.on('warning', (w) => warnings.push({ code: w.code, message: w.message }));
  const status = m.nativeStatus();
  let native;
  try {
    new m.TServerPair({ name: 'P', primary: { host: '127.0.0.1', port: 1 }, backup: { host: '127.0.0.1', port: 2 }, transport: 'native' });
    native = 'ok';
  } catch (e) { native = e.name + ': ' + e.message; }
  const auto = new m.TServerPair({ name: 'P', primary: { host: '127.0.0.1', port: 1 }, backup: { host: '127.0.0.1', port: 2 } }).state.endpoints.primary.transport;
  await new Promise((r) => setImmediate(r));
  console.log(JSON.stringify({ status, native, auto, warnings }));
`;
type Status = { status: { loaded: boolean; from?: string; reason?: string }; native: string; auto: string; warnings: { code: string; message: string }[] };

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'tsha-package-'));
  const t0 = performance.now();
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', tmp], { cwd: root, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  facts.packMs = Math.round(performance.now() - t0);
  const json = out.slice(out.indexOf('['));
  pack = (JSON.parse(json) as typeof pack[])[0]!;
  tgz = join(tmp, (JSON.parse(json) as { filename: string }[])[0]!.filename);
  facts.tarballBytes = pack.size;
  facts.unpackedBytes = pack.unpackedSize;
  facts.files = pack.entryCount;
}, 600_000);

afterAll(() => {
  console.log(`package-facts: ${JSON.stringify(facts)}`);
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('the tarball', () => {
  it('ships what users run and nothing else', () => {
    const paths = pack.files.map((f) => f.path);
    for (const must of [
      'package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'dist/lib/index.js', 'dist/lib/index.d.ts', 'dist/lib/metrics/index.js',
      'dist/lib/sim/index.js', 'dist/lib/cli/main.js', 'dist/lib/cli/bench.js', 'docs/semantics.md', 'docs/architecture.md', 'bench/README.md',
      'native/addon/io_conn.cc', 'native/codec/codec.h', 'binding.gyp', 'scripts/build-native.mjs', 'examples/route.mjs', 'examples/commonjs.cjs',
    ]) expect(paths, must).toContain(must);
    if (hasPrebuildPlatform) expect(paths).toContain('prebuilds/linux-x64/tserver-ha.glibc.node');
    const bad = paths.filter((p) => /^dist\/(bench|test|check)\/|\.map$|^native\/(fuzz|test)\/|^test\/|^lib\/|\.ts$(?<!\.d\.ts$)|^check\/|^build\/|CMakeLists/.test(p));
    expect(bad).toEqual([]);
    // Every README/docs link to a repository file resolves inside the package.
    const shipped = new Set(paths);
    for (const doc of paths.filter((p) => p.endsWith('.md'))) {
      const text = readFileSync(join(root, doc), 'utf8');
      for (const m of text.matchAll(/\]\(((?:docs|bench|examples)\/[^)#\s]+|[a-z-]+\.md)(?:#[^)]*)?\)/g)) {
        const target = m[1]!.includes('/') ? m[1]! : join(dirname(doc), m[1]!).replace(/^\.\//, '');
        expect(shipped.has(target), `${doc} links ${m[1]}`).toBe(true);
      }
    }
    facts.fileList = paths;
  });
});

describe('installed into a fresh project', () => {
  it.skipIf(!hasPrebuildPlatform)('--ignore-scripts (pnpm 10, blocked install scripts): the prebuild loads, transport native', () => {
    const c = consumer('ignore-scripts', ['--ignore-scripts']);
    facts.installIgnoreScriptsMs = c.ms;
    const r = nodeIn(c.dir, STATUS);
    expect(r.code, r.err).toBe(0);
    const s = JSON.parse(r.out) as Status;
    expect(s.status.loaded).toBe(true);
    expect(s.status.from).toBe(join(c.dir, 'node_modules', 'tserver-ha', 'prebuilds', 'linux-x64', 'tserver-ha.glibc.node'));
    expect(s.native).toBe('ok');
    expect(s.auto).toBe('native');
    expect(s.warnings).toEqual([]);
    facts.transportIgnoreScripts = s.auto;

    // The CLI, bench included, from the installed package (a tiny run on the simulator).
    const bin = join(c.dir, 'node_modules', '.bin', 'tserver-ha');
    const help = sh(bin, ['bench', '--help'], { cwd: c.dir });
    expect(help.code, help.err).toBe(0);
    expect(help.out).toMatch(/tserver-ha bench/);
    const bench = sh(bin, ['bench', '--runs', '1', '--modes', 'hot', '--transports', 'native', '--rate', '1000', '--after', '100', '--json'], { cwd: c.dir, timeoutMs: 240_000 });
    expect(bench.code, bench.err).toBe(0);
    const report = JSON.parse(bench.out) as { cells: { key: string; totals: { events: { lost: number; duplicated: number } } }[] };
    expect(report.cells.map((x) => x.key)).toEqual(['hot/native/kill']);
    expect(report.cells[0]!.totals.events.lost).toBe(0);
    expect(report.cells[0]!.totals.events.duplicated).toBe(0);

    // require() (CommonJS through require(esm)) and the metrics entry point.
    writeFileSync(join(c.dir, 'check.cjs'), `
      const { TServerPair, nativeStatus } = require('tserver-ha');
      const { collectMetrics } = require('tserver-ha/metrics');
      const { Registry } = require('prom-client');
      const pair = new TServerPair({ name: 'P', primary: { host: '127.0.0.1', port: 1 }, backup: { host: '127.0.0.1', port: 2 } });
      const registry = new Registry();
      collectMetrics(pair, { registry });
      registry.metrics().then((text) => console.log(JSON.stringify({ loaded: nativeStatus().loaded, metrics: /tserver_ha_switchovers_total/.test(text) })));
    `);
    const cjs = sh(process.execPath, ['check.cjs'], { cwd: c.dir });
    expect(cjs.code, cjs.err).toBe(0);
    expect(JSON.parse(cjs.out)).toEqual({ loaded: true, metrics: true });
  });

  it.skipIf(!hasPrebuildPlatform)('pnpm 10 (build scripts ignored by default, symlinked layout): the prebuild loads, transport native', () => {
    // pnpm from the npm registry through npx (cached after the first run).
    const v = sh('npx', ['-y', 'pnpm@10', '--version'], { cwd: tmp, timeoutMs: 120_000 });
    expect(v.code, v.err).toBe(0);
    const dir = join(tmp, 'pnpm');
    mkdirSync(dir);
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer-pnpm', version: '1.0.0', private: true, type: 'module' }));
    const r = sh('npx', ['-y', 'pnpm@10', 'add', tgz], { cwd: dir, timeoutMs: 120_000 });
    expect(r.code, `${r.out}\n${r.err}`).toBe(0);
    facts.installPnpmMs = Math.round(r.ms);
    facts.pnpmVersion = v.out.trim();
    expect(r.out).toMatch(/Ignored build scripts/);
    const s = JSON.parse(nodeIn(dir, STATUS).out) as Status;
    expect(s.status.loaded).toBe(true);
    expect(s.status.from).toMatch(/node_modules\/\.pnpm\/tserver-ha@.*\/prebuilds\/linux-x64\/tserver-ha\.glibc\.node$/);
    expect(s.auto).toBe('native');
    facts.transportPnpm = s.auto;
  });

  it('with install scripts: nothing is compiled when the prebuild loads', () => {
    const c = consumer('scripts', ['--foreground-scripts']);
    facts.installWithScriptsMs = c.ms;
    if (hasPrebuildPlatform) {
      expect(c.log).toMatch(/tserver-ha: using the prebuilt addon prebuilds\/linux-x64\/tserver-ha\.glibc\.node; nothing to compile/);
      expect(existsSync(join(c.dir, 'node_modules', 'tserver-ha', 'build', 'Release'))).toBe(false);
    }
    const s = JSON.parse(nodeIn(c.dir, STATUS).out) as Status;
    expect(s.status.loaded).toBe(true);
    facts.transportWithScripts = s.auto;
    // cmake-js is not installed for users (a dev dependency); node-gyp is npm's own.
    expect(existsSync(join(c.dir, 'node_modules', 'cmake-js'))).toBe(false);
  });

  it('no prebuild and no compiler on PATH: the install says why and how to fix it, and so does the runtime', () => {
    const c = consumer('no-compiler', ['--ignore-scripts']);
    const pkg = join(c.dir, 'node_modules', 'tserver-ha');
    rmSync(join(pkg, 'prebuilds'), { recursive: true, force: true });
    // A PATH with sh, node and npm only (a slim image: no g++, make, python3, cmake).
    const bin = join(tmp, 'bin-no-compiler');
    mkdirSync(bin);
    symlinkSync(process.execPath, join(bin, 'node'));
    symlinkSync('/bin/sh', join(bin, 'sh'));
    const npmCli = process.env.npm_execpath && /npm-cli\.js$/.test(process.env.npm_execpath)
      ? process.env.npm_execpath
      : execFileSync(process.execPath, ['-e', 'process.stdout.write(require.resolve("npm/bin/npm-cli.js", { paths: [require("path").dirname(process.execPath) + "/../lib/node_modules"] }))'], { encoding: 'utf8' });
    symlinkSync(npmCli, join(bin, 'npm'));
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: bin };
    delete env.CXX;
    const t0 = performance.now();
    const r = sh(join(bin, 'npm'), ['rebuild', 'tserver-ha', '--foreground-scripts'], { cwd: c.dir, env });
    facts.rebuildNoCompilerMs = Math.round(performance.now() - t0);
    expect(r.code, `${r.out}\n${r.err}`).toBe(0);
    const log = r.out + r.err;
    expect(log).toMatch(/no prebuilt addon for linux-x64 .* cannot be compiled here: a C\+\+ compiler \(g\+\+ or clang\+\+\), make, python3 not found on PATH/);
    expect(log).toMatch(/npm rebuild tserver-ha/);
    // At run time (the install's output is hidden by npm unless --foreground-scripts): the reason and the fix.
    const s = JSON.parse(nodeIn(c.dir, STATUS, env).out) as Status;
    expect(s.status.loaded).toBe(false);
    expect(s.status.reason).toMatch(/cannot be compiled here: a C\+\+ compiler/);
    expect(s.auto).toBe('node');
    expect(s.native).toMatch(/^ConfigError: option transport is 'native' but the native addon is not loaded: .*cannot be compiled here/);
    expect(s.warnings.map((w) => w.code)).toEqual(['TSERVER_HA_NO_NATIVE']);
    expect(s.warnings[0]!.message).toMatch(/npm rebuild tserver-ha/);
    facts.transportNoCompiler = s.auto;
    facts.noCompilerMessage = s.status.reason;
  });

  it('no prebuild, a compiler on PATH: the install script compiles the addon with node-gyp (no cmake-js)', () => {
    const c = consumer('compile', ['--ignore-scripts']);
    const pkg = join(c.dir, 'node_modules', 'tserver-ha');
    rmSync(join(pkg, 'prebuilds'), { recursive: true, force: true });
    const r = sh('npm', ['rebuild', 'tserver-ha', '--foreground-scripts'], { cwd: c.dir });
    expect(r.code, `${r.out}\n${r.err}`).toBe(0);
    facts.rebuildCompileMs = Math.round(r.ms);
    expect(r.out + r.err).toMatch(/gyp info ok/);
    const s = JSON.parse(nodeIn(c.dir, STATUS).out) as Status;
    expect(s.status).toEqual({ loaded: true, from: join(pkg, 'build', 'Release', 'tserver_ha.node') });
    expect(s.auto).toBe('native');
    facts.transportCompiled = s.auto;
  });

  it('no prebuild, scripts skipped: the runtime says the install script did not run', () => {
    const c = consumer('no-prebuild-ignore', ['--ignore-scripts']);
    rmSync(join(c.dir, 'node_modules', 'tserver-ha', 'prebuilds'), { recursive: true, force: true });
    const s = JSON.parse(nodeIn(c.dir, STATUS).out) as Status;
    expect(s.status.loaded).toBe(false);
    expect(s.status.reason).toMatch(/the install script did not run/);
    facts.transportNoPrebuildIgnoreScripts = s.auto;
  });

  it.skipIf(!hasPrebuildPlatform)('the examples run from the installed package against its own simulator', async () => {
    const dir = join(tmp, 'ignore-scripts');
    const pkg = join(dir, 'node_modules', 'tserver-ha');
    const sim = spawn(join(dir, 'node_modules', '.bin', 'tserver-ha'), ['sim', '--mode', 'hot', '--rate', '100', '--json'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let text = '';
      sim.stdout.on('data', (d: Buffer) => (text += d.toString()));
      const end = Date.now() + 60_000;
      while (!/\{.*\}\n/.test(text) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      const info = JSON.parse(/\{.*\}/.exec(text)![0]) as { primary: { host: string; port: number }; backup: { host: string; port: number }; routePoints: string[]; agents: string[] };
      const addr = ['--primary', `${info.primary.host}:${info.primary.port}`, '--backup', `${info.backup.host}:${info.backup.port}`, '--dns', `${info.routePoints[0]},${info.agents[0]}`, '--run-ms', '500'];
      for (const ex of ['route.mjs', 'commonjs.cjs', 'graceful-shutdown.mjs']) {
        const r = sh(process.execPath, [join(pkg, 'examples', ex), ...addr], { cwd: dir, timeoutMs: 60_000 });
        expect(r.code, `${ex}\n${r.out}\n${r.err}`).toBe(0);
        expect(r.out, ex).toMatch(/open: requests go to primary/);
      }
    } finally {
      sim.kill('SIGINT');
      await new Promise((r) => sim.once('exit', r));
    }
  });
});
