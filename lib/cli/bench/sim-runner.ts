/**
 * One bench cell on the built-in simulator: one simulation for all its runs (a run restores the pair of
 * servers its fault left behind: restart a killed server, continue a stopped one), a fresh TServerPair per
 * run on the current primary/backup, route traffic answered with RequestRouteCall, the fault at the
 * primary, every timestamp, and the events and routes checked against the switch's oracle.
 */
import { monotonicMs } from '../../clock.js';
import type { EndpointName } from '../../endpoint/endpoint.js';
import { OPEN_END } from '../../pair/events.js';
import { TServerPair } from '../../pair/pair.js';
import {
  OracleReader,
  compareNumberedWithOracle,
  startSimulation,
  type Endpoint,
  type Oracle,
  type Simulation,
} from '../../sim/index.js';
import { RunObserver, countOutcomes, round3, type RequestRecord } from './observer.js';
import { blankRun, emptyJudgement, type Mode, type RunResult, type SimFault, type TransportName } from './types.js';
import { Interrupted, bounded, sleep, until } from './wait.js';

export interface SimCellConfig {
  mode: Mode;
  transport: TransportName;
  fault: SimFault;
  /** Switch events per second while a run's traffic flows. */
  rate: number;
  promotionDelayMs: number;
  /** The pair's ADDP timeout; undefined = the pair's default. */
  addpMs: number | undefined;
  /** Traffic kept after requests flow again. */
  afterMs: number;
  requestTimeoutMs: number;
  /** link-down: how long the primary's CTI link stays down. */
  linkDownMs: number;
  routeTimeoutMs: number;
  /** Events delivered before the fault. */
  warmupEvents: number;
  /** Bound of each wait inside a run. */
  stepTimeoutMs: number;
  /** The bench's own randomness (seeded). */
  random: () => number;
}

type ServerName = 'A' | 'B';
interface ServerStatus {
  role?: number;
  ctiUp?: boolean;
  linkReported?: boolean;
  syncDone?: boolean;
  listening?: boolean;
  error?: string;
}


export class SimCell {
  private readonly reader: OracleReader;
  /** What the previous run left to repair before the next one: the server it faulted. */
  private toRestore: { fault: SimFault; server: ServerName } | null = null;

  private constructor(
    readonly key: string,
    private readonly cfg: SimCellConfig,
    private readonly sim: Simulation,
  ) {
    this.reader = new OracleReader(sim.oraclePath);
  }

  static async start(key: string, cfg: SimCellConfig): Promise<SimCell> {
    const sim = await startSimulation({ mode: cfg.mode, rate: 0, promotionDelayMs: cfg.promotionDelayMs, routeTimeoutMs: cfg.routeTimeoutMs });
    return new SimCell(key, cfg, sim);
  }

  stop(): Promise<void> {
    return this.sim.stop();
  }

  private endpoint(name: ServerName): Endpoint {
    return name === 'A' ? this.sim.primary : this.sim.backup;
  }

  private primaryName(): ServerName {
    return this.sim.roles().A === 0 ? 'A' : 'B';
  }

  /** Repair what the previous run's fault left, then wait until both servers are healthy in their roles. */
  private async restore(signal: AbortSignal): Promise<void> {
    const r = this.toRestore;
    if (r?.fault === 'kill') await bounded(this.sim.fault({ kind: 'restart', server: r.server }), this.cfg.stepTimeoutMs, 'restart of the killed server', signal);
    if (r?.fault === 'stop') await this.sim.fault({ kind: 'cont', server: r.server }).catch(() => {});
    if (r?.fault === 'link-down') await this.sim.fault({ kind: 'link-up', server: r.server }).catch(() => {});
    // Repaired (a failed restart stays to repair: the next run tries again instead of finding it dead).
    this.toRestore = null;
    const end = monotonicMs() + this.cfg.stepTimeoutMs;
    let last = '';
    const restarted = new Set<ServerName>();
    for (;;) {
      const st = (await this.sim.status()) as unknown as Record<ServerName, ServerStatus>;
      // A server process that is gone (it exited after its fault: a continued process that died, a restart
      // that failed) is started again, once per repair.
      for (const n of ['A', 'B'] as const) {
        if (st[n].error === 'not running' && !restarted.has(n)) {
          restarted.add(n);
          await bounded(this.sim.fault({ kind: 'restart', server: n }), this.cfg.stepTimeoutMs, `restart of ${n} (not running)`, signal);
        }
      }
      const roles = this.sim.roles();
      const p = this.primaryName();
      const b: ServerName = p === 'A' ? 'B' : 'A';
      const ok = (['A', 'B'] as const).every((n) => st[n].error === undefined && st[n].role === roles[n] && st[n].ctiUp);
      const healthy = ok && roles[b] === 1 && (this.cfg.mode === 'hot' ? st[b].syncDone && st[b].linkReported : st[p].listening && !st[b].listening);
      if (healthy) return;
      last = JSON.stringify({ roles, A: st.A, B: st.B });
      if (monotonicMs() > end) throw new Error(`the simulated pair did not recover from the previous run: ${last}`);
      await sleep(10, signal);
    }
  }

  /** One run; never throws but on Ctrl-C ({@link Interrupted}); a failed run comes back with `error`. */
  async run(i: number, signal: AbortSignal): Promise<RunResult> {
    const cfg = this.cfg;
    const sim = this.sim;
    const res = blankRun(this.key, i);
    let pair: TServerPair | undefined;
    let obs: RunObserver | undefined;
    let promotionAt: number | null = null;
    let newName: ServerName | null = null;
    const onSimEvent = (ev: { source?: string; event?: string; role?: number }) => {
      if (promotionAt === null && newName !== null && ev.source === newName && ev.event === 'role' && ev.role === 0) {
        promotionAt = monotonicMs();
        obs?.note(promotionAt, `promotion of ${newName} (simulator)`);
      }
    };
    sim.events.on('event', onSimEvent);
    try {
      await this.restore(signal);
      const oldName = this.primaryName();
      const backupName: ServerName = oldName === 'A' ? 'B' : 'A';
      const dns = [...sim.routePoints, ...sim.agents];
      const p = new TServerPair({
        name: 'BenchPair',
        primary: { host: this.endpoint(oldName).host, port: this.endpoint(oldName).port },
        backup: { host: this.endpoint(backupName).host, port: this.endpoint(backupName).port },
        mode: cfg.mode,
        transport: cfg.transport,
        dns,
        requestTimeoutMs: cfg.requestTimeoutMs,
        ...(cfg.addpMs !== undefined ? { addp: { timeoutMs: cfg.addpMs } } : {}),
      });
      pair = p;
      p.on('error', () => {});
      const o = new RunObserver(p, {
        routeTo: () => sim.agents[Math.floor(cfg.random() * sim.agents.length)]!,
        requestTimeoutMs: cfg.requestTimeoutMs,
        sameEndpoint: cfg.fault === 'link-down',
      });
      obs = o;
      await bounded(p.open(), cfg.stepTimeoutMs, 'pair.open()', signal);
      await until(() => {
        const st = p.state;
        const up = (x: typeof st.endpoints.primary) => x.server === 'open' && x.link === 'up';
        return st.active === 'primary' && up(st.endpoints.primary) && (cfg.mode === 'warm' || up(st.endpoints.backup));
      }, cfg.stepTimeoutMs, () => `steady state (${JSON.stringify(p.state)})`, signal);

      // Checked against the oracle from here: every DN is registered on the servers the pair uses.
      this.reader.read();
      const afterSeq = (await sim.emit(0)).seq;
      await sim.setRate(cfg.rate);
      const n0 = o.received.length;
      await until(() => o.received.length >= n0 + cfg.warmupEvents, cfg.stepTimeoutMs, () => 'traffic before the fault', signal);
      // The fault lands at a random moment of the traffic (seeded).
      await sleep(Math.floor(cfg.random() * 50), signal);

      newName = cfg.fault === 'link-down' ? null : backupName;
      const recoverOn: EndpointName = cfg.fault === 'link-down' ? 'primary' : 'backup';
      const faultWall = Date.now();
      const faultAt = o.markFault('primary', recoverOn);
      this.toRestore = { fault: cfg.fault, server: oldName };
      await sim.fault(cfg.fault === 'switchover' ? { kind: 'switchover' } : { kind: cfg.fault, server: oldName });
      const faultDoneAt = monotonicMs();
      if (cfg.fault === 'link-down') {
        await sleep(cfg.linkDownMs, signal);
        await sim.fault({ kind: 'link-up', server: oldName });
        o.note(monotonicMs(), 'CTI link restored (simulator)');
      }
      await until(() => o.recovered !== null, cfg.stepTimeoutMs + cfg.promotionDelayMs + 2000, () => `requests to flow again (${JSON.stringify(p.state)})`, signal);
      const recovered = o.recovered!;
      await sleep(cfg.afterMs, signal);
      await sim.setRate(0);
      // Drain: until nothing new was delivered for 100 ms (bounded).
      const drainEnd = monotonicMs() + cfg.stepTimeoutMs;
      for (let last = -1; o.received.length !== last && monotonicMs() < drainEnd;) {
        last = o.received.length;
        await sleep(100, signal);
      }
      const unsettled = await o.settle(cfg.requestTimeoutMs + 1000);
      const upToSeq = (await sim.emit(0)).seq;
      const oracle = this.reader.read();

      // Latencies.
      const at = (x: number | null | undefined) => (x === null || x === undefined ? null : round3(x - faultAt));
      const m = res.metrics;
      m.detectMs = at(o.detectedAt());
      m.firstEventMs = at(o.firstEvent?.at);
      m.promotionMs = at(promotionAt);
      m.recoverMs = at(recovered.timestamp);
      if (promotionAt !== null) m.readyMs = round3(recovered.timestamp - promotionAt);
      const sw = o.switchover;
      const hot = cfg.mode === 'hot' ? o.hotOverhead(recoverOn) : null;
      if (hot) {
        m.overheadMs = hot.overheadMs;
        res.extra.listenerLagMs = hot.listenerLagMs;
      }
      const wc = o.warmConnect;
      if (cfg.mode === 'warm' && cfg.fault !== 'link-down' && wc?.connectStartAt !== undefined) {
        m.overheadMs = round3(recovered.timestamp - wc.connectStartAt);
        if (promotionAt !== null) res.extra.retryWaitMs = round3(wc.connectStartAt - promotionAt);
        if (wc.connectedAt !== undefined) res.extra.connectMs = round3(wc.connectedAt - wc.connectStartAt);
        if (wc.connectedAt !== undefined && wc.openAt !== undefined) res.extra.handshakeMs = round3(wc.openAt - wc.connectedAt);
      }
      res.extra.faultDoneMs = round3(faultDoneAt - faultAt);
      if (sw) res.switchover = { from: sw.from, to: sw.to, reason: sw.reason, replayed: sw.replayed };
      res.gaps = o.gaps.map((g) => ({ epoch: g.epoch, fromSeq: g.fromSeq, toSeq: g.toSeq }));
      res.timeline = o.timeline.sort((a, b) => a.t - b.t);

      // Events against the oracle, per numbering epoch (mapped to switch seqs).
      const toSwitch = (epoch: string, seq: number): number | null => {
        if (seq >= OPEN_END) return Number.MAX_SAFE_INTEGER;
        try {
          return sim.toSwitchSeq(epoch, seq);
        } catch {
          return null;
        }
      };
      const gaps = o.gaps.map((g) => [toSwitch(g.epoch, g.fromSeq), toSwitch(g.epoch, g.toSeq)] as const).filter((g): g is readonly [number, number] => g[0] !== null && g[1] !== null);
      const cmp = compareNumberedWithOracle(oracle, sim.numberings(), o.received.map((r) => ({ label: r.epoch, seq: r.seq })), dns, { afterSeq, upToSeq });
      const inGap = (q: number) => gaps.some(([f, t]) => q >= f && q <= t);
      const lostInGap = cmp.lost.filter(inGap).length;
      let gapSeqs = 0;
      for (const [f, t] of gaps) gapSeqs += Math.max(0, Math.min(t, upToSeq) - Math.max(f, afterSeq + 1) + 1);
      res.events = {
        expected: cmp.expected,
        received: cmp.received,
        lost: cmp.lost.length - lostInGap,
        lostInGap,
        duplicated: cmp.duplicated.length,
        unexpected: cmp.unexpected.length + cmp.unmapped.length,
        gapSeqs,
      };
      const last = o.lastBeforeFault ? toSwitch(o.lastBeforeFault.epoch, o.lastBeforeFault.seq) : null;
      const lastEv = last === null ? undefined : oracle.events.find((e) => e.seq === last);
      if (lastEv) res.extra.lagAtFaultMs = round3(faultWall - lastEv.timeUs / 1000);

      // Requests, each failure matched with the rule that explains it.
      const explain = explainer(oracle, cfg, oldName, recovered.timestamp);
      const c = countOutcomes(o.requests, explain, judge(oracle), faultAt);
      // A call routed twice: more than one route line for its ConnID (the switch routes a call once).
      const lines = new Map<bigint, Oracle['routes']>();
      for (const r of oracle.routes) lines.set(r.connId, [...(lines.get(r.connId) ?? []), r]);
      const doubles = [...lines].filter(([, rs]) => rs.length > 1);
      const phaseOf = new Map(o.requests.map((r) => [r.connId, r.phase]));
      const wrong = [
        ...c.wrong,
        ...doubles.map(([id, rs]) => ({ connId: String(id), phase: phaseOf.get(id) ?? ('after' as const), outcome: 'routed twice', oracle: rs.map(describeRoute).join(', '), why: `${rs.length} route lines for one call` })),
      ];
      res.requests = {
        ...c.all, ...emptyJudgement(true), wrongOutcome: c.wrong.length, inDoubtRouted: c.inDoubtRouted, doubleRouted: doubles.length, wrong,
        unsettled, byPhase: c.byPhase, explanations: c.explanations, failures: c.failures,
      };
    } catch (err) {
      if (err instanceof Interrupted) throw err;
      res.error = (err as Error).message;
      if (obs) {
        const c = countOutcomes(obs.requests, () => null);
        res.requests = { ...c.all, ...emptyJudgement(false), unsettled: c.unsettled, byPhase: c.byPhase, explanations: c.explanations, failures: c.failures };
        res.timeline = obs.timeline;
      }
      // Whatever state the servers are in, the next run starts from a fresh simulation state check.
      await sim.setRate(0).catch(() => {});
    } finally {
      sim.events.off('event', onSimEvent);
      obs?.detach();
      await Promise.race([pair?.close().catch(() => {}), sleep(5000)]);
    }
    return res;
  }
}

/**
 * The documented rule behind a failed RequestRouteCall (docs/semantics.md "Requests", docs/protocol.md
 * EventError codes), checked against what the switch's oracle says happened to the call; null when none
 * applies (counted as unexplained).
 */
function explainer(oracle: Oracle, cfg: SimCellConfig, oldName: ServerName, recoveredAt: number): (r: RequestRecord) => string | null {
  const routes = new Map<bigint, Oracle['routes'][number]>();
  for (const r of oracle.routes) if (!routes.has(r.connId)) routes.set(r.connId, r);
  const released = new Set<bigint>();
  for (const e of oracle.events) if (e.type === 'EventReleased') released.add(e.connId);
  return (r) => {
    const route = routes.get(r.connId);
    switch (r.outcome) {
      case 'switchover':
        // In doubt after the failover, and the repeat's answer proved nothing (1201 with the call never
        // seen, 1203, 1205) — or the deadline passed before the repeat was answered.
        if (r.phase === 'after') return null;
        {
          const why = /no server could take the repeat/.test(r.errorMessage ?? '') ? 'no server could take the repeat before its deadline' : 'the repeat proved nothing';
          return route?.by === 'request' && route.server === oldName
            ? `SwitchoverError: in doubt after the failover, ${why}; the failed primary had routed the call`
            : `SwitchoverError: in doubt after the failover, ${why}; no request routed the call`;
        }
      case 'elsewhere':
        // The repeat found the call gone (1201) and the stream showed it ringing another DN.
        return route && (route.by !== 'request' || route.destination !== r.otherDN) ? `CallElsewhereError: the call went to ${route.destination} (${route.by}), not to ${r.otherDN}` : null;
      case 'timeout':
        if (r.sentAt + cfg.requestTimeoutMs <= recoveredAt) return 'RequestTimeoutError: its deadline passed while no server was usable';
        // Queued while no server was usable, sent when requests flowed again (with every other queued
        // request at once), and its deadline came before the answer: the failure list has when it was made.
        return r.phase !== 'after' && r.sentAt < recoveredAt ? 'RequestTimeoutError: made while no server was usable, sent at recovery with the queued burst; its deadline came before the answer' : null;
      case 'server:1203':
        return cfg.mode === 'warm' && r.phase !== 'before' ? 'ServerError 1203: the call began before the warm backup was promoted (calls in progress are lost)' : null;
      case 'server:1204':
        return route && route.by !== 'request' ? `ServerError 1204: the call had reached its route timeout (oracle: ${route.by})` : null;
      case 'server:1202':
        return route?.by === 'request' ? 'ServerError 1202: routed already (by a request whose reply was lost)' : null;
      case 'server:1003':
        return cfg.fault === 'link-down' ? "ServerError 1003: the primary's CTI link was down" : null;
      case 'server:1002':
        return r.phase !== 'after' && (cfg.fault === 'switchover' || cfg.fault === 'stop') ? 'ServerError 1002: reached a server as it was demoted' : null;
      case 'server:1205':
        // The CTI link fell with the route on its way to the switch: the server cannot tell whether the switch acted.
        return r.phase !== 'after' || cfg.fault === 'link-down' ? 'ServerError 1205: the CTI link fell with the route on its way (the switch may or may not have acted)' : null;
      case 'server:1201':
        return released.has(r.connId) ? 'ServerError 1201: the call had been released' : null;
      default:
        return null;
    }
  };
}

const describeRoute = (r: Oracle['routes'][number]) => (r.by === 'request' ? `request/${r.server} → ${r.destination}` : `${r.by} → ${r.destination}`);

/**
 * Each request's outcome against what the switch's oracle says happened to its call (the bench routes each
 * call once, so "routed by a request" means routed by this request, by one of its attempts):
 * - resolved while the call was not routed by a request (default-routed, or still on its route point): wrong;
 * - failed while a request routed it: in doubt (SwitchoverError, or RequestTimeoutError of a request that
 *   was sent: "may or may not have run" is true) — else wrong (a false "not routed").
 */
function judge(oracle: Oracle): (r: RequestRecord) => { oracle: string; verdict?: 'wrong' | 'in-doubt-routed'; why?: string } {
  const routes = new Map<bigint, Oracle['routes'][number]>();
  for (const r of oracle.routes) if (!routes.has(r.connId)) routes.set(r.connId, r);
  return (r) => {
    const route = routes.get(r.connId);
    const seen = route ? describeRoute(route) : 'none';
    const byRequest = route?.by === 'request';
    if (r.outcome === 'ok') {
      if (!byRequest) return { oracle: seen, verdict: 'wrong', why: `resolved (${r.resolved ?? 'answered'}) but the oracle shows the call ${route ? `left by ${route.by}` : 'never routed'}` };
      return { oracle: seen };
    }
    if (!byRequest) return { oracle: seen };
    // Errors that say "may or may not have run": SwitchoverError, a sent request's timeout, 1205.
    if (r.outcome === 'switchover' || (r.outcome === 'timeout' && r.sent !== false) || r.outcome === 'server:1205') return { oracle: seen, verdict: 'in-doubt-routed', why: `${r.outcome}: in doubt, the call was routed by a request` };
    return { oracle: seen, verdict: 'wrong', why: `failed (${r.outcome}) but the oracle shows the call routed by a request` };
  };
}
