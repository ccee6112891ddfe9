/**
 * Parent side of a simulator child process: spawn on compiled JS with `process.execPath`, IPC commands
 * with replies, liveness beats, signals. Children exit when the parent's IPC channel closes.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { IpcFromChild } from './child.js';

/**
 * Directory holding the compiled child entry points. From dist/ it is this file's directory; under a
 * TS runner (vitest on lib/sim/*.ts) it is dist/lib/sim of the repository root, so `npm run build` first.
 */
export function childScriptDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  if (existsSync(join(here, 'switch-main.js'))) return here;
  let dir = here;
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json'))) {
      const d = join(dir, 'dist', 'lib', 'sim');
      if (existsSync(join(d, 'switch-main.js'))) return d;
      throw new Error(`simulator child scripts not built: run \`npm run build\` (looked in ${d})`);
    }
    dir = dirname(dir);
  }
  throw new Error('cannot locate the simulator child scripts (dist/lib/sim)');
}

/**
 * A free TCP port on `host` (bound and released; the caller binds it again at once), not one of `taken`
 * — the ports already chosen for the same simulation, which are free too until their servers bind them —
 * and added to it.
 */
export async function freePort(host: string, taken: Set<number>): Promise<number> {
  // Not port 0: the kernel would pick from the ephemeral range, and between our probe and the child's
  // bind any outgoing connection (a busy test run makes hundreds) may take that port (EADDRINUSE under
  // load). Below the ephemeral range only another listener can take it.
  const low = ephemeralLow();
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 10_000 + Math.floor(Math.random() * Math.max(1, low - 10_000));
    if (!taken.has(port) && (await canListen(host, port))) return take(taken, port);
  }
  for (let attempt = 0; attempt < 10; attempt++) {
    const port = await listenAny(host);
    if (!taken.has(port)) return take(taken, port);
  }
  throw new Error(`no free port on ${host} apart from ${[...taken].join(', ')}`);
}

function take(taken: Set<number>, port: number): number {
  taken.add(port);
  return port;
}

function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 11_000 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

function canListen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.unref();
    s.once('error', () => resolve(false));
    s.listen({ host, port, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

function listenAny(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen({ host, port: 0 }, () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** Environment variable carrying a child's secrets ({@link ChildHandle}'s `secrets`). */
export const SECRETS_ENV = 'TSERVER_HA_SIM_SECRETS';

/** One spawned child. */
export class ChildHandle {
  readonly proc: ChildProcess;
  lastAlive = Date.now();
  exited = false;
  stopped = false;
  exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  readonly ready: Promise<Record<string, unknown>>;

  constructor(
    readonly name: string,
    script: string,
    config: unknown,
    onEvent: (name: string, ev: Record<string, unknown>) => void,
    /** A command prefix to run the child under (e.g. `ip netns exec NAME`); it must exec, not fork. */
    wrap: string[] = [],
    /**
     * Configuration that must not be on the command line (a TLS key: any user can read a process's
     * arguments, only its owner its environment): passed as JSON in {@link SECRETS_ENV}, read by
     * {@link childSecrets}.
     */
    secrets?: unknown,
  ) {
    const path = join(childScriptDir(), script);
    const args = [JSON.stringify(config)];
    const env = secrets === undefined ? process.env : { ...process.env, [SECRETS_ENV]: JSON.stringify(secrets) };
    this.proc =
      wrap.length === 0
        ? fork(path, args, { execPath: process.execPath, env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json' })
        : spawn(wrap[0]!, [...wrap.slice(1), process.execPath, path, ...args], {
            env,
            stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
            serialization: 'json',
          });
    let readyResolve!: (v: Record<string, unknown>) => void;
    let readyReject!: (e: Error) => void;
    this.ready = new Promise((res, rej) => {
      readyResolve = res;
      readyReject = rej;
    });
    this.ready.catch(() => {});
    this.proc.on('message', (raw) => {
      const m = raw as IpcFromChild;
      if (m.t === 'alive') this.lastAlive = Date.now();
      else if (m.t === 'ready') {
        this.lastAlive = Date.now();
        readyResolve(m);
      } else if (m.t === 'reply') {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        clearTimeout(p.timer);
        if (m.error !== undefined) p.reject(new Error(m.error));
        else p.resolve(m.result);
      } else if (m.t === 'event') onEvent(name, m as unknown as Record<string, unknown>);
    });
    this.proc.on('exit', (code, signal) => {
      this.exited = true;
      this.exitInfo = { code, signal };
      readyReject(new Error(`${name} exited before it was ready (code ${code}, signal ${signal})`));
      for (const p of this.pending.values()) {
        clearTimeout(p.timer);
        p.reject(new Error(`${name} exited`));
      }
      this.pending.clear();
      onEvent(name, { event: 'exit', code, signal });
    });
    this.proc.on('error', () => {});
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  /** Send a command; rejects if the child does not answer within `timeoutMs` (a stopped child cannot). */
  command(cmd: { op: string; [k: string]: unknown }, timeoutMs = 3000): Promise<unknown> {
    if (this.exited || !this.proc.connected) return Promise.reject(new Error(`${this.name} is not running`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name} did not answer ${cmd.op} within ${timeoutMs} ms${this.stopped ? ' (it is stopped)' : ''}`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.proc.send({ t: 'cmd', id, cmd });
    });
  }

  /** Send a signal to this child (never to anything else). */
  signal(sig: NodeJS.Signals): void {
    if (this.exited) throw new Error(`${this.name} is not running`);
    this.proc.kill(sig);
    if (sig === 'SIGSTOP') this.stopped = true;
    if (sig === 'SIGCONT') {
      this.stopped = false;
      this.lastAlive = Date.now();
    }
  }

  /** Ask politely, then SIGKILL after `graceMs`. Resolves when the process is gone. */
  async stop(graceMs = 1000): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((res) => this.proc.once('exit', () => res()));
    if (this.stopped) this.proc.kill('SIGCONT');
    this.command({ op: 'shutdown' }, graceMs).catch(() => {});
    const t = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    await gone;
    clearTimeout(t);
  }

  /** Synchronous last resort (process 'exit' handler). */
  killNow(): void {
    if (!this.exited) this.proc.kill('SIGKILL');
  }
}
