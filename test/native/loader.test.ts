import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
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
