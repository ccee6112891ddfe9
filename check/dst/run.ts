/**
 * One schedule of the decision-core simulation: a real `TServerPair` (core, shell, endpoints, request book,
 * p-retry schedules, opossum breakers) against simulated servers on a virtual clock, with the invariants
 * of docs/semantics.md checked after every step. Same schedule, same history, same verdict.
 */
import diagnostics from 'node:diagnostics_channel';
import type { ResolvedPairOptions } from '../../lib/config.js';
import { TServerPair } from '../../lib/pair/pair.js';
import { OPEN_END, type GapEvent, type TEvent } from '../../lib/pair/events.js';
import { Attr } from '../../lib/protocol/ids.js';
import { ServerRole } from '../../lib/protocol/ids.js';
import { Checker, type Oracle, type Violation } from '../invariants.js';
import { installVirtualTime, prng } from './clock.js';
import { BASE_DNS, EXTRA_DNS, type Cmd, type Schedule } from './schedule.js';
import { SimTransport } from './sim-transport.js';
import { World, type ServerName } from './world.js';

export interface RunResult {
  violation: Violation | null;
  /** Commands executed (the checker ran after each). */
  steps: number;
  delivered: number;
  gaps: number;
  /**
   * Not judged: the history held a renumbering no client could see (world.ts `invisibleRenumber`), or a gap
   * in a numbering the client named itself that no delivered event places on the switch's numbers.
   */
  unjudged: boolean;
}

/** Slack on "settled by its deadline": timers fire exactly on the virtual clock; 1 ms covers rounding. */
const TOL_MS = 1;

export async function runSchedule(s: Schedule): Promise<RunResult> {
  const p = s.params;
  const vt = installVirtualTime(p.seed);
  const rng = prng(p.seed);
  const world = new World({ mode: p.mode, dns: [...BASE_DNS, ...EXTRA_DNS], promotionDelayMs: p.promotionDelayMs, autoPromote: p.autoPromote, netDelayMs: p.netDelayMs, coarseTime: p.coarseTime, rng });
  const traffic = setInterval(() => world.emit(p.rate), 10);
  const lastTransport = new Map<number, SimTransport>();
  /** Virtual ms at which each server hung (still hung), and at which each endpoint's session opened. */
  const hungSince = new Map<'A' | 'B', number>();
  const openedAt = { primary: -1, backup: -1 };
  /**
   * Hot standby: an endpoint our own switchover() dropped while its server was healthy, and when. Nothing
   * failed, so it must be connected again within the first step of the reconnect schedule — not paced like
   * a failing server (a defect: repeated switchovers grew the delay to seconds and caused gaps).
   */
  const droppedHealthy = new Map<'primary' | 'backup', number>();
  const manualTimers: NodeJS.Timeout[] = [];
  const manual = (): void => {
    noteManualDrop();
    tl.noteBreak();
    try {
      pair.switchover();
    } catch {
      // not open yet, or closed: ClosedError, as documented
    }
  };
  const noteManualDrop = (): void => {
    const ep = pair.state.source;
    if (p.mode !== 'hot' || ep === null || closed || pair.state.endpoints[ep].server !== 'open') return;
    const srv = world.servers[ep === 'primary' ? 'A' : 'B'];
    if (srv.responsive && srv.listening && srv.linkUp && srv.latencyMs === 0) droppedHealthy.set(ep, Date.now());
  };
  const maxPending = 200;
  const pair = new TServerPair({
    name: 'DST',
    primary: { host: 'sim', port: 1 },
    backup: { host: 'sim', port: 2 },
    mode: p.mode,
    dns: BASE_DNS,
    transport: (o) => {
      const t = new SimTransport(world, o);
      lastTransport.set(o.port, t);
      return t;
    },
    addp: { timeoutMs: p.addpMs },
    requestTimeoutMs: p.requestTimeoutMs,
    window: { maxFrames: p.windowFrames },
    splitBrainGraceMs: p.splitBrainGraceMs,
    breaker: p.breaker ? { resetTimeoutMs: 2000 } : false,
    maxPendingRequests: maxPending,
  });
  const oracle: Oracle = {
    switchNo: (e: TEvent) => {
      const v = e.message.attributes.find((a) => a.id === Attr.ConnID)?.value;
      return typeof v === 'bigint' ? Number(v) : typeof v === 'number' ? v : undefined;
    },
    gapSpan: (g: GapEvent) => {
      // A numbering the client named itself (`label/n`: the numbers went back inside a session) has the
      // base the checker learned from the events delivered in it.
      const base = world.bases.get(g.epoch) ?? checker.learnedBase(g.epoch);
      if (base === undefined) return undefined;
      return [g.fromSeq + base, g.toSeq >= OPEN_END ? Infinity : g.toSeq + base];
    },
    expected: () => world.oracle.filter((ev) => BASE_DNS.includes(ev.dn)).map((ev) => ev.sw),
    executions: (id) => world.executions.get(id) ?? 0,
    routed: (id) => world.routed.has(id),
  };
  const checker = new Checker(pair, oracle, () => Date.now(), { tolMs: () => TOL_MS, maxPending });
  pair.on('EventServerConnected', (e) => (openedAt[e.source] = Date.now()));
  if (process.env.DST_TRACE) trace(pair, world);
  // Unknown epoch labels in gaps would make the loss check vacuous: fail loudly instead.
  pair.on('gap', (g) => {
    const derived = /^(.+)\/[a-z]+\.\d+\.\d+$/.exec(g.epoch);
    if (!world.bases.has(g.epoch) && !(derived && world.bases.has(derived[1]!))) checker.fail('known-epoch', `gap in unknown numbering '${g.epoch}'`);
  });
  // A failed attempt says why with its code: one our own handshake deadline ended is ERR_HANDSHAKE, not a
  // closed transport (docs/semantics.md, errors).
  const onAttempt = (m: unknown) => {
    const { endpoint, error } = m as { endpoint: 'primary' | 'backup'; error: { code?: string; message: string } };
    const t = lastTransport.get(endpoint === 'primary' ? 1 : 2);
    if (!closed && error.code === 'ERR_TRANSPORT_CLOSED' && t?.connected === false && t.closeReason === 'local' && t.timestamps.connectedAt !== undefined) {
      checker.fail('typed-errors', `an attempt on ${endpoint} that our own deadline ended was reported as ${error.code}: ${error.message}`);
    }
  };
  diagnostics.subscribe('tserver-ha:attempt-failed', onAttempt);
  let steps = 0;
  let requests = 0;
  let throwing: ((e: TEvent) => void) | null = null;
  let closed = false;
  const tl: Timeliness = new Timeliness(pair, world, checker, p.mode, () => closed);
  const closePair = () => {
    closed = true;
    checker.markClosed();
    return pair.close();
  };
  pair.open().catch(() => {
    // ERR_OPEN_TIMEOUT (servers down too long) closes the pair: the run carries on with a closed pair.
    closed = true;
    checker.markClosed();
  });

  const apply = (c: Cmd): void => {
    const srv = 's' in c ? world.servers[c.s] : undefined;
    // Any fault of a server (or of the roles) ends the promise that a server we dropped comes back at once.
    if ('s' in c) droppedHealthy.delete(c.s === 'A' ? 'primary' : 'backup');
    if (c.t === 'switchover' || c.t === 'splitBrain' || c.t === 'resolveSplit' || c.t === 'close') droppedHealthy.clear();
    // Anything but these may hold up a request on its way (a fault, a role change, our own switchover).
    if (!['wait', 'emit', 'request', 'register', 'unregister', 'throwing'].includes(c.t)) tl.noteBreak();
    switch (c.t) {
      case 'wait':
        return;
      case 'emit':
        return world.emit(c.n);
      case 'kill':
        hungSince.delete(c.s);
        srv!.kill();
        return world.watch();
      case 'garbage':
        return srv!.garbage();
      case 'restart':
        hungSince.delete(c.s);
        tl.restarted(c.s);
        return srv!.restart(c.reset);
      case 'renumber':
        return srv!.renumber();
      case 'hang':
        if (srv!.alive && !srv!.hung) hungSince.set(c.s, Date.now());
        if (srv!.alive) srv!.hung = true;
        return world.watch();
      case 'resume':
        hungSince.delete(c.s);
        return srv!.resume();
      case 'silent':
        srv!.setSilent(c.on);
        return world.watch();
      case 'link':
        return srv!.setLink(c.up);
      case 'switchover':
        return world.switchover();
      case 'splitBrain':
        world.servers.A.setRole(ServerRole.Primary);
        return world.servers.B.setRole(ServerRole.Primary);
      case 'resolveSplit':
        if (world.servers.A.role === ServerRole.Primary && world.servers.B.role === ServerRole.Primary) world.servers.B.setRole(ServerRole.Backup);
        return;
      case 'latency':
        tl.noteLatency(c.s);
        srv!.latencyMs = c.ms;
        return;
      case 'dupReplies':
        srv!.dupReplies = c.on;
        return;
      case 'refuse':
        srv!.refusing = c.on;
        return;
      case 'request':
        for (let i = 0; i < c.burst; i++) {
          const id = `r${++requests}`;
          const ac = c.abortAfterMs === null ? undefined : new AbortController();
          if (ac) setTimeout(() => ac.abort(), c.abortAfterMs!);
          const pr = pair.request('RequestRouteCall', { ThisDN: BASE_DNS[0]!, ConnID: BigInt(requests), OtherDN: id, RouteType: 2 }, { timeoutMs: c.timeoutMs, repeat: c.idempotent ? undefined : false, signal: ac?.signal });
          // `idempotent` in a schedule: the request keeps RequestRouteCall's rule (repeat and read the
          // answer); otherwise it opts out (repeat: false: never repeated in doubt).
          if (!closed) {
            checker.request(pr, id, c.timeoutMs, c.idempotent);
            tl.submitted(id);
          } else pr.catch(() => {});
        }
        return;
      case 'register':
      case 'unregister': {
        const pr = c.t === 'register' ? pair.registerAddress(c.dn) : pair.unregisterAddress(c.dn);
        if (!closed) checker.request(pr, `${c.t}:${c.dn}:${steps}`, p.requestTimeoutMs, true);
        else pr.catch(() => {});
        return;
      }
      case 'manual':
        return manual();
      case 'manualEvery':
        // On the virtual clock: later steps (faults) may interleave, as they would.
        for (let i = 0; i < c.n; i++) manualTimers.push(setTimeout(manual, i * c.everyMs));
        return;
      case 'throwing':
        if (c.on && !throwing) {
          let n = 0;
          throwing = () => {
            if (++n % 3 === 0) throw new Error('a listener failed');
          };
          pair.on('event', throwing);
        } else if (!c.on && throwing) {
          pair.off('event', throwing);
          throwing = null;
        }
        return;
      case 'close':
        void closePair();
        return;
    }
  };

  /**
   * Timeliness: a hung server (it reads and writes nothing) is found by ADDP within T of its last byte. The
   * last byte left it at most one network delay after it hung; this transport checks every T/4.
   */
  const checkReconnect = (): void => {
    // First attempt at once (a manual drop is not paced), one schedule delay if it meets the old connection
    // still closing, and a handshake with DN registration (a few network round trips).
    const bound = 2 * 50 + 20 * p.netDelayMs + 50;
    for (const [ep, at] of droppedHealthy) {
      if (pair.state.endpoints[ep].server === 'open' && openedAt[ep] > at) {
        droppedHealthy.delete(ep);
      } else if (!closed && Date.now() > at + bound) {
        checker.fail('timeliness', `${ep} was dropped by switchover() while healthy at ${at} ms and is not connected again ${Date.now() - at} ms later (bound ${bound} ms)`);
        droppedHealthy.delete(ep);
      }
    }
  };
  const checkDetection = (): void => {
    for (const [name, since] of hungSince) {
      const ep = name === 'A' ? 'primary' : 'backup';
      const due = since + p.netDelayMs + p.addpMs + Math.ceil(p.addpMs / 4) + 5;
      if (!closed && Date.now() > due && pair.state.endpoints[ep].server === 'open' && openedAt[ep] < since) {
        checker.fail('timeliness', `${ep} hung at ${since} ms (ADDP ${p.addpMs} ms) and is still taken for open ${Date.now() - since} ms later`);
      }
    }
  };
  try {
    await vt.advance(5);
    for (const c of s.cmds) {
      apply(c);
      tl.sample();
      steps++;
      await vt.advance(c.t === 'wait' ? c.ms : 1);
      checkDetection();
      checkReconnect();
      tl.check();
      if (checker.step()) break;
    }
    // Healing ends every fault, ours included: no switchover() still to come.
    for (const t of manualTimers) clearTimeout(t);
    if (!checker.failed) await heal(world, vt.advance, () => closed, pair, checker, () => clearInterval(traffic), tl);
    // close() finishes on the virtual clock: advance it until the promise settles (bounded).
    let done = false;
    void (closed ? pair.close() : closePair()).finally(() => (done = true));
    for (let i = 0; i < 100 && !done; i++) await vt.advance(100);
    if (!done) checker.fail('close-settles', 'close() did not resolve within 10 s of virtual time');
    clearInterval(traffic);
    if (!checker.failed) await checker.finish();
    if (!checker.failed) checkResendOrder(world, checker);
    const unjudged = world.invisibleRenumber || checker.lossUnjudged;
    return { violation: unjudged ? null : checker.failed, steps, delivered: pair.stats.delivered, gaps: pair.stats.gaps, unjudged };
  } finally {
    diagnostics.unsubscribe('tserver-ha:attempt-failed', onAttempt);
    clearInterval(traffic);
    vt.uninstall();
  }
}

/**
 * End every fault, then require progress: once the servers are healthy again, events emitted afterwards
 * reach the application (liveness), within the time the reconnect schedule and breakers allow.
 */
async function heal(world: World, advance0: (ms: number) => Promise<void>, closed: () => boolean, pair: TServerPair, checker: Checker, stopTraffic: () => void, tl: Timeliness): Promise<void> {
  // Timeliness is judged all along: a late connection or a request left waiting is found when it happens.
  const advance = async (ms: number) => {
    await advance0(ms);
    tl.check();
  };
  tl.noteBreak();
  for (const srv of [world.servers.A, world.servers.B]) {
    if (!srv.alive) {
      tl.restarted(srv.name);
      srv.restart(false);
    }
    srv.resume();
    srv.setSilent(false);
    srv.setLink(true);
    tl.noteLatency(srv.name);
    srv.latencyMs = 0;
    srv.dupReplies = false;
    srv.refusing = false;
  }
  const { A, B } = world.servers;
  if (A.role === B.role) {
    A.setRole(ServerRole.Primary);
    B.setRole(ServerRole.Backup);
  }
  tl.sample();
  // A request submitted as the faults end: queued if no server can take it now, it must go out as soon
  // as one can (not at its deadline, not at the next unrelated event).
  if (!closed()) tl.probe('r900001');
  // The healed servers' reports (a queued demotion, a link) reach the pair first. Recovery itself is judged
  // by its derived bound (Timeliness); this wait only keeps liveness's generous fallback.
  await advance(1_000);
  for (let t = 0; t < 40_000 && !closed() && (pair.state.active === null || pair.state.source === null); t += 500) await advance(500);
  await advance(500);
  if (closed()) return;
  if (pair.state.active === null) {
    checker.fail('liveness', `no active server 40 s after every fault ended: ${JSON.stringify(pair.state)}`);
    return;
  }
  stopTraffic();
  await advance(200);
  const before = pair.stats.delivered;
  const from = world.switchSeq;
  world.emit(40);
  await advance(2_000);
  const wanted = world.oracle.filter((e) => e.sw > from && BASE_DNS.includes(e.dn)).length;
  if (pair.stats.delivered - before < wanted) {
    checker.fail('liveness', `after healing, ${pair.stats.delivered - before} of ${wanted} new events were delivered: ${JSON.stringify(pair.state)}`);
  }
  // Reconnection, judged at its bound: every endpoint that must be connected again is due (a loss meanwhile
  // moves its bound), then requests must flow to the primary: one submitted now is answered in a round trip.
  for (let i = 0; i < 50 && !closed() && !checker.failed; i++) {
    const due = tl.connectedBy();
    if (due === null || Date.now() > due) break;
    await advance(Math.min(1_000, due - Date.now() + 1));
  }
  if (closed() || checker.failed) return;
  const p = world.primary();
  const ep = p?.name === 'A' ? 'primary' : 'backup';
  if (!p || !tl.flowsTo(ep)) {
    checker.fail('timeliness', `after healing, requests do not go to the primary ${p?.name ?? '(none)'} by the reconnect bound: ${JSON.stringify(pair.state)}`);
    return;
  }
  tl.probe('r900002');
  await advance(tl.requestBoundMs() + 1);
}

/**
 * Idempotent requests lost together on one connection are re-sent in submission order (docs/semantics.md).
 * Only re-sends after an attempt that was lost: one a server refused (1002/1003, nothing ran) is sent again
 * when a server can take it, and a request submitted meanwhile may go first (requests are pipelined: it
 * can overtake one whose refusal is still on its way).
 */
function checkResendOrder(world: World, checker: Checker): void {
  const last = new Map<string, { conn: number; refused: boolean }>();
  const resent = new Map<number, Map<number, number[]>>(); // lost on → re-sent on → request numbers
  for (const r of world.routeLog) {
    const prev = last.get(r.id);
    last.set(r.id, { conn: r.conn, refused: r.refused });
    if (!prev || prev.refused) continue;
    const byTarget = resent.get(prev.conn) ?? new Map<number, number[]>();
    const ns = byTarget.get(r.conn) ?? [];
    const n = Number(r.id.slice(1));
    if (!ns.includes(n)) ns.push(n);
    byTarget.set(r.conn, ns);
    resent.set(prev.conn, byTarget);
  }
  for (const [lostOn, byTarget] of resent) {
    for (const [target, ns] of byTarget) {
      for (let i = 1; i < ns.length; i++) {
        if (ns[i]! < ns[i - 1]!) {
          checker.fail('resend-order', `requests lost on connection ${lostOn} were re-sent on ${target} as ${ns.join(',')}`);
          return;
        }
      }
    }
  }
}

/** DST_TRACE=1: print every public event but `event`, with virtual time, for debugging a replay. */
function trace(pair: TServerPair, world: World): void {
  const t0 = Date.now();
  diagnostics.subscribe('tserver-ha:attempt-failed', (m) => {
    const x = m as { endpoint: string; attempt: number; error: Error & { code?: string } };
    console.error(`${String(Date.now() - t0).padStart(6)} ms attempt-failed ${x.endpoint} #${x.attempt} ${x.error.code} ${x.error.message}`);
  });
  const names = ['EventServerConnected', 'EventServerDisconnected', 'EventLinkConnected', 'EventLinkDisconnected', 'switchover', 'active', 'gap', 'splitBrain', 'error'] as const;
  // DST_TRACE=events: every delivered event too (its epoch, number and switch number).
  if (process.env.DST_TRACE === 'events') {
    pair.on('event', (e) => {
      const sw = e.message.attributes.find((a) => a.id === Attr.ConnID)?.value;
      console.error(`${String(Date.now() - t0).padStart(6)} ms event ${e.source} ${e.epoch} #${e.seq} = switch ${String(sw)}`);
    });
  }
  for (const n of names) {
    (pair.on as (n: string, l: (d: unknown) => void) => void)(n, (d) => {
      const x = d as Record<string, unknown>;
      console.error(`${String(Date.now() - t0).padStart(6)} ms sw=${world.switchSeq} ${n} ${JSON.stringify(x, (k, v) => (k === 'Server' || k === 'error' ? undefined : typeof v === 'bigint' ? String(v) : v))}`);
    });
  }
}

type EpName = 'primary' | 'backup';
const SERVER_OF: Record<EpName, ServerName> = { primary: 'A', backup: 'B' };
const EP_OF: Record<ServerName, EpName> = { A: 'primary', B: 'backup' };
/** Virtual-clock slack: a release's turn of the clock, timers rounding, a promise's microtasks. */
const SLACK_MS = 10;

/**
 * Timeliness on the virtual clock (docs/semantics.md, "How these promises are checked"): two promises a
 * user may rely on, with bounds derived from the options the run gives the pair (`pair.options`: the
 * reconnect schedule `retry`, the `breaker`) and the world's one-way network delay `nd` (at least 1 ms: a
 * 0 ms timer set while the virtual clock runs takes 1 ms) — not a generous constant.
 *
 * **Connected again.** A server is healthy from the moment it is alive, responsive (not hung, not silent),
 * accepting connections (not refusing; hot standby: listening), its CTI link up and no reply of it delayed
 * any more (a latency applies to what was already on its way: healthy only once that drained). From `H`,
 * the moment it last became healthy:
 * - hot standby: its endpoint is open by `max(H + maxDelayMs, L + pause + min(maxDelayMs, 2 minDelayMs))
 *   + 5 nd + slack`. Why: at `H` the endpoint's loop (lib/pair/supervisor.ts) is either waiting between
 *   attempts — p-retry caps every jittered delay at `maxDelayMs`, in every phase of the schedule — or
 *   pausing after a lost session `L` (the session pacer: nothing for the first short session, then
 *   `min(maxDelayMs, minDelayMs × factor^n) × (1..2)` per further short one, mirrored here from the
 *   session lengths; our own `switchover()` drops are not paced), after which the first attempt is
 *   immediate and a retry comes within one first delay; or an attempt is in flight, which against a
 *   healthy server completes. The attempt that meets the healthy server opens the session in one
 *   handshake: connect, RegisterClient and the DN registrations (5 one-way delays). The breaker never
 *   delays this: it counts only attempts a server answered with a failure (lib/endpoint/breaker.ts), and
 *   a server answers an attempt with a failure only by closing our connection itself (killed, garbage, a
 *   warm demotion: `world.peerCloses`). Only if a server did that `volumeThreshold` times may its breaker
 *   be open; then it re-probes within 1.5 × `resetTimeoutMs` (its jitter) of the last such close, and the
 *   next attempt (≤ `maxDelayMs` later) is the probe. A session lost after `H` (ADDP ending a connection
 *   whose poll a hung server never answered) moves `L`.
 * - warm standby: the one primary's endpoint is connected and delivering by `max(H + 2 maxDelayMs + nd,
 *   L + pause + probeMs + attempt + 2 nd + min(maxDelayMs, 2 minDelayMs)) + 5 nd + slack`, `H` also after
 *   the last role change, `attempt` = connect + handshake timeouts. Why: attempts alternate between the
 *   servers (the other, a backup or down, refuses at once), so the primary is tried within two delays;
 *   after a loss the loop first probes the other server for at most `probeMs` — an attempt started just
 *   before that ends runs to its own deadline when that server is hung — then tries it once more and the
 *   primary next. The breaker as in hot standby, with two delays.
 *
 * **Requests flow.** While the world's one primary is healthy (and its link up as it reported it), the
 * pair's `active` names its endpoint and that endpoint is open (the pair knows it as primary with a link),
 * a request is written to it at once (dispatch is immediate on `active` and on submission) and answered
 * in one round trip: `2 nd + slack`. Judged for requests submitted then, and for requests submitted while
 * `active` was null (no server could take them: they sit queued), from the first `active` naming such an
 * endpoint — they must not wait for their deadline or for an unrelated later event. Not judged: requests
 * submitted while another server was active (they may be in flight there, in doubt or refused and parked
 * until that connection reports), and any whose round trip a fault, a role change, a switchover, a loss
 * or a link report overlaps (a break: it may legitimately be parked or in doubt then).
 */
class Timeliness {
  private readonly o: ResolvedPairOptions;
  private readonly nd: number;
  /** Since when each server has been healthy without a break (virtual ms; may lie ahead: a latency draining); null while it is not. */
  private readonly healthySince: Record<ServerName, number | null>;
  /** Replies a server's past latency still delays are out by then. */
  private readonly drainUntil: Record<ServerName, number> = { A: 0, B: 0 };
  /** The last role change of either server (warm standby: what listens). */
  private rolesSince: number;
  private readonly openedAt: Record<EpName, number> = { primary: -1, backup: -1 };
  /** The last lost session and the pause the session pacer may take after it (warm: one loop, kept under 'primary'). */
  private readonly loss: Record<EpName, { at: number; pauseMs: number } | null> = { primary: null, backup: null };
  private readonly short: Record<EpName, number> = { primary: 0, backup: 0 };
  /** Moments a request's way may have been broken, in order. */
  private readonly breaks: number[] = [];
  /** Requests that must be answered within a round trip of `from`, unless a break after `mark` comes first. */
  private flowing: { id: string; ep: EpName; from: number; mark: number }[] = [];
  private readonly awaitingActive = new Set<string>();
  private probes = 0;

  constructor(
    private readonly pair: TServerPair,
    private readonly world: World,
    private readonly checker: Checker,
    private readonly mode: 'hot' | 'warm',
    private readonly closed: () => boolean,
  ) {
    this.o = pair.options;
    // A 0 ms timer set while the clock runs takes 1 ms (@sinonjs/fake-timers): a hop is never shorter.
    this.nd = Math.max(1, world.opts.netDelayMs);
    const now = Date.now();
    this.healthySince = { A: now, B: now };
    this.rolesSince = now;
    world.onRoleChange = () => {
      this.rolesSince = Date.now();
      this.noteBreak();
      this.sample();
    };
    pair.on('EventServerConnected', (e) => this.onConnected(e.source));
    pair.on('EventServerDisconnected', (e) => this.onDisconnected(e.source, e.reason));
    pair.on('active', (e) => this.onActive(e.endpoint));
    pair.on('switchover', () => this.noteBreak());
    pair.on('EventLinkConnected', () => this.noteBreak());
    pair.on('EventLinkDisconnected', () => this.noteBreak());
  }

  noteBreak(): void {
    this.breaks.push(Date.now());
  }

  /** A server's latency is about to change: what it already delays is out one latency (and a network delay) from now. */
  noteLatency(s: ServerName): void {
    const l = this.world.servers[s].latencyMs;
    if (l > 0) this.drainUntil[s] = Math.max(this.drainUntil[s], Date.now() + l + this.nd);
  }

  /** A new process (its role chosen anew, not through a role change): healthy only from now. */
  restarted(s: ServerName): void {
    this.healthySince[s] = null;
    this.rolesSince = Date.now();
  }

  /** Re-read the servers' health (after every command, role change and step). */
  sample(): void {
    const now = Date.now();
    for (const s of ['A', 'B'] as const) {
      if (!this.healthyNow(s)) this.healthySince[s] = null;
      else this.healthySince[s] ??= Math.max(now, this.drainUntil[s]);
    }
  }

  private healthyNow(s: ServerName): boolean {
    const v = this.world.servers[s];
    // Warm standby: a backup does not listen by design; whether the primary does is its role's business.
    return v.alive && v.responsive && !v.refusing && v.linkUp && v.latencyMs === 0 && (this.mode === 'warm' || v.listening);
  }

  /** The one live primary (none during a split, or with both down). */
  private worldPrimary() {
    const ps = [this.world.servers.A, this.world.servers.B].filter((v) => v.alive && v.role === ServerRole.Primary);
    return ps.length === 1 ? ps[0]! : undefined;
  }

  /** When `ep` must be connected (warm: and delivering) at the latest, or null when that is not promised now. */
  private connectDue(ep: EpName): number | null {
    const r = this.o.retry;
    const nd = this.nd;
    const firstRetry = Math.min(r.maxDelayMs, 2 * r.minDelayMs);
    const s = SERVER_OF[ep];
    let due: number;
    let afterProbe: number;
    if (this.mode === 'hot') {
      const H = this.healthySince[s];
      if (H === null) return null;
      due = H + r.maxDelayMs;
      const l = this.loss[ep];
      if (l) due = Math.max(due, l.at + l.pauseMs + firstRetry);
      afterProbe = r.maxDelayMs;
    } else {
      const prim = this.worldPrimary();
      const Hp = prim && prim.name === s ? this.healthySince[s] : null;
      if (Hp === null || Hp === undefined) return null;
      due = Math.max(Hp, this.rolesSince) + 2 * r.maxDelayMs + nd;
      const l = this.loss.primary;
      // The probe of the other server ends after probeMs — but an attempt it started just before runs to its
      // own deadline (connect + handshake: a hung server answers nothing), then the primary is tried.
      const attempt = this.o.connectTimeoutMs + this.o.handshakeTimeoutMs;
      if (l) due = Math.max(due, l.at + l.pauseMs + r.probeMs + attempt + 2 * nd + firstRetry);
      afterProbe = 2 * r.maxDelayMs + nd;
    }
    const b = this.o.breaker;
    const closes = this.world.peerCloses[s];
    if (b && closes.length >= b.volumeThreshold) due = Math.max(due, closes[closes.length - 1]! + 1.5 * b.resetTimeoutMs + 1 + afterProbe);
    return due + 5 * nd + SLACK_MS;
  }

  /** The latest due time of every endpoint that must be connected now (null: none is promised). */
  connectedBy(): number | null {
    const ds = (['primary', 'backup'] as const).map((ep) => this.connectDue(ep)).filter((d): d is number => d !== null);
    return ds.length ? Math.max(...ds) : null;
  }

  private connected(ep: EpName): boolean {
    const st = this.pair.state;
    return st.endpoints[ep].server === 'open' && (this.mode === 'hot' || st.source === ep);
  }

  private onConnected(ep: EpName): void {
    const now = Date.now();
    const due = this.connectDue(ep);
    if (due !== null && now > due && !this.closed()) this.lateConnect(ep, due, `connected only at ${now - this.healthyFrom(ep)} ms`);
    this.openedAt[ep] = now;
  }

  private healthyFrom(ep: EpName): number {
    const H = this.healthySince[SERVER_OF[ep]] ?? 0;
    return this.mode === 'warm' ? Math.max(H, this.rolesSince) : H;
  }

  private lateConnect(ep: EpName, due: number, what: string): void {
    const from = this.healthyFrom(ep);
    const l = this.loss[this.mode === 'hot' ? ep : 'primary'];
    this.checker.fail('timeliness', `${this.mode} standby: ${ep} (server ${SERVER_OF[ep]}) healthy since ${from} ms was ${what} (bound ${due - from} ms${l ? `; last session lost at ${l.at} ms, pacer pause ≤ ${Math.round(l.pauseMs)} ms` : ''}): ${JSON.stringify(this.pair.state.endpoints[ep])}`);
  }

  private onDisconnected(ep: EpName, reason: string): void {
    const now = Date.now();
    this.noteBreak();
    const lasted = this.openedAt[ep] < 0 ? 0 : now - this.openedAt[ep];
    this.openedAt[ep] = -1;
    const key = this.mode === 'hot' ? ep : 'primary';
    // The session pacer (supervisor.ts sessionPacer): our own drops are not paced and leave the count; a
    // session that lasted max(1 s, fastPhaseMs) resets it (a few ms of margin: the loop measures it from a
    // later instant, so a borderline one counts as short here, which only lengthens the bound).
    if (reason === 'manual') {
      this.loss[key] = { at: now, pauseMs: 0 };
      return;
    }
    const r = this.o.retry;
    if (lasted >= Math.max(1000, r.fastPhaseMs) + 5) {
      this.short[key] = 0;
      this.loss[key] = { at: now, pauseMs: 0 };
      return;
    }
    const ms = Math.min(r.maxDelayMs, r.minDelayMs * r.factor ** this.short[key]) * 2;
    this.short[key]++;
    this.loss[key] = { at: now, pauseMs: this.short[key] > 1 ? ms : 0 };
  }

  /** Round trip of a request to a healthy server. */
  requestBoundMs(): number {
    return 2 * this.nd + 2;
  }

  /** Whether a request submitted now goes straight to `ep`'s server, a healthy primary, and is answered there. */
  flowsTo(ep: EpName): boolean {
    if (this.closed()) return false;
    const st = this.pair.state;
    const e = st.endpoints[ep];
    if (!st.open || st.active !== ep || e.server !== 'open' || e.role !== 'primary' || e.link !== 'up') return false;
    const v = this.world.servers[SERVER_OF[ep]];
    const other = this.world.other(v);
    return v.alive && v.responsive && v.role === ServerRole.Primary && !(other.alive && other.role === ServerRole.Primary) &&
      v.linkUp && v.reportedLinkUp && v.latencyMs === 0 && Date.now() >= this.drainUntil[v.name];
  }

  /** A tracked request was just submitted. */
  submitted(id: string): void {
    const a = this.pair.state.active;
    if (a === null) this.awaitingActive.add(id);
    else if (this.flowsTo(a)) this.flowing.push({ id, ep: a, from: Date.now(), mark: this.breaks.length });
  }

  private onActive(ep: EpName | null): void {
    this.noteBreak();
    if (ep === null) return;
    // Queued while no server could take them: they go out with this `active` (the dispatch it comes with).
    if (this.flowsTo(ep)) for (const id of this.awaitingActive) this.flowing.push({ id, ep, from: Date.now(), mark: this.breaks.length });
    this.awaitingActive.clear();
  }

  /** Submit a probe request (a route with a long deadline) and track it. */
  probe(id: string): void {
    const pr = this.pair.request('RequestRouteCall', { ThisDN: BASE_DNS[0]!, ConnID: BigInt(10_000_000 + ++this.probes), OtherDN: id, RouteType: 2 }, { timeoutMs: 60_000 });
    this.checker.request(pr, id, 60_000, true);
    this.submitted(id);
  }

  /** Both promises, judged now. */
  check(): void {
    if (this.closed() || this.checker.failed) return;
    const now = Date.now();
    for (const ep of ['primary', 'backup'] as const) {
      const due = this.connectDue(ep);
      if (due !== null && now > due && !this.connected(ep)) this.lateConnect(ep, due, `not ${this.mode === 'hot' ? 'connected' : 'connected and delivering'} ${now - this.healthyFrom(ep)} ms later`);
    }
    const bound = this.requestBoundMs();
    this.flowing = this.flowing.filter((f) => {
      const due = f.from + bound;
      const at = this.checker.settledAt(f.id);
      if (at !== undefined && at <= due) return false;
      if (at === undefined && now <= due) return true;
      const broke = this.breaks.length > f.mark && this.breaks[f.mark]! <= due;
      if (!broke) {
        this.checker.fail('timeliness', `request ${f.id} could go to ${f.ep} from ${f.from} ms (active, open, its server a healthy primary) and was ${at === undefined ? `still unanswered ${now - f.from} ms later` : `settled only ${at - f.from} ms later`} (bound ${bound} ms): ${JSON.stringify(this.pair.state)}`);
      }
      return false;
    });
  }
}
