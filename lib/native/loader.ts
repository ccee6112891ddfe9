import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TServerHaError } from '../errors.js';

/**
 * The addon's exports (native/addon/). Subsystems added later (the I/O-thread transport) appear as
 * further properties.
 */
export interface NativeBinding {
  /**
   * Split and validate every whole frame of `input` in one call, writing the batch index into `index`
   * (header + one record per frame, layout in native/addon/decode.h and {@link IndexLayout}) and the
   * offsets of every top-level attribute into `attrs`. Returns the number of frames written. Stops at a
   * partial frame, the first bad frame, or when `index`/`attrs` are full (header field `full` = 1).
   * Throws a TypeError for wrong argument types or limits (maxDepth at most 255).
   */
  decode(input: Uint8Array, index: Float64Array, attrs: Uint32Array, maxFrameSize: number, maxDepth: number, maxAttributes: number): number;
  /** Layout numbers compiled into the addon; the loader refuses an addon whose layout differs. */
  readonly indexLayout: { readonly headerSize: number; readonly stride: number; readonly wireVersion: number };
  readonly [subsystem: string]: unknown;
}

/** Whether the addon loaded, from where, or why not. */
export interface NativeStatus {
  loaded: boolean;
  /** Path of the loaded `.node` file. */
  from?: string;
  /** Why the addon is not used (`TSERVER_HA_NATIVE=off`, not found, failed to load, wrong layout). */
  reason?: string;
}

/**
 * The addon is needed but could not be loaded (`ERR_NATIVE_UNAVAILABLE`): with `TSERVER_HA_NATIVE=require`,
 * thrown by the first use (constructing a `TServerPair`, `createTransport()`, `nativeBinding()`); also by
 * `requireNativeBinding()`. The message is `<what>: <reason>. <fix>.`
 */
export class NativeUnavailableError extends TServerHaError {
  override name = 'NativeUnavailableError';
  /** Every path that was tried. */
  readonly searched: string[];
  /** Why the addon is not loaded (the loader's reason, as in `nativeStatus().reason`). */
  readonly reason: string;
  /** How to get the addon in this kind of install (an installed package or a clone of the repository). */
  readonly fix: string;
  constructor(what: string, reason: string, fix: string, searched: string[], cause?: unknown) {
    super('ERR_NATIVE_UNAVAILABLE', `${what}: ${reason}. ${fix}.`, { cause });
    this.searched = searched;
    this.reason = reason;
    this.fix = fix;
  }
}

/** `TSERVER_HA_NATIVE`: `auto` (default) tries the addon and falls back, `require` throws, `off` never loads. */
export type NativeMode = 'auto' | 'require' | 'off';

/** Read and check `TSERVER_HA_NATIVE`; an unknown value is a ConfigError-style TServerHaError. */
export function nativeMode(env: NodeJS.ProcessEnv = process.env): NativeMode {
  const v = (env.TSERVER_HA_NATIVE ?? 'auto').trim().toLowerCase();
  if (v === '' || v === 'auto') return 'auto';
  if (v === 'require' || v === 'off') return v;
  throw new TServerHaError('ERR_INVALID_CONFIG', `TSERVER_HA_NATIVE must be auto, require or off, got "${env.TSERVER_HA_NATIVE}"`);
}

/** The package root: the nearest ancestor with this package's package.json (works from lib/ and dist/lib/). */
function packageRoot(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj)) {
      try {
        if ((JSON.parse(readFileSync(pj, 'utf8')) as { name?: string }).name === 'tserver-ha') return dir;
      } catch { /* keep walking */ }
    }
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

/** Candidate `.node` files in load order: `TSERVER_HA_ADDON_PATH` alone when set, else prebuilds/<platform>-<arch>/, then build/Release/. */
export function addonCandidates(root = packageRoot()): { searched: string[]; found: string[] } {
  // An explicit file (e.g. the ASan build of `npm run test:asan`) replaces the search.
  const forced = process.env.TSERVER_HA_ADDON_PATH;
  if (forced) return { searched: [forced], found: existsSync(forced) ? [forced] : [] };
  if (root === undefined) return { searched: ['(package root of tserver-ha not found)'], found: [] };
  const dirs = [join(root, 'prebuilds', `${process.platform}-${process.arch}`), join(root, 'build', 'Release')];
  const found: string[] = [];
  for (const d of dirs) {
    let names: string[];
    try {
      names = readdirSync(d).filter((n) => n.endsWith('.node'));
    } catch {
      continue;
    }
    // Prebuilds tagged for the other C library (prebuildify --tag-libc: `.glibc.` / `.musl.`) are skipped.
    names = names.filter(libcMatches);
    // The addon's own name first, then any other .node (a prebuild may carry a platform suffix).
    names.sort((a, b) => Number(b === 'tserver_ha.node') - Number(a === 'tserver_ha.node') || a.localeCompare(b));
    found.push(...names.map((n) => join(d, n)));
  }
  return { searched: dirs, found };
}

/** This process's C library on Linux (`glibc` or `musl`), as node-gyp-build tells them apart. */
function libc(): 'glibc' | 'musl' | undefined {
  if (process.platform !== 'linux') return undefined;
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return header?.glibcVersionRuntime ? 'glibc' : 'musl';
}

/** A file name's libc tag (node-gyp-build's tags: name.tag.tag.node) agrees with this process. */
function libcMatches(name: string): boolean {
  const tags = name.split('.').slice(1, -1);
  const want = libc();
  if (want === undefined) return true;
  return !tags.some((t) => (t === 'glibc' || t === 'musl') && t !== want);
}

/** What the install script recorded (scripts/build-native.mjs --install), to explain a missing addon. */
function installReport(root = packageRoot()): string | undefined {
  if (root === undefined) return undefined;
  try {
    const r = JSON.parse(readFileSync(join(root, 'build', 'install-report.json'), 'utf8')) as { outcome?: string; detail?: string };
    return r.outcome === 'prebuild' || r.outcome === 'compiled' ? undefined : r.detail;
  } catch {
    // A clone without build/ simply has not built it yet: the fix (`npm run build:native`) says enough.
    return existsSync(join(root, 'build')) || isSourceCheckout(root) ? undefined : 'the install script did not run (pnpm without allowed builds, --ignore-scripts, or a blocked install script) and no prebuild for this platform is in the package';
  }
}

/**
 * Whether `root` is a working copy of the repository (a clone: `npm run build:native` exists) rather than
 * the package installed into someone's node_modules (there, only `npm rebuild tserver-ha` builds the addon).
 */
export function isSourceCheckout(root = packageRoot()): boolean {
  if (root === undefined || root.split(/[\\/]/).includes('node_modules')) return false;
  try {
    const pj = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
    // The TypeScript sources (lib/) are not in the published package; only a checkout has them.
    return typeof pj.scripts?.['build:native'] === 'string' && existsSync(join(root, 'lib', 'index.ts'));
  } catch {
    return false;
  }
}

/** How to get the addon, for the warning and NativeUnavailableError: the command that exists where the package is. */
export function nativeFix(root = packageRoot()): string {
  if (isSourceCheckout(root)) {
    return 'To build it in this checkout: install a C++ compiler (g++ or clang++) and cmake, then run `npm run build:native` ' +
      '(or, with make and python3 instead of cmake, `npm run build:gyp`)';
  }
  return 'To get it: install g++, make and python3, then run `npm rebuild tserver-ha` (pnpm: allow its build script with ' +
    '`pnpm approve-builds`, then `pnpm rebuild tserver-ha`), or use a platform with a prebuild (linux-x64)';
}

/** `exports.io.interfaceVersion` this package speaks (native/addon/io_napi.cc kInterfaceVersion). */
const IO_INTERFACE_VERSION = 2;

function checkBinding(b: unknown, rebuild: string): string | undefined {
  const nb = b as Partial<NativeBinding> | null;
  if (typeof nb?.decode !== 'function') return 'exports no decode()';
  const l = nb.indexLayout;
  if (l?.headerSize !== 8 || l.stride !== 8 || l.wireVersion !== 1) return `index layout ${JSON.stringify(l)} does not match this package`;
  // An addon built from another version of this package (a stale build/ directory, say) would load and
  // then fail on its first connection: refuse it here, with the reason.
  const v = (nb.io as { interfaceVersion?: unknown } | undefined)?.interfaceVersion;
  if (v !== IO_INTERFACE_VERSION) {
    return `its I/O interface is version ${String(v ?? 1)}, this package needs ${IO_INTERFACE_VERSION} (an addon built from another version of tserver-ha: rebuild it with \`${rebuild}\`)`;
  }
  return undefined;
}

let state: { binding: NativeBinding | null; status: NativeStatus } | undefined;
let warned = false;

function load(): { binding: NativeBinding | null; status: NativeStatus } {
  const mode = nativeMode();
  if (mode === 'off') return { binding: null, status: { loaded: false, reason: 'TSERVER_HA_NATIVE=off' } };
  const { searched, found } = addonCandidates();
  const problems: string[] = [];
  const require = createRequire(import.meta.url);
  let lastError: unknown;
  for (const file of found) {
    try {
      const b: unknown = require(file);
      const bad = checkBinding(b, isSourceCheckout() ? 'npm run build:native' : 'npm rebuild tserver-ha');
      if (bad === undefined) return { binding: b as NativeBinding, status: { loaded: true, from: file } };
      problems.push(`${file}: ${bad}`);
    } catch (err) {
      lastError = err;
      problems.push(`${file}: ${(err as Error).message}`);
    }
  }
  const why = found.length === 0 ? installReport() : undefined;
  const reason = found.length === 0
    ? `no .node file in ${searched.join(' or ')}${why ? `: ${why}` : ''}`
    : `could not load the addon (${problems.join('; ')})`;
  if (mode === 'require') {
    throw new NativeUnavailableError('TSERVER_HA_NATIVE=require but the native addon is unavailable', reason, nativeFix(), searched, lastError);
  }
  return { binding: null, status: { loaded: false, reason } };
}

function ensure(): { binding: NativeBinding | null; status: NativeStatus } {
  if (state === undefined) {
    state = load(); // throws (and stays unloaded) only in `require` mode
    if (!state.status.loaded && !warned && nativeMode() === 'auto') {
      warned = true;
      process.emitWarning(`tserver-ha: native addon not loaded, using the pure-TypeScript codec and transport (${state.status.reason}). ${nativeFix()}.`, {
        code: 'TSERVER_HA_NO_NATIVE',
      });
    }
  }
  return state;
}

/**
 * The addon, loaded on first call, or `null` when unavailable (`auto` mode: a one-time warning is
 * emitted; `off` mode: silently). Throws {@link NativeUnavailableError} in `require` mode.
 */
export function nativeBinding(): NativeBinding | null {
  return ensure().binding;
}

/** Like {@link nativeBinding} but throws {@link NativeUnavailableError} when the addon is not loaded. */
export function requireNativeBinding(): NativeBinding {
  const { binding, status } = ensure();
  if (binding === null) throw new NativeUnavailableError('native addon unavailable', status.reason ?? 'not loaded', nativeFix(), addonCandidates().searched);
  return binding;
}

/** Whether the addon is loaded (loads it on first call, like `nativeBinding()`). */
export function nativeStatus(): NativeStatus {
  try {
    return { ...ensure().status };
  } catch (err) {
    return { loaded: false, reason: (err as Error).message };
  }
}

/**
 * The `TSERVER_HA_NATIVE=require` check made by the first use (a `TServerPair` constructor,
 * `createTransport()`): in `require` mode, loads the addon or throws {@link NativeUnavailableError} with
 * the loader's reason and the fix; in `auto`/`off` mode, does nothing (importing never throws). An unknown
 * `TSERVER_HA_NATIVE` value throws (`ERR_INVALID_CONFIG`).
 */
export function assertNativeRequirement(): void {
  if (nativeMode() === 'require') ensure();
}
