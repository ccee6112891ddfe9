/**
 * The T-Server simulator: a switch, a primary and a backup T-Server as real processes on loopback, and a
 * management role (in this process) that promotes the backup like Solution Control Server would.
 * See docs/simulator.md.
 * @packageDocumentation
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';
import { createNetns, netnsSupport, type Netns } from './netns.js';
import {
  FAULT_KINDS, MAX_WAITING_CALLS, intOpt, resolveSimulationOptions,
  type Endpoint, type Fault, type ServerSelector, type SimulationOptions, type SimulationTls, type SwitchoverRecord,
} from './options.js';
import { newLabel, numberingMap, type NumberingRecord } from './numbering.js';
import { ChildHandle, freePort } from './process.js';
import { readCtiRuns, readOracle, type Oracle } from './oracle.js';
import { FIRST_AGENT, FIRST_ROUTE_POINT, type SwitchConfig } from './switch.js';
import { makeSimCertificates } from './tls.js';
import type { TServerConfig } from './tserver.js';

export { readOracle, compareWithOracle, readCtiRuns, OracleReader, type Oracle, type OracleEvent, type OracleNote, type OracleRoute, type OracleComparison } from './oracle.js';
export {
  compareNumberedWithOracle,
  numberingMap,
  type NumberedOracleComparison,
  type NumberedSeq,
  type NumberingRecord,
} from './numbering.js';
export { SimErrorCode } from './session.js';
export { SIM_SERVER_VERSION } from './tserver.js';
export { netnsSupport } from './netns.js';
export {
  DEFAULT_ROUTE_TIMEOUT_MS,
  FAULT_KINDS,
  resolveSimulationOptions,
  type Endpoint,
  type Fault,
  type ServerSelector,
  type SimulationOptions,
  type SimulationTls,
  type SwitchoverRecord,
} from './options.js';
export { makeSimCertificates, type SimCertificates, type SimTlsIdentity } from './tls.js';

/** A running simulation. */
export interface Simulation {
  readonly mode: 'hot' | 'warm';
  readonly host: string;
  /** The server that started as primary (A) and the one that started as backup (B). */
  readonly primary: Endpoint;
  readonly backup: Endpoint;
  readonly switch: { host: string; port: number };
  readonly dir: string;
  /** Path of the oracle log (oracle.tsv). */
  readonly oraclePath: string;
  readonly routePoints: string[];
  readonly agents: string[];
  /** The switch's route timeout (ms): a call unrouted this long goes to its default destination. */
  readonly routeTimeoutMs: number;
  /**
   * TLS of the client ports, or undefined (plaintext). A client trusts `tls.ca`:
   * `new TServerPair({ ..., tls: { ca: sim.tls.ca } })` (docs/simulator.md, "TLS").
   */
  readonly tls: SimulationTls | undefined;
  /**
   * Child events (`event`), management decisions (`switchover`), numberings set (`numbering`:
   * {@link NumberingChange}, when a server process starts with a known numbering and when a sequence
   * reset's base is fixed at its first CTI link-up).
   */
  readonly events: EventEmitter;
  /** Current roles as the management role set them (0 primary, 1 backup). */
  roles(): { A: 0 | 1; B: 0 | 1 };
  /** Pids of the children (for tests that check nothing is left behind). */
  pids(): { switch?: number; A?: number; B?: number };
  /** Inject a fault; resolves with what the target reported. */
  fault(f: Fault): Promise<unknown>;
  /** Make the switch emit `count` scripted events now; resolves with the switch's status. */
  emit(count: number): Promise<{ seq: number }>;
  /** Change the switch's event rate (events/s; 0 stops generated traffic). */
  setRate(rate: number): Promise<void>;
  /** Status of the switch and both servers (a stopped or dead server shows its error). */
  status(): Promise<Record<string, unknown>>;
  /** Parse the oracle log as it is now. */
  oracle(): Oracle;
  /** Seq runs server `name` received on its CTI link (flushed every 200 ms). */
  ctiRuns(name: 'A' | 'B'): [number, number][];
  /**
   * Every numbering used so far, oldest first: the shared one both servers start with and one per
   * `restart` with `resetSeq` (also of processes since restarted). A reset's `base` is null until its CTI
   * link first came up.
   */
  numberings(): NumberingRecord[];
  /** The numbering server `name` uses now. */
  numbering(name: 'A' | 'B'): NumberingRecord;
  /** Switch seq of `seq` in numbering `label` (`base + seq`); throws ConfigError when it cannot be known. */
  toSwitchSeq(label: string, seq: number): number;
  /** Stop every process (idempotent). */
  stop(): Promise<void>;
}

/** A server's numbering was set (event `numbering` of {@link Simulation.events}). */
export interface NumberingChange {
  server: 'A' | 'B';
  label: string;
  base: number;
  pid: number | undefined;
}

/** Wait until both CTI links are up and, in hot standby, the backup has finished its sync. */
async function settled(children: { A?: ChildHandle; B?: ChildHandle }, mode: 'hot' | 'warm'): Promise<void> {
  const end = Date.now() + 15_000;
  for (;;) {
    const [a, b] = (await Promise.all([children.A!.command({ op: 'status' }), children.B!.command({ op: 'status' })])) as {
      ctiUp: boolean;
      syncDone: boolean;
    }[];
    if (a!.ctiUp && b!.ctiUp && (mode === 'warm' || b!.syncDone)) return;
    if (Date.now() > end) throw new Error(`simulation did not settle: A ${JSON.stringify(a)} B ${JSON.stringify(b)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const live = new Set<ChildHandle>();
/** Working directories this process made for simulations not stopped yet: removed at exit too. */
const ownDirs = new Set<string>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Children also exit on their own when our IPC channel closes; this makes it immediate. A process that
  // exits without stopping its simulations (process.exit, an uncaught error) leaves no directory behind.
  process.on('exit', () => {
    for (const c of live) c.killNow();
    for (const d of ownDirs) removeDir(d);
  });
}

function removeDir(dir: string): void {
  ownDirs.delete(dir);
  rmSync(dir, { recursive: true, force: true });
}

/** Start a switch, two T-Servers and the management role. */
export async function startSimulation(options: SimulationOptions = {}): Promise<Simulation> {
  const o = resolveSimulationOptions(options);
  // Free ports are probed, then bound by the children: another process can take one in between (two
  // simulations starting at once). With ports of our own choosing, a failed start is tried again.
  const chosen = Object.values(o.ports).some((p) => p);
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(o);
    } catch (err) {
      if (chosen || attempt >= 3) throw err;
    }
  }
}

async function startOnce(o: ReturnType<typeof resolveSimulationOptions>): Promise<Simulation> {
  installExitHook();
  const ownDir = o.dir === undefined;
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'tserver-ha-sim-'));
  if (ownDir) ownDirs.add(dir);
  try {
    return await startIn(o, dir, ownDir);
  } catch (err) {
    // A start that failed before its children ran (ports, netns, TLS): stop() did not remove it.
    if (ownDir && ownDirs.has(dir)) removeDir(dir);
    throw err;
  }
}

async function startIn(o: ReturnType<typeof resolveSimulationOptions>, dir: string, ownDir: boolean): Promise<Simulation> {
  const events = new EventEmitter();
  const host = o.host === 'localhost' ? '127.0.0.1' : o.host;
  // One simulation never draws the same port twice (its second server would never listen), nor one it was given.
  const taken = new Set(Object.values(o.ports).filter((p): p is number => Boolean(p)));
  const port = async (p: number | undefined): Promise<number> => (p ? p : freePort(host, taken));
  const ports = {
    switch: await port(o.ports.switch),
    A: await port(o.ports.primary),
    B: await port(o.ports.backup),
    haA: await port(o.ports.primaryHa),
    haB: await port(o.ports.backupHa),
  };
  let netns: Netns | undefined;
  if (o.netns) {
    const support = netnsSupport();
    if (!support.ok) throw new ConfigError(`netns: ${support.reason}`);
    netns = createNetns();
  }
  const hostOf = (name: 'A' | 'B') => (name === 'A' && netns ? netns.nsAddr : host);
  // TLS of the client ports: made here (every address a client can use), or given.
  const identity = o.tls === 'generate'
    ? makeSimCertificates([...new Set([host, '127.0.0.1', '::1', 'localhost', ...(netns ? [netns.nsAddr] : [])])])
    : o.tls;
  let tlsInfo: SimulationTls | undefined;
  if (identity) {
    const caFile = identity.ca !== undefined ? join(dir, 'ca.pem') : undefined;
    if (caFile) writeFileSync(caFile, identity.ca!);
    tlsInfo = { cert: identity.cert, generated: o.tls === 'generate', ...(identity.ca !== undefined ? { ca: identity.ca, caFile } : {}) };
  }
  const children: { switch?: ChildHandle; A?: ChildHandle; B?: ChildHandle } = {};
  const roles: { A: 0 | 1; B: 0 | 1 } = { A: 0, B: 1 };
  let stopping = false;
  const pendingPromotion = new Set<string>();
  /** `checked` (name) once a pending promotion's re-check has run (and the promotion, if any, begun). */
  const management = new EventEmitter();

  // Numberings (docs/simulator.md): both servers start in one, base 0; a reset gives a server a new one.
  const numberings = new Map<string, NumberingRecord>();
  const first = newLabel('sw');
  numberings.set(first, { label: first, base: 0, servers: ['A', 'B'], createdAt: Date.now() });
  const inUse: { A: string; B: string } = { A: first, B: first };

  const onNumbering = (name: 'A' | 'B', ev: Record<string, unknown>) => {
    const rec = numberings.get(String(ev.label));
    const base = Number(ev.base);
    if (!rec || !Number.isSafeInteger(base)) return;
    // A label has one base: the first process that fixes it decides (a restart without reset keeps it).
    rec.base ??= base;
    const change: NumberingChange = { server: name, label: rec.label, base: rec.base, pid: children[name]?.pid };
    events.emit('numbering', change);
  };

  const onEvent = (name: string, ev: Record<string, unknown>) => {
    if (ev.event === 'numbering' && (name === 'A' || name === 'B')) onNumbering(name, ev);
    events.emit('event', { source: name, ...ev });
    if (stopping) return;
    if (ev.event === 'exit' && (name === 'A' || name === 'B') && roles[name] === 0) suspect(name, 'crash');
    if (ev.event === 'peer-lost' && (name === 'A' || name === 'B') && roles[name] === 1) suspect(other(name), 'ha-link-lost');
  };
  const other = (n: 'A' | 'B'): 'A' | 'B' => (n === 'A' ? 'B' : 'A');

  const spawnServer = async (name: 'A' | 'B', role: 0 | 1) => {
    const inNs = name === 'A' && netns !== undefined;
    const cfg: TServerConfig = {
      name,
      host: hostOf(name),
      switchHost: inNs ? netns!.hostAddr : host,
      peerHaHost: hostOf(other(name)),
      extraHaHosts: !inNs && netns ? [netns.hostAddr] : [],
      clientPort: ports[name],
      haPort: name === 'A' ? ports.haA : ports.haB,
      peerHaPort: name === 'A' ? ports.haB : ports.haA,
      switchPort: ports.switch,
      role,
      mode: o.mode,
      addpEnforce: o.addpEnforce,
      dir,
      maxFrameSize: o.maxFrameSize,
      clientBufferLimit: 64 * 1024 * 1024,
      haTimeoutMs: o.haTimeoutMs,
      seqLabel: inUse[name],
      seqBase: numberings.get(inUse[name])!.base,
    };
    const secrets = identity ? { tls: { key: identity.key, cert: identity.cert } } : undefined;
    const c = new ChildHandle(name, 'tserver-main.js', cfg, onEvent, inNs ? netns!.exec : [], secrets);
    live.add(c);
    c.proc.on('exit', () => live.delete(c));
    children[name] = c;
    roles[name] = role;
    await c.ready;
    // The management role may have changed this server's role while it booted (a promotion decided
    // meanwhile): a command sent before the child listened is lost, so the role is sent again now.
    if (roles[name] !== role) await c.command({ op: 'role', role: roles[name] }).catch(() => {});
    return c;
  };

  /** Is server `name` failed in a way the management layer can see (exit, hang)? */
  const failed = (name: 'A' | 'B'): boolean => {
    const c = children[name];
    if (!c || c.exited) return true;
    return Date.now() - c.lastAlive > o.hangTimeoutMs;
  };
  /** Does the backup (the peer of `name`) still miss its HA link to `name`? */
  const backupCutOff = async (name: 'A' | 'B'): Promise<boolean> => {
    const b = children[other(name)];
    if (!b || b.exited) return false;
    const st = (await b.command({ op: 'status' }, 1000).catch(() => undefined)) as { haConnected?: boolean } | undefined;
    return st !== undefined && st.haConnected === false;
  };

  const promote = async (from: 'A' | 'B', reason: SwitchoverRecord['reason'], detectedAt: number) => {
    const to = other(from);
    const target = children[to];
    if (!target || target.exited || roles[to] === 0) return;
    roles[to] = 0;
    roles[from] = 1;
    // The process that was primary now: taken before the await below, during which it may be restarted
    // (a restarted process is told its role when it starts, and must not get this demotion).
    const old = children[from];
    await target.command({ op: 'role', role: 0 }).catch(() => {});
    // The old primary learns it is backup when it can hear us (a stopped one: after SIGCONT).
    if (old && !old.exited && children[from] === old) old.command({ op: 'role', role: 1 }, 600_000).catch(() => {});
    const rec: SwitchoverRecord = { from, to, reason, detectedAt, promotedAt: Date.now() };
    events.emit('switchover', rec);
  };

  const suspect = (name: 'A' | 'B', reason: SwitchoverRecord['reason']) => {
    if (!o.autoPromote || pendingPromotion.has(name) || roles[name] !== 0) return;
    pendingPromotion.add(name);
    const detectedAt = Date.now();
    // disconnect-switchover-timeout: wait, re-check, then switch.
    setTimeout(async () => {
      const stillDown = failed(name) || (reason === 'ha-link-lost' && (await backupCutOff(name)));
      pendingPromotion.delete(name);
      if (!stopping && roles[name] === 0 && stillDown) {
        // Name the most specific cause visible now (an HA link loss is often the first sign of a crash).
        const c = children[name];
        const why = !c || c.exited ? 'crash' : Date.now() - c.lastAlive > o.hangTimeoutMs ? 'hang' : reason;
        // promote() sets the roles before its first await, so they are current when `checked` fires.
        void promote(name, why, detectedAt);
      }
      management.emit('checked', name);
    }, o.promotionDelayMs).unref();
  };

  // Hang detection starts once the simulation has settled (processes booting are slow to beat), and a
  // server counts as hung only while its peer's beats do arrive: when both are late, it is this (parent)
  // process that is busy, not the server.
  let watching = false;
  const watchdog = setInterval(() => {
    if (!watching) return;
    const now = Date.now();
    for (const name of ['A', 'B'] as const) {
      const c = children[name];
      const peer = children[other(name)];
      const peerBeating = !!peer && !peer.exited && now - peer.lastAlive < o.hangTimeoutMs / 2;
      if (roles[name] === 0 && c && !c.exited && now - c.lastAlive > o.hangTimeoutMs && peerBeating) suspect(name, 'hang');
    }
  }, 50);
  watchdog.unref();

  const sw = new ChildHandle('switch', 'switch-main.js', {
    host,
    extraHosts: netns ? [netns.hostAddr] : [],
    port: ports.switch,
    // Traffic starts once both servers are linked (below), so the first events reach them.
    rate: 0,
    routePoints: o.routePoints,
    agents: o.agents,
    concurrentCalls: o.concurrentCalls,
    routeTimeoutMs: o.routeTimeoutMs,
    maxWaitingCalls: MAX_WAITING_CALLS,
    dir,
    linkBufferLimit: 64 * 1024 * 1024,
  } satisfies SwitchConfig, onEvent);
  live.add(sw);
  sw.proc.on('exit', () => live.delete(sw));
  children.switch = sw;

  let stopped: Promise<void> | undefined;
  const stop = () => (stopped ??= doStop());
  const doStop = async () => {
    stopping = true;
    clearInterval(watchdog);
    await Promise.all([children.A?.stop(), children.B?.stop(), children.switch?.stop()]);
    netns?.destroy();
    if (ownDir) removeDir(dir);
  };

  try {
    await sw.ready;
    await Promise.all([spawnServer('A', 0), spawnServer('B', 1)]);
    await settled(children, o.mode);
    watching = true;
    if (o.rate > 0) await sw.command({ op: 'rate', rate: o.rate });
  } catch (err) {
    await stop();
    throw err;
  }

  const pick = (s: ServerSelector | undefined): 'A' | 'B' => {
    if (s === 'A' || s === 'B') return s;
    if (s === 'primary') return roles.A === 0 ? 'A' : 'B';
    if (s === 'backup') return roles.A === 1 ? 'A' : 'B';
    throw new ConfigError(`server must be primary, backup, A or B, got ${String(s)}`);
  };
  const child = (name: 'A' | 'B') => {
    const c = children[name];
    if (!c || c.exited) throw new ConfigError(`server ${name} is not running`);
    return c;
  };

  const fault = async (f: Fault): Promise<unknown> => {
    if (stopping) throw new ConfigError('simulation stopped');
    switch (f.kind) {
      case 'kill': {
        const c = child(pick(f.server));
        const gone = new Promise((r) => c.proc.once('exit', r));
        c.signal('SIGKILL');
        await gone;
        return { killed: c.name, pid: c.pid };
      }
      case 'stop':
      case 'cont': {
        const c = child(pick(f.server));
        c.signal(f.kind === 'stop' ? 'SIGSTOP' : 'SIGCONT');
        return { server: c.name, signal: f.kind === 'stop' ? 'SIGSTOP' : 'SIGCONT' };
      }
      case 'restart': {
        const name = pick(f.server);
        const old = children[name];
        let killed: number | undefined;
        if (old && !old.exited) {
          // A live server is killed first (SIGKILL): to everyone else a restart starts as a crash.
          const gone = new Promise((r) => old.proc.once('exit', r));
          old.signal('SIGKILL');
          await gone;
          killed = old.pid;
        }
        // A primary's exit is a crash to the management role: let its pending promotion of the peer run,
        // so the server comes back as backup of the new primary (with autoPromote off nothing is pending).
        while (pendingPromotion.has(name)) await new Promise((r) => management.once('checked', r));
        if (stopping) throw new ConfigError('simulation stopped');
        if (f.resetSeq) {
          const label = newLabel(name);
          numberings.set(label, { label, base: null, servers: [name], createdAt: Date.now() });
          inUse[name] = label;
        } else {
          const rec = numberings.get(inUse[name])!;
          if (!rec.servers.includes(name)) rec.servers.push(name);
        }
        // A restarted server comes back as backup of whoever is primary now.
        const role: 0 | 1 = roles[other(name)] === 0 && children[other(name)] && !children[other(name)]!.exited ? 1 : 0;
        // The base it starts with: null for a reset (fixed at its first link-up: the `numbering` event).
        const seqBase = numberings.get(inUse[name])!.base;
        await spawnServer(name, role);
        return { server: name, role, killed, seqEpoch: inUse[name], seqBase };
      }
      case 'silent':
        return child(pick(f.server)).command({ op: 'silent', on: f.on ?? true });
      case 'link-down':
      case 'link-up':
        return sw.command({ op: 'link', server: pick(f.server), up: f.kind === 'link-up' });
      case 'switchover': {
        const from = pick('primary');
        await promote(from, 'manual', Date.now());
        return roles;
      }
      case 'split-brain': {
        const b = pick('backup');
        roles[b] = 0;
        await child(b).command({ op: 'role', role: 0 });
        return roles;
      }
      case 'resolve-split-brain': {
        // Deterministic: A keeps primary when both claim it.
        if (roles.A === 0 && roles.B === 0) {
          roles.B = 1;
          await child('B').command({ op: 'role', role: 1 });
        }
        return roles;
      }
      case 'malformed':
        return child(pick(f.server)).command({ op: 'malformed', variant: f.variant ?? 'bad-version' });
      case 'latency':
        return child(pick(f.server)).command({ op: 'latency', ms: intOpt('latency ms', f.ms, 0, 0, 600_000) });
      case 'route-reply-latency':
        return child(pick(f.server)).command({ op: 'route-reply-latency', ms: intOpt('route-reply-latency ms', f.ms, 0, 0, 600_000) });
      case 'refuse':
        return child(pick(f.server)).command({ op: 'refuse', on: f.on ?? true });
      case 'duplicate-replies':
        return child(pick(f.server)).command({ op: 'duplicate-replies', on: f.on ?? true });
      case 'partition':
        if (!netns) throw new ConfigError('partition needs a simulation started with netns: true (root, ip, iptables)');
        netns.partition(f.on ?? true);
        return { server: 'A', namespace: netns.name, partitioned: netns.partitioned };
      default:
        throw new ConfigError(`unknown fault kind ${String((f as { kind: unknown }).kind)}; known: ${FAULT_KINDS.join(', ')}`);
    }
  };

  const ep = (name: 'A' | 'B'): Endpoint => ({ name, host: hostOf(name), port: ports[name] });
  const copy = (r: NumberingRecord): NumberingRecord => ({ ...r, servers: [...r.servers] });
  return {
    mode: o.mode,
    host,
    primary: ep('A'),
    backup: ep('B'),
    switch: { host, port: ports.switch },
    dir,
    oraclePath: join(dir, 'oracle.tsv'),
    routePoints: Array.from({ length: o.routePoints }, (_, i) => String(FIRST_ROUTE_POINT + i)),
    agents: Array.from({ length: o.agents }, (_, i) => String(FIRST_AGENT + i)),
    routeTimeoutMs: o.routeTimeoutMs,
    tls: tlsInfo,
    events,
    roles: () => ({ ...roles }),
    pids: () => ({ switch: children.switch?.pid, A: children.A?.pid, B: children.B?.pid }),
    fault,
    emit: async (count) => (await sw.command({ op: 'emit', count })) as { seq: number },
    setRate: async (rate) => {
      await sw.command({ op: 'rate', rate: intOpt('rate', rate, 0, 0, 10_000_000) });
    },
    status: async () => {
      const q = async (c: ChildHandle | undefined) =>
        c && !c.exited ? c.command({ op: 'status' }, 1000).catch((e: Error) => ({ error: e.message })) : { error: 'not running' };
      const [s, a, b] = await Promise.all([q(children.switch), q(children.A), q(children.B)]);
      return { switch: s, A: a, B: b, roles: { ...roles }, pids: { switch: children.switch?.pid, A: children.A?.pid, B: children.B?.pid } };
    },
    oracle: () => readOracle(join(dir, 'oracle.tsv')),
    ctiRuns: (name) => readCtiRuns(join(dir, `cti-${name}.json`)),
    numberings: () => [...numberings.values()].map(copy),
    numbering: (name) => copy(numberings.get(inUse[name])!),
    toSwitchSeq: (label, seq) => numberingMap([...numberings.values()])(label, seq),
    stop,
  };
}
