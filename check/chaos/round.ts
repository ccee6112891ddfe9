/**
 * One round of `npm run chaos`: the real simulator (switch and T-Servers as processes, real sockets, real
 * signals), a TServerPair on one transport, a seeded random schedule of faults and client actions, then
 * the invariants of docs/semantics.md against the switch's own log. The same checker as `check:sim`; here
 * the clock is real, so deadline slack comes from the event-loop delay measured during the round.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { TServerPair } from '../../lib/pair/pair.js';
import { OPEN_END, type GapEvent, type TEvent } from '../../lib/pair/events.js';
import { Attr, MessageType } from '../../lib/protocol/ids.js';
import { OracleReader, startSimulation, type Fault, type Simulation } from '../../lib/sim/index.js';
import { prng } from '../dst/clock.js';
import { Checker, type Oracle, type Violation } from '../invariants.js';

export interface RoundOptions {
  seed: number;
  mode: 'hot' | 'warm';
  transport: 'native' | 'node';
  /** Faults and client actions in the schedule. */
  actions: number;
  log?: (line: string) => void;
}

export interface RoundResult {
  seed: number;
  mode: 'hot' | 'warm';
  transport: 'native' | 'node';
  faults: string[];
  delivered: number;
  gaps: number;
  switchovers: number;
  requests: number;
  /** Route requests for real calls (from EventRouteRequest), and how many of them the switch routed. */
  realCallRequests: number;
  routedByRequest: number;
  violation: Violation | null;
  seconds: number;
}

type Name = 'A' | 'B';

/** What the round did to each server, so that healing undoes exactly that. */
interface Damage {
  dead: Set<Name>;
  stopped: Set<Name>;
  silent: Set<Name>;
  linkDown: Set<Name>;
  slow: Set<Name>;
  refusing: Set<Name>;
  duplicating: Set<Name>;
  split: boolean;
}

export async function runRound(o: RoundOptions): Promise<RoundResult> {
  const t0 = performance.now();
  const rnd = prng(o.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const between = (lo: number, hi: number) => Math.floor(lo + rnd() * (hi - lo + 1));
  const sim = await startSimulation({ mode: o.mode, rate: pick([500, 2000, 4000]), promotionDelayMs: between(100, 600), hangTimeoutMs: 600 });
  const dns = [...sim.routePoints, ...sim.agents];
  const requestTimeoutMs = between(200, 2000);
  const pair = new TServerPair({
    name: 'Chaos',
    primary: { host: sim.primary.host, port: sim.primary.port },
    backup: { host: sim.backup.host, port: sim.backup.port },
    mode: o.mode,
    dns,
    transport: o.transport,
    addp: { timeoutMs: between(150, 600) },
    requestTimeoutMs,
    splitBrainGraceMs: 200,
    warmBackupWaitMs: 500,
    breaker: { resetTimeoutMs: 1000 },
    window: { maxFrames: pick([50, 100_000]) },
  });
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  // A deadline is met if the promise settled within its deadline plus what the event loop was late by.
  let tolMs = 100;
  // Route requests route real calls: the ConnIDs of recent EventRouteRequests, each routed by one request
  // at most (so the switch's route log tells what *this* request did); the oracle maps a request's
  // identity to its call.
  const calls = new RouteTargets(pair);
  const oracle = simOracle(sim, dns, calls);
  const checker = new Checker(pair, oracle, () => performance.now(), { tolMs: () => tolMs, maxPending: 10_000 });
  const damage: Damage = { dead: new Set(), stopped: new Set(), silent: new Set(), linkDown: new Set(), slow: new Set(), refusing: new Set(), duplicating: new Set(), split: false };
  const faults: string[] = [];
  let requests = 0;
  let routedByRequest = 0;
  let closed = false;
  const ticker = setInterval(() => {
    tolMs = 100 + 4 * lag.max / 1e6;
    checker.step();
  }, 100);
  try {
    await pair.open();
    await waitFor(() => pair.stats.delivered > 50, 10_000);
    for (let i = 0; i < o.actions && !checker.failed; i++) {
      const what = await act(sim, pair, damage, rnd, pick, between, checker, () => ++requests, requestTimeoutMs, calls);
      if (what) {
        faults.push(what);
        o.log?.(`  ${what}`);
      }
      await sleep(pick([20, 100, 300, 800, 1500]));
    }
    if (!checker.failed) await heal(sim, damage);
    // Recovery: a usable primary and a source again — settled, not in passing (right after healing, a
    // server the heal demoted may still take requests for a moment before it drops a warm client) — then
    // new events must arrive (liveness). Events while the pair reconnects lie in reported gaps (checked).
    const settled = () => {
      const st = pair.state;
      return st.active !== null && st.source !== null && st.endpoints[st.active].role === 'primary';
    };
    if (!checker.failed && !(await waitFor(settled, 30_000) && (await stableFor(settled, 1_000, 30_000)))) {
      const st = await sim.status().catch((e: Error) => ({ error: e.message }));
      checker.fail('liveness', `no usable server 30 s after every fault ended: ${JSON.stringify(pair.state)}; simulator: ${JSON.stringify(st)}`);
    }
    if (!checker.failed) {
      await sim.setRate(0);
      await sleep(300);
      const before = pair.stats.delivered;
      const from = (await sim.emit(0)).seq;
      await sim.emit(200);
      const wanted = sim.oracle().events.filter((e) => e.seq > from && dns.includes(e.thisDN)).length;
      if (!(await waitFor(() => pair.stats.delivered - before >= wanted, 5_000))) {
        checker.fail('liveness', `after healing, ${pair.stats.delivered - before} of ${wanted} new events were delivered; state ${JSON.stringify(pair.state)}; stats ${JSON.stringify(pair.stats)}`);
      }
    }
    closed = true;
    checker.markClosed();
    await pair.close();
    clearInterval(ticker);
    checker.step();
    if (!checker.failed) await checker.finish();
  } catch (err) {
    checker.fail('error', (err as Error).stack ?? String(err));
  } finally {
    clearInterval(ticker);
    lag.disable();
    if (!closed) await pair.close().catch(() => {});
    routedByRequest = calls.routedCount();
    await sim.stop();
  }
  return {
    seed: o.seed, mode: o.mode, transport: o.transport, faults, delivered: pair.stats.delivered, gaps: pair.stats.gaps,
    switchovers: pair.stats.switchovers, requests, realCallRequests: calls.byId.size, routedByRequest,
    violation: checker.failed, seconds: Math.round((performance.now() - t0) / 100) / 10,
  };
}

/**
 * The calls chaos routes: every EventRouteRequest's ConnID, handed out once each (the freshest first, while
 * the call can still be waiting on its route point), and which request took which call.
 */
class RouteTargets {
  private readonly waiting: { connId: bigint; thisDN: string; at: number }[] = [];
  /** Request identity (its OtherDN) → the ConnID it routes. */
  readonly byId = new Map<string, bigint>();
  /** Route lines of the switch's log, by ConnID (read incrementally). */
  private readonly routes = new Map<bigint, { by: string; server: string }[]>();
  private reader: OracleReader | undefined;

  constructor(pair: TServerPair) {
    pair.on('event', (e: TEvent) => {
      if (e.type !== MessageType.EventRouteRequest) return;
      const c = e.get(Attr.ConnID);
      const dn = e.get(Attr.ThisDN);
      if ((typeof c !== 'bigint' && typeof c !== 'number') || typeof dn !== 'string') return;
      this.waiting.push({ connId: BigInt(c), thisDN: dn, at: performance.now() });
      if (this.waiting.length > 500) this.waiting.shift();
    });
  }

  /** A real call seen in the last 5 s (route timeout: 10 s) that no request routes yet, for request `id`. */
  take(id: string): { connId: bigint; thisDN: string } | undefined {
    const now = performance.now();
    while (this.waiting.length) {
      const c = this.waiting.pop()!;
      if (now - c.at > 5_000) {
        this.waiting.length = 0;
        break;
      }
      this.byId.set(id, c.connId);
      return c;
    }
    return undefined;
  }

  attach(sim: Simulation): void {
    this.reader = new OracleReader(sim.oraclePath);
  }

  /** The route lines of a call, the log read up to now (the switch writes a route before answering it). */
  linesOf(connId: bigint): { by: string; server: string }[] {
    if (this.reader) {
      let got: ReturnType<OracleReader['read']>['routes'] = [];
      try {
        got = this.reader.read().routes;
      } catch {
        // The simulation is stopped (its directory removed): the log as read so far is all there is.
        this.reader = undefined;
      }
      for (const r of got) this.routes.set(r.connId, [...(this.routes.get(r.connId) ?? []), r]);
    }
    return this.routes.get(connId) ?? [];
  }

  routedCount(): number {
    let n = 0;
    for (const c of this.byId.values()) if (this.linesOf(c).some((r) => r.by === 'request')) n++;
    return n;
  }
}

/** The switch's log and the numberings, as the checker's oracle. */
function simOracle(sim: Simulation, dns: readonly string[], calls: RouteTargets): Oracle {
  calls.attach(sim);
  const base = (label: string) => sim.numberings().find((r) => r.label === label)?.base ?? undefined;
  return {
    switchNo: (e: TEvent) => {
      if (e.seq < 0) return undefined;
      const b = base(e.epoch);
      if (b === undefined || b === null) throw new Error(`event in unknown numbering '${e.epoch}'`);
      return b + e.seq;
    },
    gapSpan: (g: GapEvent) => {
      const b = base(g.epoch);
      if (b === undefined || b === null) return undefined;
      return [g.fromSeq + b, g.toSeq >= OPEN_END ? Infinity : g.toSeq + b];
    },
    expected: () => sim.oracle().events.filter((e) => dns.includes(e.thisDN)).map((e) => e.seq),
    // A route request for a real call: the switch's route lines for that call (a request routes it at most
    // once; a second line would be a second routing). Other requests (registrations, routes of made-up
    // ConnIDs, which no call has) are not in the switch's log.
    executions: (id) => {
      const c = calls.byId.get(id);
      return c === undefined ? 0 : calls.linesOf(c).filter((r) => r.by === 'request').length;
    },
    // Whether a request routed the call: each real call is routed by one chaos request at most, so a route
    // line by a request is this request's (one of its attempts). A made-up ConnID is never a call: false.
    routed: (id) => {
      const c = calls.byId.get(id);
      if (c === undefined) return id.startsWith('c') ? false : undefined;
      return calls.linesOf(c).some((r) => r.by === 'request');
    },
  };
}

/** One random fault or client action; returns what it did, for the report. */
async function act(
  sim: Simulation, pair: TServerPair, d: Damage, rnd: () => number, pick: <T>(xs: readonly T[]) => T, between: (a: number, b: number) => number,
  checker: Checker, nextId: () => number, requestTimeoutMs: number, calls: RouteTargets,
): Promise<string | null> {
  const s: Name = pick(['A', 'B']);
  const live = !d.dead.has(s) && !d.stopped.has(s);
  const fault = async (f: Fault, note: string) => {
    // A fault that needs the server to listen (IPC) is only sent to a live, running one.
    await Promise.race([sim.fault(f), sleep(5_000)]);
    return note;
  };
  const kind = pick(['kill', 'restart', 'restart-reset', 'stop', 'cont', 'silent', 'link', 'link', 'switchover', 'split', 'latency', 'dup', 'refuse', 'malformed', 'requests', 'requests', 'register', 'manual', 'throwing']);
  switch (kind) {
    case 'kill':
      if (d.dead.has(s)) return null;
      d.dead.add(s);
      d.stopped.delete(s);
      d.silent.delete(s);
      d.slow.delete(s);
      d.refusing.delete(s);
      d.duplicating.delete(s);
      return fault({ kind: 'kill', server: s }, `kill ${s}`);
    case 'restart':
    case 'restart-reset':
      for (const set of [d.dead, d.stopped, d.silent, d.slow, d.refusing, d.duplicating]) set.delete(s);
      return fault({ kind: 'restart', server: s, resetSeq: kind === 'restart-reset' }, `${kind} ${s}`);
    case 'stop':
      if (!live) return null;
      d.stopped.add(s);
      return fault({ kind: 'stop', server: s }, `stop ${s}`);
    case 'cont':
      if (!d.stopped.has(s)) return null;
      d.stopped.delete(s);
      return fault({ kind: 'cont', server: s }, `cont ${s}`);
    case 'silent': {
      if (!live) return null;
      const on = !d.silent.has(s);
      if (on) d.silent.add(s);
      else d.silent.delete(s);
      return fault({ kind: 'silent', server: s, on }, `silent ${s} ${on}`);
    }
    case 'link': {
      const up = d.linkDown.has(s);
      if (up) d.linkDown.delete(s);
      else d.linkDown.add(s);
      return fault({ kind: up ? 'link-up' : 'link-down', server: s }, `link ${s} ${up ? 'up' : 'down'}`);
    }
    case 'switchover':
      if (d.dead.size || d.stopped.size || d.silent.size) return null;
      return fault({ kind: 'switchover' }, 'switchover');
    case 'split':
      if (d.dead.size || d.stopped.size || d.silent.size) return null;
      d.split = !d.split;
      return fault({ kind: d.split ? 'split-brain' : 'resolve-split-brain' }, d.split ? 'split-brain' : 'resolve-split-brain');
    case 'latency': {
      if (!live || d.silent.has(s)) return null;
      const ms = pick([0, 50, requestTimeoutMs + 200]);
      if (ms) d.slow.add(s);
      else d.slow.delete(s);
      return fault({ kind: 'latency', server: s, ms }, `latency ${s} ${ms}`);
    }
    case 'dup': {
      if (!live || d.silent.has(s)) return null;
      const on = !d.duplicating.has(s);
      if (on) d.duplicating.add(s);
      else d.duplicating.delete(s);
      return fault({ kind: 'duplicate-replies', server: s, on }, `duplicate-replies ${s} ${on}`);
    }
    case 'refuse': {
      if (!live || d.silent.has(s)) return null;
      const on = !d.refusing.has(s);
      if (on) d.refusing.add(s);
      else d.refusing.delete(s);
      return fault({ kind: 'refuse', server: s, on }, `refuse ${s} ${on}`);
    }
    case 'malformed':
      if (!live || d.silent.has(s)) return null;
      return fault({ kind: 'malformed', server: s }, `malformed ${s}`);
    case 'requests': {
      // Route requests for real calls (EventRouteRequests seen, each routed by one request at most); when
      // no call waits, a made-up ConnID (no call has it: the switch answers 1201). Each request either
      // keeps RequestRouteCall's rule (repeated when in doubt), opts out (`repeat: false`: acted on at most
      // once), or says `idempotent: true`.
      const n = between(1, 20);
      const how = pick(['rule', 'rule', 'opt-out', 'idempotent'] as const);
      let real = 0;
      for (let i = 0; i < n; i++) {
        const id = `c${nextId()}`;
        const timeoutMs = pick([50, 300, requestTimeoutMs, 3000]);
        const ac = rnd() < 0.2 ? new AbortController() : undefined;
        if (ac) setTimeout(() => ac.abort(), between(0, 200));
        const call = calls.take(id);
        if (call) real++;
        const opts = how === 'opt-out' ? { repeat: false } : how === 'idempotent' ? { idempotent: true } : {};
        const p = pair.request('RequestRouteCall', { ThisDN: call?.thisDN ?? '7000', ConnID: call?.connId ?? BigInt(i + 1), OtherDN: id, RouteType: 2 }, { timeoutMs, ...opts, signal: ac?.signal });
        checker.request(p, id, timeoutMs, how !== 'opt-out');
      }
      return `requests ${n} (${real} real calls${how === 'rule' ? '' : `, ${how}`})`;
    }
    case 'register': {
      const dn = pick(['9000', '9001']);
      const reg = rnd() < 0.5;
      const p = reg ? pair.registerAddress(dn) : pair.unregisterAddress(dn);
      checker.request(p, `${reg ? 'register' : 'unregister'}:${dn}:${nextId()}`, requestTimeoutMs, true);
      return `${reg ? 'register' : 'unregister'} ${dn}`;
    }
    case 'manual':
      pair.switchover();
      return 'pair.switchover()';
    case 'throwing': {
      let n = 0;
      const l = () => {
        if (++n % 50 === 0) throw new Error('a listener failed');
      };
      pair.on('event', l);
      setTimeout(() => pair.off('event', l), 1000);
      return 'throwing listener for 1 s';
    }
  }
  return null;
}

/** Undo every fault of the round. */
async function heal(sim: Simulation, d: Damage): Promise<void> {
  for (const s of ['A', 'B'] as const) {
    if (d.stopped.has(s)) await sim.fault({ kind: 'cont', server: s });
    if (d.dead.has(s)) await sim.fault({ kind: 'restart', server: s });
    if (d.linkDown.has(s)) await sim.fault({ kind: 'link-up', server: s });
  }
  for (const s of ['A', 'B'] as const) {
    if (d.dead.has(s)) continue;
    if (d.silent.has(s)) await sim.fault({ kind: 'silent', server: s, on: false });
    if (d.slow.has(s)) await sim.fault({ kind: 'latency', server: s, ms: 0 });
    if (d.refusing.has(s)) await sim.fault({ kind: 'refuse', server: s, on: false });
    if (d.duplicating.has(s)) await sim.fault({ kind: 'duplicate-replies', server: s, on: false });
  }
  if (d.split) await sim.fault({ kind: 'resolve-split-brain' });
  await sim.setRate(2000);
}

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) return false;
    await sleep(20);
  }
  return true;
}

/** `cond` held without a break for `holdMs` (polled), within `ms`. */
async function stableFor(cond: () => boolean, holdMs: number, ms: number): Promise<boolean> {
  const end = performance.now() + ms;
  let since = cond() ? performance.now() : -1;
  while (since < 0 || performance.now() - since < holdMs) {
    if (performance.now() > end) return false;
    await sleep(20);
    if (!cond()) since = -1;
    else if (since < 0) since = performance.now();
  }
  return true;
}
