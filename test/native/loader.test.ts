import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The loader runs in real child processes (its choice is made once per process), against the compiled
// package in dist/ (built by `npm run build` / pretest) and against a copy of it without any addon.

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const built = join(root, 'build', 'Release', 'tserver_ha.node');
const mustLoad = process.env.TSERVER_HA_NATIVE === 'require';
let bare: string;

const probe = `
  const m = await import(process.argv[1]);
  const warnings = [];
  process.on('warning', (w) => warnings.push(w.code));
  let error;
  try { m.nativeBinding(); m.nativeBinding(); } catch (e) { error = { name: e.name, code: e.code, message: e.message, searched: e.searched }; }
  await new Promise((r) => setImmediate(r));
  console.log(JSON.stringify({ status: m.nativeStatus(), error, warnings }));
`;

function run(pkgRoot: string, mode: string | undefined) {
  const env = { ...process.env };
  if (mode === undefined) delete env.TSERVER_HA_NATIVE;
  else env.TSERVER_HA_NATIVE = mode;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', probe, join(pkgRoot, 'dist', 'lib', 'native', 'index.js')], { env, encoding: 'utf8' });
  return JSON.parse(out) as { status: { loaded: boolean; from?: string; reason?: string }; error?: { name: string; code: string; message: string; searched: string[] }; warnings: string[] };
}

beforeAll(() => {
  if (!existsSync(join(root, 'dist', 'lib', 'native', 'index.js'))) {
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
  }
  // A copy of the package without build/ or prebuilds/.
  bare = mkdtempSync(join(tmpdir(), 'tsha-loader-'));
  writeFileSync(join(bare, 'package.json'), JSON.stringify({ name: 'tserver-ha', type: 'module' }));
  mkdirSync(join(bare, 'dist'));
  cpSync(join(root, 'dist', 'lib'), join(bare, 'dist', 'lib'), { recursive: true });
});
afterAll(() => rmSync(bare, { recursive: true, force: true }));

describe('native loader', () => {
  it.skipIf(!existsSync(built) && !mustLoad)('loads build/Release/tserver_ha.node in auto mode (a prebuild first, when `npm run prebuild` made one), without a warning', () => {
    const r = run(root, undefined);
    const preDir = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
    const pre = existsSync(preDir) ? readdirSync(preDir).filter((n) => n.endsWith('.node')).sort() : [];
    expect(r.status).toEqual({ loaded: true, from: pre.length > 0 ? join(preDir, pre[0]!) : built });
    expect(r.warnings).toEqual([]);
  });

  it('falls back with exactly one warning when no addon exists (auto)', () => {
    const r = run(bare, 'auto');
    expect(r.status.loaded).toBe(false);
    expect(r.status.reason).toContain(join(bare, 'build', 'Release'));
    expect(r.error).toBeUndefined();
    expect(r.warnings).toEqual(['TSERVER_HA_NO_NATIVE']);
  });

  it('throws a typed error naming where it looked (require)', () => {
    const r = run(bare, 'require');
    expect(r.error?.name).toBe('NativeUnavailableError');
    expect(r.error?.code).toBe('ERR_NATIVE_UNAVAILABLE');
    expect(r.error?.message).toContain('TSERVER_HA_NATIVE=require');
    expect(r.error?.searched).toEqual([join(bare, 'prebuilds', `${process.platform}-${process.arch}`), join(bare, 'build', 'Release')]);
  });

  it('prefers prebuilds/<platform>-<arch>/ over build/Release/', () => {
    if (!existsSync(built)) return;
    const pre = join(bare, 'prebuilds', `${process.platform}-${process.arch}`);
    mkdirSync(pre, { recursive: true });
    cpSync(built, join(pre, 'tserver_ha.node'));
    try {
      expect(run(bare, 'require').status).toEqual({ loaded: true, from: join(pre, 'tserver_ha.node') });
    } finally {
      rmSync(join(bare, 'prebuilds'), { recursive: true, force: true });
    }
  });

  it('reports a .node file that fails to load, and never loads in off mode', () => {
    const dir = join(bare, 'build', 'Release');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'tserver_ha.node'), 'not a shared object');
    try {
      const r = run(bare, 'auto');
      expect(r.status.loaded).toBe(false);
      expect(r.status.reason).toContain('could not load the addon');
      expect(run(root, 'off')).toEqual({ status: { loaded: false, reason: 'TSERVER_HA_NATIVE=off' }, warnings: [] });
    } finally {
      rmSync(join(bare, 'build'), { recursive: true, force: true });
    }
  });

  it('refuses an addon built from another version of the package (its I/O interface differs), with the reason', () => {
    if (!existsSync(built)) return;
    // The same addon, loaded by a copy of the package that expects another interface version.
    const other = mkdtempSync(join(tmpdir(), 'tsha-loader-v-'));
    try {
      writeFileSync(join(other, 'package.json'), JSON.stringify({ name: 'tserver-ha', type: 'module' }));
      cpSync(join(bare, 'dist'), join(other, 'dist'), { recursive: true });
      const loader = join(other, 'dist', 'lib', 'native', 'loader.js');
      const src = readFileSync(loader, 'utf8');
      expect(src).toMatch(/IO_INTERFACE_VERSION = \d+;/);
      writeFileSync(loader, src.replace(/IO_INTERFACE_VERSION = \d+;/, 'IO_INTERFACE_VERSION = 999;'));
      mkdirSync(join(other, 'build', 'Release'), { recursive: true });
      cpSync(built, join(other, 'build', 'Release', 'tserver_ha.node'));
      const r = run(other, 'auto');
      expect(r.status.loaded).toBe(false);
      expect(r.status.reason).toMatch(/I\/O interface is version \d+, this package needs 999.*npm rebuild tserver-ha/);
      expect(r.warnings).toEqual(['TSERVER_HA_NO_NATIVE']);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('rejects an unknown TSERVER_HA_NATIVE value', () => {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', probe, join(root, 'dist', 'lib', 'native', 'index.js')], {
      env: { ...process.env, TSERVER_HA_NATIVE: 'sometimes' }, encoding: 'utf8',
    });
    expect(JSON.parse(r.stdout).error.code).toBe('ERR_INVALID_CONFIG');
  });
});

// TSERVER_HA_NATIVE at the first use: the whole package imported in a fresh process, then pairs built
// (nothing connects), in three layouts of the package: a copy outside node_modules (installed elsewhere),
// installed under node_modules, and a clone (package.json has build:native, lib/ has the sources).
describe('TSERVER_HA_NATIVE at the first use (a pair, a transport)', () => {
  const firstUse = `
    const warnings = [];
    process.on('warning', (w) => warnings.push({ code: w.code, message: w.message }));
    const pkg = process.argv[1];
    const m = await import(pkg + '/dist/lib/index.js');
    const t = await import(pkg + '/dist/lib/transport/index.js');
    const describe = (e) => ({ name: e.name, code: e.code, message: e.message, reason: e.reason, fix: e.fix, searched: e.searched, typed: e instanceof m.NativeUnavailableError });
    const attempt = (f) => { try { f(); return 'ok'; } catch (e) { return describe(e); } };
    const opts = (transport) => ({ name: 'P', primary: { host: '127.0.0.1', port: 7001 }, backup: { host: '127.0.0.1', port: 7002 }, transport });
    const out = {
      imported: true,
      pair: attempt(() => new m.TServerPair(opts(undefined))),
      pairAgain: attempt(() => new m.TServerPair(opts(undefined))),
      pairNode: attempt(() => new m.TServerPair(opts('node'))),
      transport: attempt(() => t.createTransport({ host: '127.0.0.1', port: 7001 })),
    };
    await new Promise((r) => setTimeout(r, 20));
    console.log(JSON.stringify({ ...out, status: m.nativeStatus(), warnings }));
  `;
  type Failure = { name: string; code: string; message: string; reason: string; fix: string; searched: string[]; typed: boolean };
  type Outcome = 'ok' | Failure;
  interface FirstUse { imported: boolean; pair: Outcome; pairAgain: Outcome; pairNode: Outcome; transport: Outcome; status: { loaded: boolean; reason?: string }; warnings: { code: string; message: string }[]; stderr: string }

  function firstUseIn(pkgRoot: string, mode: string | undefined): FirstUse {
    const env = { ...process.env };
    delete env.TSERVER_HA_ADDON_PATH;
    if (mode === undefined) delete env.TSERVER_HA_NATIVE;
    else env.TSERVER_HA_NATIVE = mode;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', firstUse, pkgRoot], { env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`probe failed (${r.status}): ${r.stderr}`);
    return { ...(JSON.parse(r.stdout) as Omit<FirstUse, 'stderr'>), stderr: r.stderr };
  }

  /** A copy of the compiled package without any addon at `dir` (its dependencies from this checkout). */
  function copyPackage(dir: string, pkgJson: object, extra?: (dir: string) => void): string {
    mkdirSync(join(dir, 'dist'), { recursive: true });
    writeFileSync(join(dir, 'package.json'), JSON.stringify(pkgJson));
    cpSync(join(root, 'dist', 'lib'), join(dir, 'dist', 'lib'), { recursive: true });
    symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
    extra?.(dir);
    return dir;
  }

  let tmp: string;
  let outside: string;
  let installed: string;
  let clone: string;
  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'tsha-firstuse-'));
    outside = copyPackage(join(tmp, 'outside'), { name: 'tserver-ha', type: 'module' });
    installed = copyPackage(join(tmp, 'app', 'node_modules', 'tserver-ha'), { name: 'tserver-ha', type: 'module', scripts: { 'build:native': 'node scripts/build-native.mjs --strict' } });
    clone = copyPackage(join(tmp, 'clone'), { name: 'tserver-ha', type: 'module', scripts: { 'build:native': 'node scripts/build-native.mjs --strict' } }, (d) => {
      mkdirSync(join(d, 'lib'));
      writeFileSync(join(d, 'lib', 'index.ts'), '');
    });
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  const warningCount = (stderr: string) => stderr.split('TSERVER_HA_NO_NATIVE').length - 1;

  it('auto, addon missing: pairs work on the node transport, and one warning says why and how to fix it (installed package: npm rebuild)', () => {
    const r = firstUseIn(outside, 'auto');
    expect(r).toMatchObject({ imported: true, pair: 'ok', pairAgain: 'ok', pairNode: 'ok', transport: 'ok' });
    expect(r.status.loaded).toBe(false);
    expect(r.warnings.map((w) => w.code)).toEqual(['TSERVER_HA_NO_NATIVE']);
    expect(warningCount(r.stderr)).toBe(1);
    expect(r.warnings[0]!.message).toContain(join(outside, 'build', 'Release'));
    expect(r.warnings[0]!.message).toContain('npm rebuild tserver-ha');
    expect(r.warnings[0]!.message).not.toContain('build:native');
  });

  it('off: pairs work on the node transport and nothing is printed', () => {
    const r = firstUseIn(outside, 'off');
    expect(r).toMatchObject({ imported: true, pair: 'ok', pairAgain: 'ok', pairNode: 'ok', transport: 'ok' });
    expect(r.status).toEqual({ loaded: false, reason: 'TSERVER_HA_NATIVE=off' });
    expect(r.warnings).toEqual([]);
    expect(r.stderr).toBe('');
  });

  it('require, addon missing: the import succeeds, every pair and transport throws a typed NativeUnavailableError with the reason and the fix, nothing else is printed', () => {
    const r = firstUseIn(outside, 'require');
    expect(r.imported).toBe(true);
    for (const use of [r.pair, r.pairAgain, r.pairNode, r.transport]) {
      expect(use).not.toBe('ok');
      const e = use as Failure;
      expect(e).toMatchObject({ name: 'NativeUnavailableError', code: 'ERR_NATIVE_UNAVAILABLE', typed: true });
      expect(e.reason).toContain(join(outside, 'build', 'Release'));
      expect(e.searched).toEqual([join(outside, 'prebuilds', `${process.platform}-${process.arch}`), join(outside, 'build', 'Release')]);
      expect(e.fix).toContain('npm rebuild tserver-ha');
      expect(e.fix).not.toContain('build:native');
      expect(e.message).toBe(`TSERVER_HA_NATIVE=require but the native addon is unavailable: ${e.reason}. ${e.fix}.`);
    }
    expect(r.status.loaded).toBe(false);
    expect(r.status.reason).toContain('TSERVER_HA_NATIVE=require');
    expect(r.warnings).toEqual([]);
    expect(r.stderr).toBe('');
  });

  it('require, installed under node_modules: the fix is `npm rebuild tserver-ha` (its package.json still lists build:native, which only a clone can run)', () => {
    const r = firstUseIn(installed, 'require');
    const e = r.pair as Failure;
    expect(e.code).toBe('ERR_NATIVE_UNAVAILABLE');
    expect(e.fix).toContain('npm rebuild tserver-ha');
    expect(e.fix).not.toContain('build:native');
  });

  it('in a clone the fix is `npm run build:native` (require throws it, auto warns it)', () => {
    const r = firstUseIn(clone, 'require');
    const e = r.pair as Failure;
    expect(e.code).toBe('ERR_NATIVE_UNAVAILABLE');
    expect(e.fix).toContain('npm run build:native');
    expect(e.fix).not.toContain('npm rebuild');
    // A clone without build/ has just not built it yet: no talk of a skipped install script.
    expect(e.reason).not.toContain('install script');
    const a = firstUseIn(clone, 'auto');
    expect(a.pair).toBe('ok');
    expect(a.warnings).toHaveLength(1);
    expect(a.warnings[0]!.message).toContain('npm run build:native');
  });

  it.skipIf(!existsSync(built))('require with the addon built: pairs are constructed on the native transport, silently', () => {
    const r = firstUseIn(root, 'require');
    expect(r).toMatchObject({ imported: true, pair: 'ok', pairAgain: 'ok', pairNode: 'ok', transport: 'ok', warnings: [] });
    expect(r.status.loaded).toBe(true);
  });

  it('an unknown TSERVER_HA_NATIVE value is refused at the first use, not silently treated as auto', () => {
    const r = firstUseIn(outside, 'always');
    expect((r.pair as Failure).code).toBe('ERR_INVALID_CONFIG');
    expect((r.pair as Failure).message).toContain('TSERVER_HA_NATIVE must be auto, require or off');
  });
});
