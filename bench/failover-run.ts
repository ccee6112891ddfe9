/**
 * One failover run for bench/failover.ts: a fresh simulation, a pair on it, route traffic answered with
 * RequestRouteCall, a fault at the primary, and every timestamp the table needs. Every wait is bounded;
 * the only processes stopped are the simulation's own (sim.stop()).
 */
import { monotonicMs } from '../lib/clock.js';
import { TServerPair } from '../lib/pair/pair.js';
import type { Endpoint, EndpointName } from '../lib/endpoint/endpoint.js';
import type { ActiveEvent, EventServerDisconnected, GapEvent, SwitchoverEvent, TEvent } from '../lib/pair/events.js';
import { RequestTimeoutError, ServerError, SwitchoverError } from '../lib/errors.js';
import { Attr, MessageType } from '../lib/protocol/ids.js';
import { compareWithOracle, startSimulation, type Simulation, type SwitchoverRecord } from '../lib/sim/index.js';

/** What one run does. */
export interface RunConfig {
  mode: 'hot' | 'warm';
  transport: 'node' | 'native';
  /** Switch events per second while traffic runs. */
  rate: number;
  fault: 'kill' | 'stop';
  /** Pair ADDP timeout (ms); undefined = the pair's default. */
  addpMs: number | undefined;
  /** Management role's disconnect-switchover-timeout. */
  promotionDelayMs: number;
  /** Traffic kept after the pair is active on the new primary. */
  afterMs: number;
  /** Deadline of each RequestRouteCall. */
  requestTimeoutMs: number;
  /** Pair reconnect schedule; undefined = the pair's default. */
  retry: { minDelayMs: number; maxDelayMs: number } | undefined;
  breaker: boolean;
  /** Bound of each wait inside the run. */
  stepTimeoutMs: number;
}

/** Request outcomes by class. */
export interface Outcomes {
  ok: number;
  switchover: number;
  timeout: number;
  server: number;
  other: number;
  /** ServerError ErrorCodes and `other` error codes, with counts. */
  detail: Record<string, number>;
}

/** When a request was made, relative to the fault and the new primary's `active`. */
export type Phase = 'before' | 'switching' | 'after';

const outcomes = () => ({ sent: 0, ok: 0, switchover: 0, timeout: 0, server: 0, other: 0, detail: {} as Record<string, number> });

/** Everything measured in one run; latencies in ms (null when the moment was not observed). */
export interface RunResult {
  mode: 'hot' | 'warm';
  transport: 'node' | 'native';
  run: number;
  error: string | null;
  /** Fault injected → EventServerDisconnected(primary).timestamp (the transport's lossDetectedAt). */
  detectMs: number | null;
  /** Fault → first TEvent from the new primary handed to the application (listener time). */
  firstEventMs: number | null;
  /** Fault → receivedAt of that first event (negative when it was read before the fault and held in the window). */
  firstEventReadMs: number | null;
  /**
   * How far behind the switch the application was when the fault hit: wall time of the fault − the switch's
   * emit time of the last event delivered before it (oracle; 1 ms resolution). A kill is detected only after
   * the bytes already in the socket are read, so a backlog here shows up in `detectMs`.
   */
  lagAtFaultMs: number | null;
  /** Fault → `sim.fault()` resolved: for kill, this process saw the child exit (SIGCHLD), i.e. its sockets are closed by then. */
  faultDoneMs: number | null;
  /** Fault → the management role's promotion, as seen by this process (the new primary's `role` IPC message). */
  promotionMs: number | null;
  /**
   * Client overhead. hot: the batch carrying the new primary's EventPrimaryChanged was read (batch.receivedAt)
   * → `active` for it. warm: TCP connect started (the attempt that succeeded) → `active`.
   */
  overheadMs: number | null;
  /** Promotion seen by this process → `active` for the new primary. */
  readyMs: number | null;
  /** warm: promotion seen → connect start of the attempt that succeeded (the reconnect schedule's wait). */
  retryWaitMs: number | null;
  /** warm: the successful attempt, split: TCP connect, handshake + DN registrations, session open → `active`. */
  warmSteps: { connectMs: number; handshakeMs: number; openToActiveMs: number } | null;
  switchover: Pick<SwitchoverEvent, 'from' | 'to' | 'reason' | 'replayed' | 'gap'> | null;
  simSwitchover: (SwitchoverRecord & { promotedAtMono: number }) | null;
  gaps: { fromSeq: number; toSeq: number }[];
  oracle: { expected: number; received: number; lostOutsideGap: number[]; lostInGap: number; duplicated: number[]; unexpected: number };
  requests: Outcomes & {
    sent: number;
    unsettled: number;
    /** The same outcomes by when the request was made: before the fault, fault → `active` on the new primary, after. */
    byPhase: Record<Phase, Outcomes & { sent: number }>;
  };
  stats: TServerPair['stats'] | null;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function until(pred: () => boolean, ms: number, what: () => string): Promise<void> {
  const end = monotonicMs() + ms;
  while (!pred()) {
    if (monotonicMs() > end) throw new Error(`timed out after ${ms} ms waiting for ${what()}`);
    await sleep(5);
  }
}

/**
 * The pair's endpoints. Not public API: the bench reads them only to see the transport of the new primary
 * (the batch that carried EventPrimaryChanged, the connect start of a warm reconnect). Fails loudly if the
 * pair's internals change shape, rather than measuring nothing.
 */
function endpointsOf(pair: TServerPair): Record<EndpointName, Endpoint> {
  const eps = (pair as unknown as { endpoints?: Record<EndpointName, Endpoint> }).endpoints;
  if (!eps?.primary || !eps.backup || typeof eps.backup.on !== 'function') throw new Error('bench: TServerPair internals changed (no endpoints); update endpointsOf()');
  return eps;
}

function classify(out: Outcomes, err: unknown): void {
  if (err instanceof SwitchoverError) out.switchover++;
  else if (err instanceof RequestTimeoutError) out.timeout++;
  else if (err instanceof ServerError) {
    out.server++;
    const k = `server:${err.errorCode}`;
    out.detail[k] = (out.detail[k] ?? 0) + 1;
  } else {
    out.other++;
    const k = `other:${(err as { code?: string }).code ?? (err as Error).name}`;
    out.detail[k] = (out.detail[k] ?? 0) + 1;
  }
}

/** One run; never throws (a failed run comes back with `error` set and what was measured so far). */
export async function runOnce(cfg: RunConfig, run: number): Promise<RunResult> {
  const res: RunResult = {
    mode: cfg.mode, transport: cfg.transport, run, error: null,
    detectMs: null, lagAtFaultMs: null, faultDoneMs: null, firstEventMs: null, firstEventReadMs: null, promotionMs: null, overheadMs: null, readyMs: null,
retryWaitMs: null, warmSteps: null, switchover: null, simSwitchover: null, gaps: [],
    oracle: { expected: 0, received: 0, lostOutsideGap: [], lostInGap: 0, duplicated: [], unexpected: 0 },
    requests: { ...outcomes(), unsettled: 0, byPhase: { before: outcomes(), switching: outcomes(), after: outcomes() } },
    stats: null,
  };
  let sim: Simulation | undefined;
  let pair: TServerPair | undefined;
  const pending = new Set<Promise<unknown>>();
  try {
    sim = await startSimulation({ mode: cfg.mode, rate: 0, promotionDelayMs: cfg.promotionDelayMs });
    const s = sim;
    const dns = [...s.routePoints, ...s.agents];
    const p = new TServerPair({
      name: 'BenchPair',
      primary: { host: s.primary.host, port: s.primary.port },
      backup: { host: s.backup.host, port: s.backup.port },
      mode: cfg.mode,
      transport: cfg.transport,
      dns,
      ...(cfg.addpMs !== undefined ? { addp: { timeoutMs: cfg.addpMs } } : {}),
      ...(cfg.retry ? { retry: cfg.retry } : {}),
      ...(cfg.breaker ? {} : { breaker: false as const }),
    });
    pair = p;
    p.on('error', () => {});

    // Everything below is recorded by synchronous listeners, in monotonic ms.
    let faultAt = Number.NaN;
    let faulted = false;
    let disconnect: EventServerDisconnected | undefined;
    let sw: SwitchoverEvent | undefined;
    let activeNew: ActiveEvent | undefined;
    let firstNew: { at: number; receivedAt: number } | undefined;
    let promotionSeenAt: number | undefined;
    const gaps: GapEvent[] = [];
    const seqs: number[] = [];
    let answering = true;
    let agent = 0;
    const out = res.requests;

    p.on('EventServerDisconnected', (e) => {
      if (faulted && !disconnect && e.source === 'primary') disconnect = e;
    });
    p.on('switchover', (e) => {
      if (faulted && !sw) sw = e;
    });
    p.on('active', (e) => {
      if (faulted && !activeNew && e.endpoint === 'backup') activeNew = e;
    });
    p.on('gap', (g) => gaps.push(g));
    p.on('event', (e: TEvent) => {
      if (e.seq >= 0) seqs.push(e.seq);
      if (faulted && !firstNew && e.source === 'backup') firstNew = { at: monotonicMs(), receivedAt: e.receivedAt };
      if (!answering || e.type !== MessageType.EventRouteRequest) return;
      const connId = e.get(Attr.ConnID);
      const thisDN = e.get(Attr.ThisDN);
      if (connId === undefined || typeof thisDN !== 'string') return;
      const phase: Phase = !faulted ? 'before' : activeNew ? 'after' : 'switching';
      const ph = out.byPhase[phase];
      out.sent++;
      ph.sent++;
      const pr = p.request('RequestRouteCall', { ThisDN: thisDN, ConnID: connId as bigint, OtherDN: s.agents[agent++ % s.agents.length]!, RouteType: 2 }, { timeoutMs: cfg.requestTimeoutMs })
        .then(
          () => {
            out.ok++;
            ph.ok++;
          },
          (err: unknown) => {
            classify(out, err);
            classify(ph, err);
          },
        )
        .finally(() => pending.delete(pr));
      pending.add(pr);
    });
    s.events.on('event', (ev: { source?: string; event?: string; role?: number }) => {
      if (faulted && promotionSeenAt === undefined && ev.source === 'B' && ev.event === 'role' && ev.role === 0) promotionSeenAt = monotonicMs();
    });
    s.events.on('switchover', (r: SwitchoverRecord) => {
      // Date.now() in this process → monotonic, by the offset read now (±1 ms: Date.now() resolution).
      if (!res.simSwitchover) res.simSwitchover = { ...r, promotedAtMono: r.promotedAt - Date.now() + monotonicMs() };
    });

    await p.open();
    const eps = endpointsOf(p);
    await until(() => {
      const st = p.state;
      const up = (x: typeof st.endpoints.primary) => x.server === 'open' && x.link === 'up';
      return st.active === 'primary' && up(st.endpoints.primary) && (cfg.mode === 'warm' || up(st.endpoints.backup));
    }, cfg.stepTimeoutMs, () => `steady state (${JSON.stringify(p.state)})`);
    const afterSeq = s.oracle().events.reduce((m, e) => Math.max(m, e.seq), 0);
    await s.setRate(cfg.rate);
    const n0 = seqs.length;
    await until(() => seqs.length > n0 + 200, cfg.stepTimeoutMs, () => 'traffic before the fault');
    await sleep(200);

    const lastBefore = seqs[seqs.length - 1];
    const faultWall = Date.now();
    faulted = true;
    faultAt = monotonicMs();
    await s.fault({ kind: cfg.fault, server: 'primary' });
    const faultDoneAt = monotonicMs();
    await until(() => activeNew !== undefined, cfg.stepTimeoutMs + cfg.promotionDelayMs, () => `active on the new primary (${JSON.stringify(p.state)})`);
    // Connect timestamps of the warm reconnect, read while that transport is still the current one.
    const ts = eps.backup.currentTransport?.timestamps;
    const connectStartAt = ts?.connectStartAt;
    const connectedAt = ts?.connectedAt;
    const openAt = eps.backup.session?.openAt;
    await sleep(cfg.afterMs);
    await s.setRate(0);

    // Drain: until nothing new was delivered for 300 ms (bounded).
    const drainEnd = monotonicMs() + cfg.stepTimeoutMs;
    for (let last = -1; seqs.length !== last && monotonicMs() < drainEnd;) {
      last = seqs.length;
      await sleep(300);
    }
    answering = false;
    const settleBy = cfg.requestTimeoutMs + 2000;
    await Promise.race([Promise.allSettled([...pending]), sleep(settleBy)]);
    out.unsettled = pending.size;

    const at = (x: number | undefined) => (x === undefined ? null : x - faultAt);
    res.detectMs = at(disconnect?.timestamp);
    res.faultDoneMs = at(faultDoneAt);
    res.firstEventMs = at(firstNew?.at);
    res.firstEventReadMs = at(firstNew?.receivedAt);
    res.promotionMs = at(promotionSeenAt);
    if (activeNew) {
      const a = activeNew.timestamp;
      if (promotionSeenAt !== undefined) res.readyMs = a - promotionSeenAt;
      // Public API: the switchover says when the report that made the new primary usable was read.
      if (cfg.mode === 'hot' && sw) res.overheadMs = sw.completedAt - sw.announcedAt;
      if (cfg.mode === 'warm' && connectStartAt !== undefined) {
        res.overheadMs = a - connectStartAt;
        if (promotionSeenAt !== undefined) res.retryWaitMs = connectStartAt - promotionSeenAt;
        if (connectedAt !== undefined && openAt !== undefined) {
          res.warmSteps = { connectMs: connectedAt - connectStartAt, handshakeMs: openAt - connectedAt, openToActiveMs: a - openAt };
        }
      }
    }
    if (sw) res.switchover = { from: sw.from, to: sw.to, reason: sw.reason, replayed: sw.replayed, gap: sw.gap };
    res.gaps = gaps.map((g) => ({ fromSeq: g.fromSeq, toSeq: g.toSeq }));
    const oracle = s.oracle();
    const lastEv = lastBefore === undefined ? undefined : oracle.events.find((e) => e.seq === lastBefore);
    if (lastEv) res.lagAtFaultMs = faultWall - lastEv.timeUs / 1000;
    const upToSeq = oracle.events.reduce((m, e) => Math.max(m, e.seq), 0);
    const cmp = compareWithOracle(oracle, seqs, dns, { afterSeq, upToSeq });
    const inGap = (q: number) => gaps.some((g) => q >= g.fromSeq && q <= g.toSeq);
    res.oracle = {
      expected: cmp.expected,
      received: cmp.received,
      lostOutsideGap: cmp.lost.filter((q) => !inGap(q)),
      lostInGap: cmp.lost.filter(inGap).length,
      duplicated: cmp.duplicated,
      unexpected: cmp.unexpected.length,
    };
    res.stats = { ...p.stats };
  } catch (err) {
    res.error = (err as Error).message;
    res.requests.unsettled = pending.size;
  } finally {
    // Bounded teardown: close() rejects what is left (ClosedError, already counted as unsettled above).
    await Promise.race([pair?.close().catch(() => {}), sleep(5000)]);
    await sim?.stop();
  }
  return res;
}
