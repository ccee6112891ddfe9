/**
 * The scripted peer (lib/sim/scripted-peer.ts) in its own process: can be SIGSTOPped, and feeds benchmarks
 * from another core. Forks the compiled child (dist/lib/sim/scripted-peer-main.js, located like the
 * simulator's children: `npm run build` first) from the TS sources (vitest) and from dist/ (benchmarks).
 */
import type { ChildProcess } from 'node:child_process';
import { ChildHandle } from '../../lib/sim/process.js';
import type { ScriptedPeerStats } from '../../lib/sim/scripted-peer.js';

export type ChildPeerStats = ScriptedPeerStats;

export interface ChildPeerOptions {
  addpTimeoutMs?: number;
  backlog?: number;
  host?: string;
  /** A second listener whose connections are told ServerRole 1 (same events): see `ChildPeer.backupPort`. */
  backupPort?: boolean;
  /** Make each streamed event this many bytes bigger. */
  padBytes?: number;
}

/** Children alive, killed (by their own PIDs) if this process exits without `kill()`. */
const live = new Set<ChildHandle>();
let exitHook = false;

/** A running child peer; always call `kill()` (also resumes it if stopped). */
export class ChildPeer {
  private constructor(
    private readonly handle: ChildHandle,
    readonly port: number,
    /** Bytes of one streamed event. */
    readonly frameBytes: number,
    /** With `backupPort: true`: the port whose connections are told ServerRole 1 (same events). */
    readonly backupPort: number | undefined,
  ) {}

  static async start(options: ChildPeerOptions = {}): Promise<ChildPeer> {
    const handle = new ChildHandle('scripted peer', 'scripted-peer-main.js', options, () => {});
    live.add(handle);
    handle.proc.once('exit', () => live.delete(handle));
    if (!exitHook) {
      exitHook = true;
      process.on('exit', () => {
        for (const h of live) h.killNow();
      });
    }
    let timer: NodeJS.Timeout | undefined;
    try {
      const ready = await Promise.race([
        handle.ready,
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('child peer did not start within 10 s')), 10_000))),
      ]);
      return new ChildPeer(handle, Number(ready.port), Number(ready.frameBytes), ready.backupPort === undefined ? undefined : Number(ready.backupPort));
    } catch (err) {
      await kill(handle);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  get child(): ChildProcess {
    return this.handle.proc;
  }

  get pid(): number {
    return this.handle.pid!;
  }

  /** SIGSTOP: the process keeps its sockets but does nothing (the kernel still ACKs). */
  sigstop(): void {
    this.handle.signal('SIGSTOP');
  }

  sigcont(): void {
    this.handle.signal('SIGCONT');
  }

  /** Stream EventRouteRequest frames to every registered connection; rate 0 = saturate. */
  stream(rate: number, batch = 64): void {
    this.handle.command({ op: 'stream', rate, batch }, 60_000).catch(() => {});
  }

  stopStream(): void {
    this.handle.command({ op: 'stop' }, 60_000).catch(() => {});
  }

  /** Counters; commands are answered in order, so after `stopStream()` `sent` is final. */
  async stats(): Promise<ChildPeerStats> {
    return (await this.handle.command({ op: 'stats' }, 60_000)) as ChildPeerStats;
  }

  /** Kill the child (SIGCONT first if stopped) and wait for it to exit. */
  kill(): Promise<void> {
    return kill(this.handle);
  }
}

/** SIGKILL this one child (SIGCONT first if stopped) and wait for it to exit. */
async function kill(handle: ChildHandle): Promise<void> {
  const p = handle.proc;
  if (handle.exited || p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
  if (handle.stopped) handle.signal('SIGCONT');
  p.kill('SIGKILL');
  await exited;
}
