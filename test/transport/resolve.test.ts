/**
 * Host names: both transports resolve a name the same way (dns.lookup, every address, tried in turn under
 * the one connect deadline) and a slow resolver never holds up close() or the deadline
 * (docs/native-transport.md "Decisions").
 *
 * What a name resolves to is made controllable without touching /etc/hosts and without any DNS query:
 * each case runs in a child process (test/transport/fixtures/resolve-child.mjs) with
 * test/helpers/resolver-shim.c preloaded, which answers names ending in ".tsha.test" itself —
 * "v6.v4.tsha.test" is [::1, 127.0.0.1] (what "localhost" is on many machines), "ms2000.v4.tsha.test" is
 * 127.0.0.1 after 3 s — through the real getaddrinfo path of both transports. Servers are on loopback.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ChildPeer } from '../helpers/child-peer.js';
import { ROOT, ensureDist, nativeUnavailable } from '../native/helpers.js';

const CHILD = join(ROOT, 'test', 'transport', 'fixtures', 'resolve-child.mjs');
const SHIM_SRC = join(ROOT, 'test', 'helpers', 'resolver-shim.c');

const nativeSkip = nativeUnavailable();
const required = process.env.TSERVER_HA_NATIVE === 'require';
if (nativeSkip !== undefined && required) throw new Error(`TSERVER_HA_NATIVE=require: ${nativeSkip}`);
const KINDS = (['node', 'native'] as const).filter((k) => k === 'node' || nativeSkip === undefined);

const shimDir = mkdtempSync(join(tmpdir(), 'tsha-resolver-shim-'));
const SHIM = join(shimDir, 'resolver-shim.so');
const built = spawnSync('gcc', ['-shared', '-fPIC', '-O1', '-o', SHIM, SHIM_SRC, '-ldl'], { encoding: 'utf8' });
const shimSkip = built.status === 0 ? undefined : `cannot build the resolver shim with gcc: ${built.error?.message ?? built.stderr}`;

const hasIpv6 = await new Promise<boolean>((resolve) => {
  const s = net.createServer();
  s.once('error', () => resolve(false));
  s.listen(0, '::1', () => s.close(() => resolve(true)));
});

interface Outcome {
  code: number | null;
  stderr: string;
  results: Record<string, unknown>[];
  /** ms from the first RESULT line to the child's exit. */
  exitAfterResultMs: number;
}

/** Run the child with the shim preloaded (after any sanitizer runtimes already in LD_PRELOAD). */
function runChild(mode: string, arg: object, timeoutMs = 30_000): Promise<Outcome> {
  const preload = [process.env.LD_PRELOAD, SHIM].filter(Boolean).join(' ');
  const child = spawn(process.execPath, [CHILD, mode, JSON.stringify(arg)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LD_PRELOAD: preload },
  });
  const results: Record<string, unknown>[] = [];
  let stderr = '';
  let buf = '';
  let firstResultAt = 0;
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.startsWith('RESULT ')) {
        firstResultAt ||= performance.now();
        results.push(JSON.parse(line.slice(7)) as Record<string, unknown>);
      }
    }
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) => {
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, results, exitAfterResultMs: firstResultAt ? performance.now() - firstResultAt : -1 });
    });
  });
}

interface ConnectResult {
  ok: boolean;
  code?: string;
  syscallCode?: string;
  ms: number;
  closeMs: number;
  close: { reason: string; code?: string; syscallCode?: string } | null;
}

async function connectIn(kind: string, host: string, port: number, extra: object = {}): Promise<ConnectResult> {
  const out = await runChild('connect', { kind, host, port, ...extra });
  expect(out.stderr).not.toMatch(/Assertion|Abort|Segmentation|FATAL|AddressSanitizer|runtime error|shim is not loaded/);
  expect(out.code).toBe(0);
  return out.results[0] as unknown as ConnectResult;
}

/** A server on `host` (port 0 = any) counting accepted connections (it listens on that one address only). */
async function server(host: string, port = 0): Promise<{ port: number; accepted: string[]; close: () => Promise<void> }> {
  const accepted: string[] = [];
  const s = net.createServer((c) => {
    accepted.push(c.remoteAddress ?? 'already closed');
    c.on('error', () => {});
  });
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen(port, host, () => resolve());
  });
  return {
    port: (s.address() as net.AddressInfo).port,
    accepted,
    close: () => new Promise<void>((r) => s.close(() => r())),
  };
}

/** Wait (≤ 2 s) for the server to have seen `n` connections: its accept may run after the child's exit. */
async function accepted(s: { accepted: string[] }, n: number): Promise<number> {
  for (let i = 0; i < 200 && s.accepted.length < n; i++) await new Promise((r) => setTimeout(r, 10));
  return s.accepted.length;
}

async function closedPort(): Promise<number> {
  const s = await server('127.0.0.1');
  await s.close();
  return s.port;
}

beforeAll(() => {
  if (shimSkip === undefined) ensureDist();
}, 120_000);
afterAll(() => rmSync(shimDir, { recursive: true, force: true }));

describe.skipIf(shimSkip !== undefined).each(KINDS)(`host names (%s transport)${shimSkip ? ` — SKIPPED: ${shimSkip}` : ''}`, (kind) => {
  const cleanups: Array<() => Promise<unknown> | unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('a name resolving to ::1 then 127.0.0.1, served on 127.0.0.1 only: the second address connects (and the reverse)', async () => {
    const v4 = await server('127.0.0.1');
    cleanups.push(() => v4.close());
    const r = await connectIn(kind, 'v6.v4.tsha.test', v4.port);
    expect(r).toMatchObject({ ok: true });
    expect(await accepted(v4, 1)).toBe(1);
    if (hasIpv6) {
      const v6 = await server('::1');
      cleanups.push(() => v6.close());
      const r6 = await connectIn(kind, 'v4.v6.tsha.test', v6.port);
      expect(r6).toMatchObject({ ok: true });
      expect(await accepted(v6, 1)).toBe(1);
    }
  });

  it('every address refused: connect-refused, the error of the last attempt', async () => {
    const port = await closedPort();
    const r = await connectIn(kind, 'v6.v4.tsha.test', port);
    expect(r).toMatchObject({ ok: false, code: 'ERR_CONNECT_REFUSED', syscallCode: 'ECONNREFUSED' });
    expect(r.close).toMatchObject({ reason: 'connect-refused' });
  });

  it.skipIf(!hasIpv6)(`first address black-holed (SYNs dropped): the next one is tried after the attempt timeout (250 ms), within the deadline${hasIpv6 ? '' : ' — SKIPPED: ::1 not available'}`, async () => {
    // ::1 listener whose accept queue is full and whose process is stopped: the kernel drops further SYNs.
    let hole: ChildPeer | undefined;
    let v4: Awaited<ReturnType<typeof server>> | undefined;
    for (let i = 0; i < 5 && !v4; i++) {
      hole = await ChildPeer.start({ host: '::1', backlog: 1 });
      const h = hole;
      cleanups.push(() => h.kill());
      // The same port on 127.0.0.1 (free on all but the rarest runs: then another port).
      v4 = await server('127.0.0.1', hole.port).catch(() => undefined);
    }
    expect(v4).toBeDefined();
    cleanups.push(() => v4!.close());
    hole!.sigstop();
    for (let i = 0; i < 4; i++) {
      const s = net.connect(hole!.port, '::1');
      s.on('error', () => {});
      cleanups.push(() => s.destroy());
    }
    await new Promise((r) => setTimeout(r, 200));
    const r = await connectIn(kind, 'v6.v4.tsha.test', hole!.port, { connectTimeoutMs: 3000 });
    expect(r).toMatchObject({ ok: true });
    expect(await accepted(v4!, 1)).toBe(1);
    expect(r.ms).toBeGreaterThanOrEqual(240);
    expect(r.ms).toBeLessThan(2000);
  });

  it('a name that does not resolve: error ERR_SOCKET with syscallCode ENOTFOUND', async () => {
    const r = await connectIn(kind, 'none.tsha.test', 9);
    expect(r).toMatchObject({ ok: false, code: 'ERR_SOCKET', syscallCode: 'ENOTFOUND' });
    expect(r.close).toMatchObject({ reason: 'error', code: 'ERR_SOCKET', syscallCode: 'ENOTFOUND' });
  });

  it('a slow lookup within the deadline connects; one past it times out at the deadline, not when the resolver answers', async () => {
    const v4 = await server('127.0.0.1');
    cleanups.push(() => v4.close());
    const slowOk = await connectIn(kind, 'ms300.v4.tsha.test', v4.port, { connectTimeoutMs: 2000 });
    expect(slowOk).toMatchObject({ ok: true });
    expect(slowOk.ms).toBeGreaterThanOrEqual(290);
    const late = await connectIn(kind, 'ms2000.v4.tsha.test', v4.port, { connectTimeoutMs: 300 });
    expect(late).toMatchObject({ ok: false, code: 'ERR_CONNECT_TIMEOUT' });
    expect(late.close).toMatchObject({ reason: 'connect-timeout' });
    expect(late.ms).toBeGreaterThanOrEqual(290);
    expect(late.ms).toBeLessThan(1500);
  });

  it('destroy() while the lookup hangs: one local close at once, connect() rejects', async () => {
    const r = await connectIn(kind, 'ms2000.v4.tsha.test', 9, { destroyAfterMs: 100, connectTimeoutMs: 10_000 });
    expect(r).toMatchObject({ ok: false, code: 'ERR_TRANSPORT_CLOSED' });
    expect(r.close).toMatchObject({ reason: 'local' });
    expect(r.closeMs).toBeLessThan(1000);
    expect(r.ms).toBeLessThan(1000);
  });
});

// Teardown with a lookup in flight. A getaddrinfo that the resolver is running cannot be cancelled, and
// Node itself waits for it: worker.terminate() waits for the worker's pending lookup requests, and
// process.exit() joins libuv's threadpool. What this pins is that neither transport adds a wait of its
// own: each takes as long as a bare dns.lookup of the same name (the measured numbers are printed with
// TEARDOWN_DEBUG=1; docs/native-transport.md has them).
describe.skipIf(shimSkip !== undefined)(`teardown with a lookup in flight${shimSkip ? ` — SKIPPED: ${shimSkip}` : ''}`, () => {
  const LOOKUP_MS = 1500;
  const host = `ms${LOOKUP_MS}.v4.tsha.test`;

  it('worker.terminate() and process.exit() take no longer than with a bare dns.lookup in flight', async () => {
    const times: Record<string, { terminateMs: number; exitMs: number }> = {};
    for (const kind of ['dns', ...KINDS]) {
      const w = await runChild('worker', { kind, host });
      expect(w.stderr).not.toMatch(/Assertion|Abort|Segmentation|FATAL|AddressSanitizer|runtime error/);
      expect(w.code).toBe(0);
      const e = await runChild('exit', { kind, host });
      expect(e.code).toBe(0);
      times[kind] = { terminateMs: (w.results[0] as { terminateMs: number }).terminateMs, exitMs: e.exitAfterResultMs };
    }
    if (process.env.TEARDOWN_DEBUG) console.log(JSON.stringify(times));
    for (const kind of KINDS) {
      expect(times[kind]!.terminateMs).toBeLessThan(times.dns!.terminateMs + 500);
      expect(times[kind]!.exitMs).toBeLessThan(times.dns!.exitMs + 500);
    }
    // Bounded by the lookup, not by any connect deadline (those are 60 s here).
    for (const t of Object.values(times)) {
      expect(t.terminateMs).toBeLessThan(LOOKUP_MS + 1500);
      expect(t.exitMs).toBeLessThan(LOOKUP_MS + 1500);
    }
  }, 90_000);
});
