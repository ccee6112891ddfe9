/**
 * One schedule of the decision-core simulation: a real `TServerPair` (core, shell, endpoints, request book,
 * p-retry schedules, opossum breakers) against simulated servers on a virtual clock, with the invariants
 * of docs/semantics.md checked after every step. Same schedule, same history, same verdict.
 */
import diagnostics from 'node:diagnostics_channel';
import { TServerPair } from '../../lib/pair/pair.js';
import { OPEN_END, type GapEvent, type TEvent } from '../../lib/pair/events.js';
import { Attr } from '../../lib/protocol/ids.js';
import { ServerRole } from '../../lib/protocol/ids.js';
import { Checker, type Oracle, type Violation } from '../invariants.js';
import { installVirtualTime, prng } from './clock.js';
import { BASE_DNS, EXTRA_DNS, type Cmd, type Schedule } from './schedule.js';
import { SimTransport } from './sim-transport.js';
import { World } from './world.js';

export interface RunResult {
  violation: Violation | null;
  /** Commands executed (the checker ran after each). */
  steps: number;
  delivered: number;
  gaps: number;
  /** The history held a renumbering no client could see (world.ts `invisibleRenumber`): not judged. */
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
          if (!closed) checker.request(pr, id, c.timeoutMs, c.idempotent);
          else pr.catch(() => {});
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
      steps++;
      await vt.advance(c.t === 'wait' ? c.ms : 1);
      checkDetection();
      checkReconnect();
      if (checker.step()) break;
    }
    // Healing ends every fault, ours included: no switchover() still to come.
    for (const t of manualTimers) clearTimeout(t);
    if (!checker.failed) await heal(world, vt.advance, () => closed, pair, checker, () => clearInterval(traffic));
    // close() finishes on the virtual clock: advance it until the promise settles (bounded).
    let done = false;
    void (closed ? pair.close() : closePair()).finally(() => (done = true));
    for (let i = 0; i < 100 && !done; i++) await vt.advance(100);
    if (!done) checker.fail('close-settles', 'close() did not resolve within 10 s of virtual time');
    clearInterval(traffic);
    if (!checker.failed) await checker.finish();
    if (!checker.failed) checkResendOrder(world, checker);
    const unjudged = world.invisibleRenumber;
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
async function heal(world: World, advance: (ms: number) => Promise<void>, closed: () => boolean, pair: TServerPair, checker: Checker, stopTraffic: () => void): Promise<void> {
  for (const srv of [world.servers.A, world.servers.B]) {
    if (!srv.alive) srv.restart(false);
    srv.resume();
    srv.setSilent(false);
    srv.setLink(true);
    srv.latencyMs = 0;
    srv.dupReplies = false;
    srv.refusing = false;
  }
  const { A, B } = world.servers;
  if (A.role === B.role) {
    A.setRole(ServerRole.Primary);
    B.setRole(ServerRole.Backup);
  }
  // The healed servers' reports (a queued demotion, a link) reach the pair first; then the reconnect
  // schedule (≤ 5 s between attempts) and the breakers' re-probe (≤ 3 s here) bound recovery.
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
}

/** Idempotent requests lost together on one connection are re-sent in submission order. */
function checkResendOrder(world: World, checker: Checker): void {
  const first = new Map<string, { conn: number }>();
  const resent = new Map<number, { conn: number; n: number }[]>(); // by the connection they were lost on
  for (const r of world.routeLog) {
    const f = first.get(r.id);
    if (!f) {
      first.set(r.id, { conn: r.conn });
      continue;
    }
    const list = resent.get(f.conn) ?? [];
    list.push({ conn: r.conn, n: Number(r.id.slice(1)) });
    resent.set(f.conn, list);
  }
  for (const [lostOn, list] of resent) {
    const byTarget = new Map<number, number[]>();
    // The first re-send of each request per target: a request refused there (1002/1003, nothing ran) is
    // sent again when that connection can take requests — a second round, in order among itself.
    for (const x of list) {
      const ns = byTarget.get(x.conn) ?? [];
      if (!ns.includes(x.n)) byTarget.set(x.conn, [...ns, x.n]);
    }
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
