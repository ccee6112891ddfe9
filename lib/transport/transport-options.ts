/**
 * One validation of {@link TransportOptions} for both transports (they had drifted: the native transport
 * checked keepalive interval and count, the node transport only idle), and the defaults of a transport
 * created directly (`createTransport`); a `TServerPair` always passes its resolved options (lib/config.ts).
 */
import { ConfigError } from '../errors.js';
import { resolveLimits, type ResolvedLimits } from '../protocol/decoder.js';
import type { TransportOptions } from './types.js';

/** Defaults of a transport created without the option. */
export const TRANSPORT_DEFAULTS = {
  connectTimeoutMs: 2000,
  /**
   * ADDP timeout per kind, for a transport created directly (TransportOptions documents 1000 ms for both).
   * A pair always passes its own, which depends on the kind (lib/config.ts `DEFAULTS.addp` / `addpNode`).
   */
  addpTimeoutMs: { native: 1000, node: 1000 },
  keepAlive: { idleMs: 1000, intervalMs: 1000, count: 3 },
  userTimeoutMs: 3000,
  maxQueuedBytes: 32 * 1024 * 1024,
} as const;

/** Options of one transport, checked, with every default filled in. */
export interface ValidatedTransportOptions {
  host: string;
  port: number;
  connectTimeoutMs: number;
  /** 0: ADDP off. */
  addpTimeoutMs: number;
  /** null: keepalive off. */
  keepAlive: { idleMs: number; intervalMs: number; count: number } | null;
  /** 0: off (native, Linux; the node transport cannot set it). */
  userTimeoutMs: number;
  noDelay: boolean;
  maxQueuedBytes: number;
  limits: ResolvedLimits;
}

function positiveInt(name: string, v: unknown): number {
  if (!Number.isSafeInteger(v) || (v as number) < 1) throw new ConfigError(`${name} must be a positive integer, got ${String(v)}`);
  return v as number;
}

function nonNegative(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new ConfigError(`${name} must be a non-negative number, got ${String(v)}`);
  return v;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Check `options` the same way for every transport kind and fill in the defaults (`kind` picks the ADDP
 * default and what TLS may be). Throws {@link ConfigError} naming the option.
 */
export function validateTransportOptions(options: TransportOptions, kind: 'native' | 'node'): ValidatedTransportOptions {
  if (!isObject(options)) throw new ConfigError('transport options must be an object');
  if (typeof options.host !== 'string' || options.host === '') throw new ConfigError('transport host must be a non-empty string');
  if (!Number.isInteger(options.port) || options.port < 1 || options.port > 65535) {
    throw new ConfigError(`transport port must be an integer in 1..65535, got ${String(options.port)}`);
  }
  if (kind === 'native') {
    if (options.tls) throw new ConfigError("transport 'native' does not do TLS; use 'node' or 'auto'");
  } else if (options.tls !== undefined && !isObject(options.tls)) {
    // undefined is plaintext; null, false, '' … are mistakes, not "no TLS".
    throw new ConfigError(`transport tls must be an object of tls.connect options or undefined (plaintext), got ${JSON.stringify(options.tls) ?? String(options.tls)}`);
  }
  const connectTimeoutMs = options.connectTimeoutMs === undefined ? TRANSPORT_DEFAULTS.connectTimeoutMs : positiveInt('connectTimeoutMs', options.connectTimeoutMs);
  let addpTimeoutMs: number;
  if (options.addp === false) addpTimeoutMs = 0;
  else if (options.addp === undefined) addpTimeoutMs = TRANSPORT_DEFAULTS.addpTimeoutMs[kind];
  else if (!isObject(options.addp)) throw new ConfigError(`transport addp must be { timeoutMs } or false, got ${String(options.addp)}`);
  else addpTimeoutMs = positiveInt('addp.timeoutMs', options.addp.timeoutMs);
  let keepAlive: ValidatedTransportOptions['keepAlive'];
  if (options.keepAlive === false) keepAlive = null;
  else if (options.keepAlive === undefined) keepAlive = { ...TRANSPORT_DEFAULTS.keepAlive };
  else if (!isObject(options.keepAlive)) throw new ConfigError(`transport keepAlive must be { idleMs, intervalMs, count } or false, got ${String(options.keepAlive)}`);
  else {
    keepAlive = {
      idleMs: positiveInt('keepAlive.idleMs', options.keepAlive.idleMs),
      intervalMs: positiveInt('keepAlive.intervalMs', options.keepAlive.intervalMs),
      count: positiveInt('keepAlive.count', options.keepAlive.count),
    };
  }
  const userTimeoutMs = options.userTimeoutMs === undefined ? TRANSPORT_DEFAULTS.userTimeoutMs : nonNegative('userTimeoutMs', options.userTimeoutMs);
  if (options.noDelay !== undefined && typeof options.noDelay !== 'boolean') throw new ConfigError(`transport noDelay must be a boolean, got ${String(options.noDelay)}`);
  const maxQueuedBytes = options.maxQueuedBytes === undefined ? TRANSPORT_DEFAULTS.maxQueuedBytes : positiveInt('maxQueuedBytes', options.maxQueuedBytes);
  let limits: ResolvedLimits;
  try {
    limits = resolveLimits(options.limits);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  return { host: options.host, port: options.port, connectTimeoutMs, addpTimeoutMs, keepAlive, userTimeoutMs, noDelay: options.noDelay !== false, maxQueuedBytes, limits };
}
