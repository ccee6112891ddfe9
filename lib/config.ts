import { createSecureContext, type ConnectionOptions as TlsOptions, type SecureContextOptions } from 'node:tls';
import { ConfigError } from './errors.js';
import type { CodecLimits } from './protocol/constants.js';
import type { TransportFactory } from './transport/types.js';
import { isTransportAvailable } from './transport/index.js';
// TLS options that hold secrets: kept out of `util.inspect`, `JSON.stringify`, `Object.keys` and spreads.
import { TLS_SECRET_KEYS } from './transport/node-transport.js';
import { nativeStatus } from './native/loader.js';
// Side effect: registers the native transport when the addon loads, so `transport: 'native'` can be checked here.
import './native/register.js';

/**
 * A pino-shaped logger: each method takes an object of structured fields first, then a message (pino,
 * bunyan, and `console` all fit). tserver-ha logs nothing unless one is given.
 */
export interface Logger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** Where one T-Server listens. */
export interface EndpointAddress {
  host: string;
  port: number;
  /**
   * TLS options of this server alone, on top of the pair's `tls` (its own `servername`, `ca`, client
   * certificate…): two servers often have certificates that name different hosts or come from different
   * CAs. Setting it makes this endpoint use TLS even when the pair's `tls` is not set.
   */
  tls?: TlsOptions;
}

/** Options of {@link TServerPair}. Every field but `name`, `primary`, `backup` has a default (README table). */
export interface TServerPairOptions {
  /** Names the pair: the `Server` attribute of every normalized event. */
  name: string;
  /** The server configured as primary, as `{ host, port }` or `'host:port'` (`'[::1]:7000'`). Which one really is primary is what the servers say (ServerRole). */
  primary: EndpointAddress | string;
  /** The server configured as backup (`{ host, port }` or `'host:port'`). */
  backup: EndpointAddress | string;
  /** `hot`: both connected, backup stream buffered; `warm`: one connection at a time. Default `hot`. */
  mode?: 'warm' | 'hot';
  /** ApplicationName sent in RequestRegisterClient. Default `tserver-ha`. */
  applicationName?: string;
  /** DNs registered on every (re)connect and switchover. More can be added with `registerAddress()`. */
  dns?: readonly string[];
  /** RegisterMode for DN registrations. Default `share`. */
  registerMode?: 'share' | 'private' | 'monitor';
  /**
   * ADDP heartbeat; `false` disables. The default depends on the transport the pair uses: with the native
   * transport (heartbeat on the addon's I/O thread) `{ timeoutMs: 500 }` — poll after 250 ms of silence, lost
   * after 500 ms; with the node transport (heartbeat on the main thread: `transport: 'node'`, TLS, or `auto`
   * without the addon) `{ timeoutMs: 3000 }`. `remoteTimeoutMs` (the server's timer for us) defaults to
   * twice `timeoutMs`. A value given here wins whatever the transport.
   */
  addp?: { timeoutMs: number; remoteTimeoutMs?: number } | false;
  /** TCP connect deadline. Default 1000 ms. */
  connectTimeoutMs?: number;
  /** Deadline for RequestRegisterClient → EventServerInfo + link status + DN registrations. Default 2000 ms. */
  handshakeTimeoutMs?: number;
  /** Default deadline of `request()`. Default 2000 ms. */
  requestTimeoutMs?: number;
  /** `open()` rejects (and closes the pair) if no server is usable by then. Default 10 000 ms. */
  openTimeoutMs?: number;
  /** Warm standby: how long to stay on a server that says it is backup, waiting for its promotion, before trying the other. Default 3000 ms. */
  warmBackupWaitMs?: number;
  /**
   * Reconnect schedule (p-retry, each delay randomized ×1..2): for `fastPhaseMs` after a loss, attempts
   * every `minDelayMs`; then exponential by `factor` up to `maxDelayMs`, where it stays jittered
   * (`maxDelayMs/2`..`maxDelayMs`). Default 50 ms for 3 s, then up to 1 s: a server that comes back is
   * connected again within one delay. Warm standby first probes the other server every `probeIntervalMs`
   * for `probeMs` after a loss (0 turns the probe phase off).
   */
  retry?: { minDelayMs?: number; maxDelayMs?: number; factor?: number; fastPhaseMs?: number; probeMs?: number; probeIntervalMs?: number };
  /**
   * Per-endpoint circuit breaker (opossum); `false` disables. It counts only attempts a server answered
   * with a failure (refused and timed-out attempts are paced by `retry` instead), and re-probes after
   * `resetTimeoutMs` ± 50 %.
   */
  breaker?: { errorThresholdPercentage?: number; volumeThreshold?: number; resetTimeoutMs?: number; rollingWindowMs?: number } | false;
  /**
   * Which transport: `auto` (native when the addon loaded and no TLS), `native`, or `node`. Default `auto`.
   * A function is used as the transport factory itself (a transport of your own, or the decision-core
   * simulation's in-memory one); it must keep the {@link Transport} contract.
   */
  transport?: 'auto' | 'native' | 'node' | TransportFactory;
  /**
   * TLS to the servers (forces the node transport): Node's `tls.connect` options. `undefined` (the
   * default) is plaintext; anything but an object is refused. Each server's certificate is checked against
   * its configured `host` (an IP address against the certificate's IP SANs, a name against its DNS SANs,
   * sent as SNI). The secrets (`key`, `passphrase`, `pfx`, `session`) reach the transport but are hidden
   * from `pair.options`, `util.inspect` and `JSON.stringify` (docs/security.md).
   */
  tls?: TlsOptions;
  /** Hot standby: bounds of the backup window. Default 100 000 frames, 64 MiB. */
  window?: { maxFrames?: number; maxBytes?: number };
  /** Both servers claiming primary is reported (`splitBrain`) only if it lasts this long. Default 500 ms. */
  splitBrainGraceMs?: number;
  /** Hot standby: move delivery to the backup when the primary's CTI link drops and the backup's is up. Default true. */
  switchOnLinkDown?: boolean;
  /** Requests waiting for a usable server or a reply, at most. Default 10 000. */
  maxPendingRequests?: number;
  /** TCP keepalive. Default idle 1000 ms, interval 1000 ms, count 3. */
  keepAlive?: { idleMs: number; intervalMs: number; count: number } | false;
  /** TCP_USER_TIMEOUT (native transport, Linux). Default 3000 ms. */
  userTimeoutMs?: number;
  /** Codec limits. */
  limits?: CodecLimits;
  /**
   * Where the pair logs what it does (connects, losses, switchovers, gaps, breaker changes, failed attempts
   * — sampled), as structured fields (`pair`, `endpoint`, `reason`, `code`, timings) and a message. A
   * pino-shaped object (pino, bunyan, `console`). Default: silent.
   */
  logger?: Logger;
}

/** Options with every default filled in and validated. */
export interface ResolvedPairOptions {
  name: string;
  primary: EndpointAddress;
  backup: EndpointAddress;
  mode: 'warm' | 'hot';
  applicationName: string;
  dns: string[];
  registerMode: number;
  addp: { timeoutMs: number; remoteTimeoutMs: number } | false;
  connectTimeoutMs: number;
  handshakeTimeoutMs: number;
  requestTimeoutMs: number;
  openTimeoutMs: number;
  warmBackupWaitMs: number;
  retry: { minDelayMs: number; maxDelayMs: number; factor: number; fastPhaseMs: number; probeMs: number; probeIntervalMs: number };
  breaker: { errorThresholdPercentage: number; volumeThreshold: number; resetTimeoutMs: number; rollingWindowMs: number } | false;
  transport: 'auto' | 'native' | 'node' | TransportFactory;
  tls: TlsOptions | undefined;
  window: { maxFrames: number; maxBytes: number };
  switchOnLinkDown: boolean;
  splitBrainGraceMs: number;
  maxPendingRequests: number;
  keepAlive: { idleMs: number; intervalMs: number; count: number } | false;
  userTimeoutMs: number;
  limits: CodecLimits;
  /** The logger given, or undefined (silent). */
  logger: Logger | undefined;
}

/** The defaults, published in the README beside Genesys' own. */
export const DEFAULTS = {
  mode: 'hot',
  applicationName: 'tserver-ha',
  registerMode: 'share',
  /** ADDP with the native transport (and a transport factory of your own): the heartbeat is off the main thread. */
  addp: { timeoutMs: 500 },
  /**
   * ADDP with the node transport (`transport: 'node'`, TLS, or `auto` without the addon): its heartbeat
   * and the answers to the server's polls run on the main thread, so a starved or blocked event loop must
   * not look like a dead server — nor like a dead client to the server (`remoteTimeoutMs`, 2 × this, lets
   * the server wait ~4× this before dropping us). Measured (bench/README.md, "Soak"): under load the pair's
   * event loop was late by up to 6 s, the simulator's servers by up to 0.6 s; 500 ms lost 29 connections in
   * 2 minutes there (the servers dropping us), 3000 ms none in 10 minutes.
   */
  addpNode: { timeoutMs: 3000 },
  connectTimeoutMs: 1000,
  handshakeTimeoutMs: 2000,
  requestTimeoutMs: 2000,
  openTimeoutMs: 10_000,
  warmBackupWaitMs: 3000,
  // maxDelayMs 1 s (was 5 s): the steady delay (0.5–1 s) is how late a server back from a long outage is
  // noticed; the cost is ≤ 2 attempts per second per client at a server that stays away (bench/README.md).
  retry: { minDelayMs: 50, maxDelayMs: 1000, factor: 2, fastPhaseMs: 3000, probeMs: 2000, probeIntervalMs: 5 },
  // Counts only attempts a server answered with a failure (lib/endpoint/breaker.ts): outages never trip it.
  breaker: { errorThresholdPercentage: 50, volumeThreshold: 5, resetTimeoutMs: 10_000, rollingWindowMs: 10_000 },
  transport: 'auto',
  window: { maxFrames: 100_000, maxBytes: 64 * 1024 * 1024 },
  switchOnLinkDown: true,
  splitBrainGraceMs: 500,
  maxPendingRequests: 10_000,
  keepAlive: { idleMs: 1000, intervalMs: 1000, count: 3 },
  userTimeoutMs: 3000,
} as const;

const REGISTER_MODES = { share: 0, private: 1, monitor: 2 } as const;

/** `v`, or the default when `v` is undefined — only then: `null`, `''`, `NaN` are values, checked like any other. */
function or<T>(v: T | undefined, d: T): T {
  return v === undefined ? d : v;
}

function fail(path: string, want: string, got: unknown): never {
  throw new ConfigError(`option ${path} must be ${want}, got ${show(got)}`);
}

/** A value, for an error message — never throws (a null-prototype object has no toString). */
export function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'function') return 'a function';
  if (typeof v === 'symbol') return 'a symbol';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object' && v !== null) return 'an object';
  return String(v);
}

function int(path: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(path, `an integer in [${min}, ${max}]`, v);
  return v;
}

function num(path: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) fail(path, `a number in [${min}, ${max}]`, v);
  return v;
}

function oneOf<T extends string>(path: string, v: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(v as T)) fail(path, `one of ${allowed.map((a) => `'${a}'`).join(', ')}`, v);
  return v as T;
}

function address(path: string, v: unknown): EndpointAddress {
  if (typeof v === 'string') {
    // 'host:port', '[v6]:port'
    const m = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(v);
    if (!m) fail(path, "'host:port' or an object { host, port }", v);
    return { host: m[1] ?? m[2]!, port: int(`${path} port`, Number(m[3]), 1, 65535) };
  }
  if (typeof v !== 'object' || v === null) fail(path, "an object { host, port } or 'host:port'", v);
  const { host, port, tls } = v as EndpointAddress;
  if (typeof host !== 'string' || host.length === 0 || /\s/.test(host)) fail(`${path}.host`, 'a host name or address (a non-empty string without spaces)', host);
  const out: EndpointAddress = { host, port: int(`${path}.port`, port, 1, 65535) };
  if (tls !== undefined) out.tls = checkTls(tls, `${path}.tls`);
  return out;
}

/** Codec limits, checked now (not at the first connection, after openTimeoutMs of failed attempts). */
function checkLimits(v: unknown): CodecLimits {
  const l = objectOr<CodecLimits>('limits', v, false) || {};
  for (const [k, x] of Object.entries(l)) {
    if (x !== undefined) int(`limits.${k}`, x, 1, 2 ** 32 - 1);
  }
  return l;
}

function objectOr<T>(path: string, v: unknown, allowFalse: boolean): Partial<T> | false | undefined {
  if (v === undefined) return undefined;
  if (v === false && allowFalse) return false;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(path, allowFalse ? 'an object or false' : 'an object', v);
  return v as Partial<T>;
}

/** Every option key, with the keys of each nested object: anything else is a typo, refused. */
const KNOWN_KEYS: Record<string, readonly string[]> = {
  primary: ['host', 'port', 'tls'],
  backup: ['host', 'port', 'tls'],
  '': [
    'name', 'primary', 'backup', 'mode', 'applicationName', 'dns', 'registerMode', 'addp', 'connectTimeoutMs', 'handshakeTimeoutMs',
    'requestTimeoutMs', 'openTimeoutMs', 'warmBackupWaitMs', 'retry', 'breaker', 'transport', 'tls', 'window', 'splitBrainGraceMs',
    'switchOnLinkDown', 'maxPendingRequests', 'keepAlive', 'userTimeoutMs', 'limits', 'logger',
  ],
  addp: ['timeoutMs', 'remoteTimeoutMs'],
  retry: ['minDelayMs', 'maxDelayMs', 'factor', 'fastPhaseMs', 'probeMs', 'probeIntervalMs'],
  breaker: ['errorThresholdPercentage', 'volumeThreshold', 'resetTimeoutMs', 'rollingWindowMs'],
  window: ['maxFrames', 'maxBytes'],
  keepAlive: ['idleMs', 'intervalMs', 'count'],
  limits: ['maxFrameSize', 'maxDepth', 'maxAttributes'],
};

/** Edit distance (insertions, deletions, substitutions, adjacent swaps), for "did you mean". */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** The known key closest to `key` (same letters in another case, or at most 2 edits, ≤ a third of its length). */
export function closestKey(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  const same = known.find((k) => k.toLowerCase() === lower);
  if (same) return same;
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const dd = distance(lower, k.toLowerCase());
    if (dd < bestD) [best, bestD] = [k, dd];
  }
  return bestD <= Math.min(2, Math.max(1, Math.floor(key.length / 3))) ? best : undefined;
}

/** Refuse keys the options do not have (a typo would otherwise silently leave the default in force). */
function checkKeys(path: string, v: unknown): void {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return;
  const known = KNOWN_KEYS[path];
  if (!known) return;
  for (const key of Object.keys(v)) {
    if (known.includes(key)) continue;
    const full = path ? `${path}.${key}` : key;
    const near = closestKey(key, known);
    throw new ConfigError(`unknown option ${full}${near ? ` (did you mean ${path ? `${path}.` : ''}${near}?)` : ''}; known: ${known.join(', ')}`);
  }
  if (path === '') for (const k of Object.keys(KNOWN_KEYS)) if (k) checkKeys(k, (v as Record<string, unknown>)[k]);
}

function checkLogger(v: unknown): Logger | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'object' || v === null) fail('logger', 'an object with debug/info/warn/error methods (pino-shaped)', v);
  for (const m of ['debug', 'info', 'warn', 'error'] as const) {
    if (typeof (v as Record<string, unknown>)[m] !== 'function') fail(`logger.${m}`, 'a function (a pino-shaped logger: debug/info/warn/error)', (v as Record<string, unknown>)[m]);
  }
  return v as Logger;
}

/** Connection fields tserver-ha sets itself, per endpoint: not accepted in `tls`. */
const TLS_MANAGED_KEYS = ['host', 'port', 'path', 'socket'] as const;
const REDACTED = '[redacted]';

/**
 * `tls` validated (undefined = plaintext, an object = TLS; null, false, '' … are refused: they used to mean
 * plaintext silently) and copied with its secrets as non-enumerable properties: they still reach the
 * transport (read by name), but `util.inspect(pair)`, `JSON.stringify(pair.options)`, `Object.keys` and
 * `{ ...tls }` do not carry them; inspect and JSON show `'[redacted]'` in their place.
 */
function checkTls(v: unknown, path = 'tls'): TlsOptions | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    fail(path, 'an object of tls.connect options (or left out for plaintext)', v);
  }
  const given = v as Record<string, unknown>;
  for (const k of TLS_MANAGED_KEYS) {
    if (given[k] !== undefined) throw new ConfigError(`option ${path}.${k} is not accepted: tserver-ha connects to each endpoint's host and port itself (verify another name with tls.servername or tls.checkServerIdentity)`);
  }
  if (given.servername !== undefined && (typeof given.servername !== 'string' || given.servername === '')) fail(`${path}.servername`, 'a non-empty string', given.servername);
  if (given.checkServerIdentity !== undefined && typeof given.checkServerIdentity !== 'function') fail(`${path}.checkServerIdentity`, 'a function', given.checkServerIdentity);
  // Keys, certificates, CAs and the passphrase are checked now, not on every connection attempt until
  // openTimeoutMs. OpenSSL's messages name no secret.
  try {
    if (given.secureContext === undefined) createSecureContext(given as SecureContextOptions);
  } catch (err) {
    throw new ConfigError(`option ${path} cannot be used: ${(err as Error).message}`, { cause: err });
  }
  const out: Record<string | symbol, unknown> = {};
  for (const [k, val] of Object.entries(given)) {
    const secret = (TLS_SECRET_KEYS as readonly string[]).includes(k);
    Object.defineProperty(out, k, { value: val, enumerable: !secret, writable: false, configurable: false });
  }
  const display = (): Record<string, unknown> => {
    const shown: Record<string, unknown> = { ...out };
    for (const k of TLS_SECRET_KEYS) if (out[k] !== undefined) shown[k] = REDACTED;
    return shown;
  };
  Object.defineProperty(out, 'toJSON', { value: display, enumerable: false });
  Object.defineProperty(out, Symbol.for('nodejs.util.inspect.custom'), {
    value: (_depth: number, options: object, inspect: (v: unknown, o: object) => string) => inspect(display(), options),
    enumerable: false,
  });
  return Object.freeze(out) as TlsOptions;
}

/**
 * The ADDP timeout when none is given, for the transport these options will get: the node transport's
 * (`'node'`, TLS — which `auto` serves with the node transport — or `auto` without the addon) is longer,
 * since its heartbeat lives on the main thread. `auto` is decided here as the pair decides it (the addon
 * registers itself when this module loads). A factory function gets the native default.
 */
export function defaultAddpTimeoutMs(o: Partial<Pick<TServerPairOptions, 'transport' | 'tls' | 'primary' | 'backup'>>): number {
  const t = o.transport ?? DEFAULTS.transport;
  // An endpoint's own `tls` (when given) also means the node transport under 'auto': one such endpoint
  // gives the whole pair the node default (ADDP is one setting per pair).
  const endpointTls = [o.primary, o.backup].some((e) => typeof e === 'object' && e !== null && (e as { tls?: unknown }).tls !== undefined);
  const node = t === 'node' || (t === 'auto' && (o.tls !== undefined || endpointTls || !isTransportAvailable('native')));
  return node ? DEFAULTS.addpNode.timeoutMs : DEFAULTS.addp.timeoutMs;
}

/** Validate options and fill in defaults. Throws {@link ConfigError} naming the bad option. */
export function resolvePairOptions(o: TServerPairOptions): ResolvedPairOptions {
  if (typeof o !== 'object' || o === null) throw new ConfigError('options must be an object');
  checkKeys('', o);
  if (typeof o.name !== 'string' || o.name.length === 0) fail('name', 'a non-empty string', o.name);
  const primary = address('primary', o.primary);
  const backup = address('backup', o.backup);
  if (primary.host === backup.host && primary.port === backup.port) {
    throw new ConfigError('options primary and backup name the same host:port');
  }
  const mode = oneOf('mode', or(o.mode, DEFAULTS.mode), ['warm', 'hot']);
  const applicationName = or(o.applicationName, DEFAULTS.applicationName);
  if (typeof applicationName !== 'string' || applicationName.length === 0) fail('applicationName', 'a non-empty string', applicationName);
  // An array, not any iterable: a string would be spread character by character into DNs.
  if (o.dns !== undefined && !Array.isArray(o.dns)) fail('dns', 'an array of DNs (strings)', o.dns);
  const dns = [...new Set(o.dns ?? [])];
  dns.forEach((d, i) => {
    if (typeof d !== 'string' || d.length === 0) fail(`dns[${i}]`, 'a non-empty string', d);
  });

  const addpIn = objectOr<{ timeoutMs: number; remoteTimeoutMs: number }>('addp', o.addp, true);
  let addp: ResolvedPairOptions['addp'] = false;
  if (addpIn !== false) {
    const timeoutMs = int('addp.timeoutMs', or(addpIn?.timeoutMs, defaultAddpTimeoutMs(o)), 10, 3_600_000);
    addp = { timeoutMs, remoteTimeoutMs: int('addp.remoteTimeoutMs', or(addpIn?.remoteTimeoutMs, timeoutMs * 2), 10, 3_600_000) };
  }

  const r = objectOr<ResolvedPairOptions['retry']>('retry', o.retry, false) || {};
  const retry = {
    // A zero delay with unlimited retries is a busy loop (p-retry lesson): 1 ms is the floor.
    minDelayMs: int('retry.minDelayMs', or(r.minDelayMs, DEFAULTS.retry.minDelayMs), 1, 3_600_000),
    maxDelayMs: int('retry.maxDelayMs', or(r.maxDelayMs, DEFAULTS.retry.maxDelayMs), 1, 3_600_000),
    factor: num('retry.factor', or(r.factor, DEFAULTS.retry.factor), 1, 10),
    fastPhaseMs: int('retry.fastPhaseMs', or(r.fastPhaseMs, DEFAULTS.retry.fastPhaseMs), 0, 3_600_000),
    probeMs: int('retry.probeMs', or(r.probeMs, DEFAULTS.retry.probeMs), 0, 60_000),
    // Sequential attempts, never two in flight: 1 ms is the floor (as for minDelayMs).
    probeIntervalMs: int('retry.probeIntervalMs', or(r.probeIntervalMs, DEFAULTS.retry.probeIntervalMs), 1, 60_000),
  };
  if (retry.maxDelayMs < retry.minDelayMs) throw new ConfigError('option retry.maxDelayMs must be >= retry.minDelayMs');

  const b = objectOr<Exclude<ResolvedPairOptions['breaker'], false>>('breaker', o.breaker, true);
  const breaker: ResolvedPairOptions['breaker'] = b === false ? false : {
    errorThresholdPercentage: num('breaker.errorThresholdPercentage', or(b?.errorThresholdPercentage, DEFAULTS.breaker.errorThresholdPercentage), 1, 100),
    // volumeThreshold 0 lets a single failure trip the breaker (opossum #217): at least 1.
    volumeThreshold: int('breaker.volumeThreshold', or(b?.volumeThreshold, DEFAULTS.breaker.volumeThreshold), 1, 1_000_000),
    resetTimeoutMs: int('breaker.resetTimeoutMs', or(b?.resetTimeoutMs, DEFAULTS.breaker.resetTimeoutMs), 1, 3_600_000),
    rollingWindowMs: int('breaker.rollingWindowMs', or(b?.rollingWindowMs, DEFAULTS.breaker.rollingWindowMs), 100, 3_600_000),
  };

  const w = objectOr<ResolvedPairOptions['window']>('window', o.window, false) || {};
  const window = {
    maxFrames: int('window.maxFrames', or(w.maxFrames, DEFAULTS.window.maxFrames), 1, 100_000_000),
    maxBytes: int('window.maxBytes', or(w.maxBytes, DEFAULTS.window.maxBytes), 1024, 2 ** 40),
  };

  const ka = objectOr<{ idleMs: number; intervalMs: number; count: number }>('keepAlive', o.keepAlive, true);
  const keepAlive = ka === false ? false : {
    idleMs: int('keepAlive.idleMs', or(ka?.idleMs, DEFAULTS.keepAlive.idleMs), 1, 3_600_000),
    intervalMs: int('keepAlive.intervalMs', or(ka?.intervalMs, DEFAULTS.keepAlive.intervalMs), 1, 3_600_000),
    count: int('keepAlive.count', or(ka?.count, DEFAULTS.keepAlive.count), 1, 127),
  };

  const transport = typeof o.transport === 'function' ? o.transport : oneOf('transport', or(o.transport, DEFAULTS.transport), ['auto', 'native', 'node']);
  const tls = checkTls(o.tls);
  // An endpoint's own TLS options go on top of the pair's (secrets are kept: read by name, not by listing).
  for (const ep of [primary, backup]) {
    if (ep.tls === undefined || tls === undefined) continue;
    const merged: Record<string, unknown> = {};
    for (const src of [tls, ep.tls]) for (const k of Object.getOwnPropertyNames(src)) if (k !== 'toJSON') merged[k] = (src as Record<string, unknown>)[k];
    ep.tls = checkTls(merged);
  }
  if ((tls !== undefined || primary.tls !== undefined || backup.tls !== undefined) && transport === 'native') {
    throw new ConfigError("option tls needs transport 'node' or 'auto' (the addon does not do TLS)");
  }
  // Fail now, not after openTimeoutMs of attempts that cannot succeed.
  if (transport === 'native' && !isTransportAvailable('native')) {
    throw new ConfigError(`option transport is 'native' but the native addon is not loaded: ${nativeStatus().reason ?? 'its I/O thread is unavailable'}`);
  }
  if (o.switchOnLinkDown !== undefined && typeof o.switchOnLinkDown !== 'boolean') fail('switchOnLinkDown', 'a boolean', o.switchOnLinkDown);

  return {
    name: o.name,
    primary,
    backup,
    mode,
    applicationName,
    dns,
    registerMode: REGISTER_MODES[oneOf('registerMode', or(o.registerMode, DEFAULTS.registerMode), ['share', 'private', 'monitor'])],
    addp,
    connectTimeoutMs: int('connectTimeoutMs', or(o.connectTimeoutMs, DEFAULTS.connectTimeoutMs), 1, 3_600_000),
    handshakeTimeoutMs: int('handshakeTimeoutMs', or(o.handshakeTimeoutMs, DEFAULTS.handshakeTimeoutMs), 1, 3_600_000),
    requestTimeoutMs: int('requestTimeoutMs', or(o.requestTimeoutMs, DEFAULTS.requestTimeoutMs), 1, 3_600_000),
    openTimeoutMs: int('openTimeoutMs', or(o.openTimeoutMs, DEFAULTS.openTimeoutMs), 1, 3_600_000),
    warmBackupWaitMs: int('warmBackupWaitMs', or(o.warmBackupWaitMs, DEFAULTS.warmBackupWaitMs), 1, 3_600_000),
    retry,
    breaker,
    transport,
    tls,
    window,
    switchOnLinkDown: or(o.switchOnLinkDown, DEFAULTS.switchOnLinkDown),
    splitBrainGraceMs: int('splitBrainGraceMs', or(o.splitBrainGraceMs, DEFAULTS.splitBrainGraceMs), 0, 3_600_000),
    maxPendingRequests: int('maxPendingRequests', or(o.maxPendingRequests, DEFAULTS.maxPendingRequests), 1, 10_000_000),
    keepAlive,
    userTimeoutMs: int('userTimeoutMs', or(o.userTimeoutMs, DEFAULTS.userTimeoutMs), 0, 3_600_000),
    limits: checkLimits(o.limits),
    logger: checkLogger(o.logger),
  };
}
