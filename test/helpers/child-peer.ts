/**
 * Spawn test/helpers/peer-process.mjs (a peer in its own process: can be SIGSTOPped, and feeds benchmarks
 * from another core). Works from the TS sources (vitest) and from dist/ (benchmarks).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('child-peer: package.json not found above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
}

/** Path of the child peer script. */
export const PEER_PROCESS_PATH = join(repoRoot(), 'test', 'helpers', 'peer-process.mjs');

export interface ChildPeerStats {
  sent: number;
  seq: number;
  addpDrops: number;
  connections: number;
}

/** A running child peer; always call `kill()` (also resumes it if stopped). */
export class ChildPeer {
  private stopped = false;
  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
    readonly frameBytes: number,
    /** With `backupPort: true`: the port whose connections are told ServerRole 1 (same events). */
    readonly backupPort: number | undefined,
  ) {}

  static async start(options: { addpTimeoutMs?: number; backlog?: number; host?: string; backupPort?: boolean; padBytes?: number } = {}): Promise<ChildPeer> {
    const child = fork(PEER_PROCESS_PATH, [JSON.stringify(options)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const ready = await new Promise<{ port: number; frameBytes: number; backupPort?: number }>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('child peer did not start within 10 s')), 10_000);
      child.once('message', (m: { port: number; frameBytes: number; backupPort?: number }) => {
        clearTimeout(t);
        resolve(m);
      });
      child.once('exit', (code) => {
        clearTimeout(t);
        reject(new Error(`child peer exited with ${code} before listening`));
      });
    });
    return new ChildPeer(child, ready.port, ready.frameBytes, ready.backupPort);
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** SIGSTOP: the process keeps its sockets but does nothing (the kernel still ACKs). */
  sigstop(): void {
    this.child.kill('SIGSTOP');
    this.stopped = true;
  }

  sigcont(): void {
    this.child.kill('SIGCONT');
    this.stopped = false;
  }

  /** Stream EventRouteRequest frames to every registered connection; rate 0 = saturate. */
  stream(rate: number, batch = 64): void {
    this.child.send({ cmd: 'stream', rate, batch });
  }

  stopStream(): void {
    this.child.send({ cmd: 'stop' });
  }

  stats(): Promise<ChildPeerStats> {
    return new Promise((resolve) => {
      const on = (m: { stats?: ChildPeerStats }) => {
        if (!m.stats) return;
        this.child.off('message', on);
        resolve(m.stats);
      };
      this.child.on('message', on);
      this.child.send({ cmd: 'stats' });
    });
  }

  /** Kill the child (SIGCONT first if stopped) and wait for it to exit. */
  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    if (this.stopped) this.sigcont();
    this.child.kill('SIGKILL');
    await exited;
  }
}
