/** Options, fault descriptions and switchover records of the simulator (docs/simulator.md). */
import { ConfigError } from '../errors.js';
import { checkSimTlsIdentity, type SimTlsIdentity } from './tls.js';

/** Options of {@link startSimulation}; every field optional. */
export interface SimulationOptions {
  /** Loopback address to bind (default `127.0.0.1`; `::1` works too). */
  host?: string;
  /** Hot or warm standby (default hot). */
  mode?: 'hot' | 'warm';
  /** Ports; 0 or absent = pick free ones (distinct from the others). Given ports must differ. */
  ports?: { switch?: number; primary?: number; backup?: number; primaryHa?: number; backupHa?: number };
  /** Switch events per second (default 0: events only via `emit`). */
  rate?: number;
  /** Route points (default 4, DNs 7000…). */
  routePoints?: number;
  /** Agent DNs (default 8, DNs 5000…). */
  agents?: number;
  /** Calls ringing agents at once (default 16); calls waiting on route points are not counted. */
  concurrentCalls?: number;
  /**
   * How long a call waits on its route point for a RequestRouteCall before the switch sends it to its
   * default destination (default 10 000 ms, as T-Server's `router-timeout`; 0: calls go to their default
   * destination at once, so agents ring without any router).
   */
  routeTimeoutMs?: number;
  /** Promote the backup automatically when the primary fails (default true). */
  autoPromote?: boolean;
  /** Wait before promoting, then re-check (like SCS disconnect-switchover-timeout). Default 500 ms. */
  promotionDelayMs?: number;
  /** A server whose process stops beating this long is considered hung (default 1000 ms). */
  hangTimeoutMs?: number;
  /** HA link silence that makes a server report its peer lost (default 1000 ms). */
  haTimeoutMs?: number;
  /** Servers poll silent clients and close them per the client's addp-remote-timeout (default false). */
  addpEnforce?: boolean;
  /** Largest frame a server accepts from a client (default 1 MiB). */
  maxFrameSize?: number;
  /**
   * Run server A (the first primary) in a network namespace of its own so `partition` faults are real
   * (iptables DROP). Needs root, `ip` and `iptables`: see {@link netnsSupport}. Default false.
   */
  netns?: boolean;
  /** Directory for the oracle and CTI logs (default: a fresh temp dir, removed by stop()). */
  dir?: string;
  /**
   * Serve the T-Servers' client ports over TLS (default: plaintext). `true`: a throwaway CA and a server
   * certificate for 127.0.0.1, ::1 and localhost (and the namespace address with `netns`) are made, and
   * {@link Simulation.tls} gives the CA to trust. Or the servers' own `{ key, cert }` (PEM), with the
   * `ca` that issued it when clients should get it from {@link Simulation.tls}. The switch (CTI) and HA
   * links stay plaintext: they are the simulator's own.
   */
  tls?: boolean | { key: string | Uint8Array; cert: string | Uint8Array; ca?: string | Uint8Array };
}

/** TLS of a running simulation's client ports ({@link SimulationOptions.tls}). */
export interface SimulationTls {
  /** The certificate both servers present (PEM). */
  cert: string;
  /** The CA that issued it (PEM): a client's `tls: { ca }`. Absent when PEMs were given without their CA. */
  ca?: string;
  /** Path of `ca.pem` in the simulation's directory (when `ca` is known). */
  caFile?: string;
  /** Whether the simulator made the certificate (`tls: true`) or was given it. */
  generated: boolean;
}

/** A server's address. */
export interface Endpoint {
  /** Stable name: `A` starts as primary, `B` as backup. */
  name: 'A' | 'B';
  host: string;
  port: number;
}

/** Which server a fault targets: by current role, or by stable name. */
export type ServerSelector = 'primary' | 'backup' | 'A' | 'B';

/** Faults {@link Simulation.fault} injects (docs/simulator.md describes each). */
export type Fault =
  | { kind: 'kill'; server: ServerSelector }
  | { kind: 'stop'; server: ServerSelector }
  | { kind: 'cont'; server: ServerSelector }
  | { kind: 'restart'; server: ServerSelector; resetSeq?: boolean }
  | { kind: 'silent'; server: ServerSelector; on?: boolean }
  | { kind: 'link-down'; server: ServerSelector }
  | { kind: 'link-up'; server: ServerSelector }
  | { kind: 'switchover' }
  | { kind: 'split-brain' }
  | { kind: 'resolve-split-brain' }
  | { kind: 'malformed'; server: ServerSelector; variant?: 'oversized' | 'bad-version' | 'bad-kind' | 'truncated' }
  | { kind: 'latency'; server: ServerSelector; ms: number }
  /** Routes are acted on at once, but their answers (EventRouteUsed / EventError) leave `ms` later. */
  | { kind: 'route-reply-latency'; server: ServerSelector; ms: number }
  | { kind: 'refuse'; server: ServerSelector; on?: boolean }
  | { kind: 'duplicate-replies'; server: ServerSelector; on?: boolean }
  | { kind: 'partition'; on?: boolean };

/** The fault kinds, for validation and help texts. */
export const FAULT_KINDS = [
  'kill', 'stop', 'cont', 'restart', 'silent', 'link-down', 'link-up', 'switchover', 'split-brain',
  'resolve-split-brain', 'malformed', 'latency', 'route-reply-latency', 'refuse', 'duplicate-replies', 'partition',
] as const;

/** A management-role decision, emitted as `'switchover'`. */
export interface SwitchoverRecord {
  from: 'A' | 'B';
  to: 'A' | 'B';
  reason: 'crash' | 'hang' | 'ha-link-lost' | 'manual';
  detectedAt: number;
  promotedAt: number;
}

/** Default route timeout of the simulated switch: T-Server's `router-timeout` default (10 s). */
export const DEFAULT_ROUTE_TIMEOUT_MS = 10_000;

/** Calls waiting on route points at most; past it the oldest goes to its default destination (overflow). */
export const MAX_WAITING_CALLS = 100_000;

export function intOpt(name: string, v: number | undefined, def: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (v === undefined) return def;
  if (!Number.isInteger(v) || v < min || v > max) throw new ConfigError(`${name} must be an integer in [${min}, ${max}], got ${v}`);
  return v;
}

/** Validate options and fill defaults. Throws {@link ConfigError}. */
export function resolveSimulationOptions(o: SimulationOptions = {}) {
  const mode = o.mode ?? 'hot';
  if (mode !== 'hot' && mode !== 'warm') throw new ConfigError(`mode must be hot or warm, got ${String(mode)}`);
  const host = o.host ?? '127.0.0.1';
  if (!['127.0.0.1', '::1', 'localhost'].includes(host)) throw new ConfigError(`host must be a loopback address, got ${host}`);
  const ports = o.ports ?? {};
  const given = new Map<number, string>();
  for (const [k, v] of Object.entries(ports)) {
    const port = intOpt(`ports.${k}`, v, 0, 0, 65535);
    if (port && given.has(port)) throw new ConfigError(`ports.${k} and ports.${given.get(port)} are both ${port}: each server needs its own port`);
    given.set(port, k);
  }
  return {
    mode,
    host,
    ports,
    rate: intOpt('rate', o.rate, 0, 0, 10_000_000),
    routePoints: intOpt('routePoints', o.routePoints, 4, 1, 10_000),
    agents: intOpt('agents', o.agents, 8, 1, 100_000),
    concurrentCalls: intOpt('concurrentCalls', o.concurrentCalls, 16, 1, 1_000_000),
    routeTimeoutMs: intOpt('routeTimeoutMs', o.routeTimeoutMs, DEFAULT_ROUTE_TIMEOUT_MS, 0, 3_600_000),
    autoPromote: o.autoPromote ?? true,
    promotionDelayMs: intOpt('promotionDelayMs', o.promotionDelayMs, 500, 0, 600_000),
    hangTimeoutMs: intOpt('hangTimeoutMs', o.hangTimeoutMs, 1000, 100, 600_000),
    haTimeoutMs: intOpt('haTimeoutMs', o.haTimeoutMs, 1000, 100, 600_000),
    addpEnforce: o.addpEnforce ?? false,
    maxFrameSize: intOpt('maxFrameSize', o.maxFrameSize, 1024 * 1024, 64, 0xffffffff),
    dir: o.dir,
    netns: o.netns ?? false,
    tls: resolveTls(o.tls),
  };
}

/** `'generate'`, the given identity, or undefined (plaintext). */
function resolveTls(v: SimulationOptions['tls']): 'generate' | (SimTlsIdentity & { ca?: string }) | undefined {
  if (v === undefined || v === false) return undefined;
  if (v === true) return 'generate';
  if (typeof v !== 'object' || v === null) throw new ConfigError(`tls must be true, false or { key, cert, ca? }, got ${String(v)}`);
  return checkSimTlsIdentity(v);
}
