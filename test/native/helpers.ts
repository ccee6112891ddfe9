/**
 * Shared pieces of the native transport tests: building dist/ for child processes, running a child and
 * collecting its RESULT lines, and whether the addon's I/O thread is available.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ioBinding } from '../../lib/native/io-binding.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CHILD = join(ROOT, 'test', 'native', 'fixtures', 'lifetime-child.mjs');

/** Why the native tests cannot run, or undefined. TSERVER_HA_NATIVE=require turns a skip into a failure. */
export function nativeUnavailable(): string | undefined {
  try {
    return ioBinding() === null ? 'native addon with I/O thread not loaded (npm run build:native)' : undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newest(p));
    else if (e.name.endsWith('.ts')) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

/** Children run the compiled JS: rebuild dist/ when lib/ is newer. */
export function ensureDist(): void {
  const out = join(ROOT, 'dist', 'lib', 'native', 'native-transport.js');
  if (existsSync(out) && statSync(out).mtimeMs >= newest(join(ROOT, 'lib'))) return;
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.build.json')], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('tsc build of dist/ failed');
}

export interface ChildOutcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  results: Record<string, unknown>[];
  stderr: string;
  ms: number;
}

/**
 * Run the lifetime child with `mode`; `onResult` sees each RESULT line as it arrives (to act on a live
 * child). The child is SIGKILLed if it outlives `timeoutMs` (reported as signal SIGKILL).
 */
export function runChild(mode: string, port: number, extra: object = {}, opts: { nodeArgs?: string[]; timeoutMs?: number; onResult?: (r: Record<string, unknown>, kill: () => void) => void } = {}): Promise<ChildOutcome> {
  const t0 = Date.now();
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), CHILD, mode, String(port), JSON.stringify(extra)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: process.env,
  });
  const results: Record<string, unknown>[] = [];
  let stderr = '';
  let buf = '';
  const kill = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.startsWith('RESULT ')) {
        const r = JSON.parse(line.slice(7)) as Record<string, unknown>;
        results.push(r);
        opts.onResult?.(r, kill);
      }
    }
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(kill, opts.timeoutMs ?? 60_000);
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, results, stderr, ms: Date.now() - t0 });
    });
  });
}
