/**
 * Shared pieces of the native transport tests: building dist/ for child processes, running a child and
 * collecting its RESULT lines, and whether the addon's I/O thread is available.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ioBinding } from '../../lib/native/io-binding.js';
import { nativeIoStats } from '../../lib/native/native-transport.js';

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

/** Block this thread for `ms`: nothing on the event loop runs meanwhile (a GC pause or a busy strategy, exaggerated). */
export function blockFor(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Bytes the kernel holds unread for each ESTABLISHED loopback TCP connection of this machine whose remote
 * port is `remotePort` (Linux /proc/net/tcp and tcp6: rx_queue), or undefined where /proc is not there.
 * Read synchronously, so it works while the JS thread is blocked.
 */
export function unreadKernelBytes(remotePort: number): number[] | undefined {
  const out: number[] = [];
  let any = false;
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    any = true;
    for (const line of text.split('\n').slice(1)) {
      const col = line.trim().split(/\s+/);
      if (col.length < 5 || col[3] !== '01') continue; // 01 = ESTABLISHED
      const rem = col[2]!.split(':')[1];
      if (rem === undefined || parseInt(rem, 16) !== remotePort) continue;
      out.push(parseInt(col[4]!.split(':')[1]!, 16));
    }
  }
  return any ? out : undefined;
}

/**
 * Keep the JS thread blocked (nothing is drained) until the native I/O thread has stopped reading every
 * one of the `conns` connections to `port` because of a byte bound: the bytes it holds for JS reached
 * `atLeast`, each connection has unread bytes waiting in the kernel (the peer is still sending, we are not
 * reading) and the held bytes have not moved for `stableMs`. This replaces a fixed stall ("block 1.5 s and
 * hope the bound was reached"): however slow the peer or the machine, the stall lasts until the pause has
 * happened. Gives up (returns, so the caller's assertions report what happened) once the held bytes pass
 * `giveUpAbove` (the bound is not holding) or after `deadlineMs`. Returns the stats seen and the time blocked.
 */
export function blockUntilReadingPaused(o: { port: number; conns: number; atLeast: number; giveUpAbove: number; stableMs?: number; deadlineMs?: number }): {
  queuedBytes: number; blockedMs: number; paused: boolean; unread: number[] | undefined;
} {
  const stableMs = o.stableMs ?? 300;
  const t0 = Date.now();
  const deadline = t0 + (o.deadlineMs ?? 30_000);
  let last = -1;
  let stableSince = Date.now();
  for (;;) {
    const q = nativeIoStats().queuedBytes;
    const unread = unreadKernelBytes(o.port);
    const now = Date.now();
    if (q !== last) {
      last = q;
      stableSince = now;
    }
    const allWaiting = unread === undefined || (unread.length === o.conns && unread.every((b) => b > 0));
    if (q >= o.atLeast && allWaiting && now - stableSince >= stableMs) return { queuedBytes: q, blockedMs: now - t0, paused: true, unread };
    if (q > o.giveUpAbove || now > deadline) return { queuedBytes: q, blockedMs: now - t0, paused: false, unread };
    blockFor(10);
  }
}
