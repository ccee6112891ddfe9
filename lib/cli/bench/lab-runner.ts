/**
 * Bench runs against a lab pair of real T-Servers: one TServerPair kept open for all runs (as a routing
 * server would), the fault triggered by a shell command or by the operator, and what the client can see
 * measured: detection, first event from the other server, requests flowing again, events duplicated or
 * missing by sequence number, request outcomes. Passive unless `routeTo` names a destination.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { monotonicMs } from '../../clock.js';
import type { EndpointName } from '../../endpoint/endpoint.js';
import { OPEN_END } from '../../pair/events.js';
import { TServerPair } from '../../pair/pair.js';
import { RunObserver, countOutcomes, other, round3, type RequestRecord } from './observer.js';
import { emptyJudgement } from './types.js';
import { blankRun, type Mode, type RunResult, type TransportName } from './types.js';
import { Interrupted, bounded, sleep, until } from './wait.js';

export interface LabConfig {
  primary: { host: string; port: number };
  backup: { host: string; port: number };
  mode: Mode;
  transport: TransportName;
  dns: string[];
  /** Shell command that causes the failover (run with TSHA_* variables); null with `manual`. */
  faultCmd: string | null;
  manual: boolean;
  /** Shell command run after each run to bring the failed server back; null: none (the next run waits for a healthy pair). */
  restoreCmd: string | null;
  /** Answer every EventRouteRequest on the DNs with RequestRouteCall to this DN; null: passive. */
  routeTo: string | null;
  beforeMs: number;
  afterMs: number;
  requestTimeoutMs: number;
  /** Bound of every wait (healthy pair, fault command, recovery). */
  waitTimeoutMs: number;
  addpMs: number | undefined;
  applicationName: string;
  /** Where prompts for the operator go. */
  say: (line: string) => void;
}


/** Commands running now, ended if this process exits (a second Ctrl-C exits at once). */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of running) killGroup(c);
});

/** SIGTERM the process group of a command we started (never anything else). */
function killGroup(child: ChildProcess): void {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    child.kill('SIGTERM');
  }
}

/** Run `cmd` with `sh -c`; resolves with its exit code (null: killed). Killed on abort or after `ms`. */
function runShell(cmd: string, env: Record<string, string>, ms: number, signal: AbortSignal, children: Set<ChildProcess>): Promise<{ code: number | null; ms: number }> {
  const start = monotonicMs();
  return new Promise((resolve, reject) => {
    // Its own process group, so a timeout or Ctrl-C ends the whole command (sh and what it started).
    const child = spawn('sh', ['-c', cmd], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, ...env }, detached: true });
    children.add(child);
    running.add(child);
    const kill = () => killGroup(child);
    const timer = setTimeout(kill, ms);
    signal.addEventListener('abort', kill, { once: true });
    child.on('error', (err) => {
      clearTimeout(timer);
      children.delete(child);
      running.delete(child);
      reject(err);
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', kill);
      children.delete(child);
      running.delete(child);
      if (signal.aborted) reject(new Interrupted());
      else resolve({ code, ms: monotonicMs() - start });
    });
  });
}

export class LabSession {
  private pair: TServerPair | undefined;
  /** Shell commands still running (killed by {@link LabSession.stop}). */
  private readonly children = new Set<ChildProcess>();

  constructor(
    readonly key: string,
    private readonly cfg: LabConfig,
  ) {}

  async start(signal: AbortSignal): Promise<void> {
    const cfg = this.cfg;
    const p = new TServerPair({
      name: 'BenchLab',
      applicationName: cfg.applicationName,
      primary: cfg.primary,
      backup: cfg.backup,
      mode: cfg.mode,
      transport: cfg.transport,
      dns: cfg.dns,
      requestTimeoutMs: cfg.requestTimeoutMs,
      openTimeoutMs: cfg.waitTimeoutMs,
      ...(cfg.addpMs !== undefined ? { addp: { timeoutMs: cfg.addpMs } } : {}),
    });
    p.on('error', () => {});
    this.pair = p;
    await bounded(p.open(), cfg.waitTimeoutMs + 1000, 'pair.open() on the lab pair', signal);
  }

  async stop(): Promise<void> {
    for (const c of this.children) killGroup(c);
    await Promise.race([this.pair?.close().catch(() => {}), sleep(5000)]);
  }

  private healthy(): boolean {
    const st = this.pair!.state;
    if (st.active === null) return false;
    const up = (x: typeof st.endpoints.primary) => x.server === 'open' && x.link === 'up';
    return up(st.endpoints[st.active]) && (this.cfg.mode === 'warm' || up(st.endpoints[other(st.active)]));
  }

  async run(i: number, signal: AbortSignal): Promise<RunResult> {
    const cfg = this.cfg;
    const p = this.pair!;
    const res = blankRun(this.key, i, null);
    const o = new RunObserver(p, { routeTo: cfg.routeTo ? () => cfg.routeTo! : null, requestTimeoutMs: cfg.requestTimeoutMs });
    try {
      await until(() => this.healthy(), cfg.waitTimeoutMs, () => `a healthy pair (${JSON.stringify(p.state)})`, signal, 20);
      await sleep(cfg.beforeMs, signal);
      const oldEp: EndpointName = p.state.active!;
      const addr = (e: EndpointName) => `${cfg[e].host}:${cfg[e].port}`;
      let faultAt: number;
      if (cfg.manual) {
        cfg.say(`run ${i + 1}: perform the switchover now (primary is ${addr(oldEp)}); waiting up to ${Math.round(cfg.waitTimeoutMs / 1000)} s for the pair to see it`);
        const promptAt = o.markFault(oldEp, other(oldEp));
        o.timeline[0]!.what = 'operator prompted';
        await until(() => o.detectedAt() !== null || o.recovered !== null, cfg.waitTimeoutMs, () => 'the operator\'s switchover', signal, 5);
        // The operator's moment is not known: times count from the pair's detection.
        faultAt = o.detectedAt() ?? o.recovered!.timestamp;
        o.faultAt = faultAt;
        for (const mk of o.timeline) mk.t = round3(mk.t + promptAt - faultAt);
      } else {
        faultAt = o.markFault(oldEp, other(oldEp));
        const env = { TSHA_PRIMARY: addr(oldEp), TSHA_BACKUP: addr(other(oldEp)), TSHA_MODE: cfg.mode, TSHA_RUN: String(i + 1) };
        const r = await runShell(cfg.faultCmd!, env, cfg.waitTimeoutMs, signal, this.children);
        o.note(monotonicMs(), `fault command exited (${r.code})`);
        res.extra.faultCmdMs = round3(r.ms);
        res.extra.faultCmdExit = r.code;
      }
      // Recovered: requests flow on the other server, or on the same one after an interruption.
      await until(() => o.recovered !== null || o.recoveredSame(), cfg.waitTimeoutMs, () => `requests to flow again (${JSON.stringify(p.state)})`, signal, 5);
      const recovered = o.recovered ?? o.sameRecovery!;
      await sleep(cfg.afterMs, signal);
      const unsettled = await o.settle(cfg.requestTimeoutMs + 1000);

      const at = (x: number | null | undefined) => (x === null || x === undefined ? null : round3(x - faultAt));
      const m = res.metrics;
      m.detectMs = cfg.manual ? null : at(o.detectedAt());
      m.firstEventMs = at(o.firstEvent?.at);
      m.recoverMs = at(recovered.timestamp);
      const sw = o.switchover;
      const hot = cfg.mode === 'hot' ? o.hotOverhead(recovered.endpoint) : null;
      if (hot) {
        m.overheadMs = hot.overheadMs;
        res.extra.listenerLagMs = hot.listenerLagMs;
      }
      const wc = o.warmConnect;
      if (cfg.mode === 'warm' && wc?.connectStartAt !== undefined && o.recovered) m.overheadMs = round3(recovered.timestamp - wc.connectStartAt);
      if (sw) res.switchover = { from: sw.from, to: sw.to, reason: sw.reason, replayed: sw.replayed };
      res.gaps = o.gaps.map((g) => ({ epoch: g.epoch, fromSeq: g.fromSeq, toSeq: g.toSeq }));
      res.timeline = o.timeline.sort((a, b) => a.t - b.t);
      res.events = seqCounts(o);
      const explain = (r: RequestRecord): string | null => {
        if (r.outcome === 'switchover' && r.phase !== 'after') return 'SwitchoverError: in doubt after the failover, the repeat proved nothing either way';
        if (r.outcome === 'elsewhere' && r.phase !== 'after') return 'CallElsewhereError: in doubt after the failover; the stream showed the call at another DN';
        if (r.outcome === 'server:1204' && r.phase !== 'after') return 'ServerError 1204: in doubt after the failover; the call had reached its route timeout';
        if (r.outcome === 'timeout' && r.sentAt + cfg.requestTimeoutMs <= recovered.timestamp) return 'RequestTimeoutError: its deadline passed while no server was usable';
        if (r.outcome === 'server:1003' && o.linkDownAt !== null) return "ServerError 1003: the primary's CTI link was down";
        return null;
      };
      const c = countOutcomes(o.requests, explain);
      res.requests = { ...c.all, ...emptyJudgement(false), unsettled, byPhase: c.byPhase, explanations: c.explanations, failures: c.failures };
      if (cfg.restoreCmd) {
        const r = await runShell(cfg.restoreCmd, { TSHA_FAILED: addr(oldEp), TSHA_PRIMARY: addr(recovered.endpoint!), TSHA_MODE: cfg.mode, TSHA_RUN: String(i + 1) }, cfg.waitTimeoutMs, signal, this.children);
        res.extra.restoreCmdExit = r.code;
      }
    } catch (err) {
      if (err instanceof Interrupted) throw err;
      res.error = (err as Error).message;
      const c = countOutcomes(o.requests, () => null);
      res.requests = { ...c.all, ...emptyJudgement(false), unsettled: c.unsettled, byPhase: c.byPhase, explanations: c.explanations, failures: c.failures };
      res.timeline = o.timeline;
    } finally {
      o.detach();
    }
    return res;
  }
}

/**
 * Events by sequence number, per numbering epoch: duplicates exactly; "lost" = holes between consecutive
 * delivered numbers outside every reported gap, and `lostInGap` = the gap ranges between the first and last
 * delivered number. Holes are exact only when the registered DNs carry every event the server numbers (a
 * client sees only its DNs' events); otherwise they are an upper bound (bench/README.md).
 */
function seqCounts(o: RunObserver): RunResult['events'] {
  const byEpoch = new Map<string, number[]>();
  for (const r of o.received) {
    let a = byEpoch.get(r.epoch);
    if (!a) byEpoch.set(r.epoch, (a = []));
    a.push(r.seq);
  }
  let received = 0;
  let duplicated = 0;
  let lost = 0;
  let lostInGap = 0;
  let gapSeqs = 0;
  for (const [epoch, seqs] of byEpoch) {
    const sorted = [...seqs].sort((a, b) => a - b);
    // Reported gaps of this epoch, merged.
    const gaps: [number, number][] = [];
    for (const g of o.gaps.filter((x) => x.epoch === epoch).sort((a, b) => a.fromSeq - b.fromSeq)) {
      const last = gaps.at(-1);
      if (last && g.fromSeq <= last[1] + 1) last[1] = Math.max(last[1], g.toSeq);
      else gaps.push([g.fromSeq, g.toSeq]);
    }
    const covered = (a: number, b: number) => gaps.reduce((n, [f, t]) => n + Math.max(0, Math.min(b, t) - Math.max(a, f) + 1), 0);
    for (let k = 0; k < sorted.length; k++) {
      if (k > 0 && sorted[k] === sorted[k - 1]) {
        duplicated++;
        continue;
      }
      received++;
      if (k > 0 && sorted[k]! > sorted[k - 1]! + 1) {
        const a = sorted[k - 1]! + 1;
        const b = sorted[k]! - 1;
        const inGap = covered(a, b);
        lostInGap += inGap;
        lost += b - a + 1 - inGap;
      }
    }
    for (const [f, t] of gaps) gapSeqs += t >= OPEN_END ? 0 : t - f + 1;
  }
  return { expected: null, received, lost, lostInGap, duplicated, unexpected: 0, gapSeqs };
}
