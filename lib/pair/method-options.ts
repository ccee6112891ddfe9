/**
 * The options of TServerPair's methods and the checks they get where they are given (docs/semantics.md:
 * every argument is checked before anything is sent, armed or allocated).
 */
import { show } from '../config.js';
import { ConfigError } from '../errors.js';
import type { EndpointName } from './core/vocabulary.js';
import { MAX_TIMEOUT_MS, checkTimeout } from './requests.js';

/** Options of `registerAddress()` / `unregisterAddress()`. */
export interface AddressOptions {
  /** Deadline for the active server's answer; default the pair's `requestTimeoutMs`. */
  timeoutMs?: number;
  /** Stop waiting for the answer: rejects with AbortedError (the DN stays in or out of the set as asked). */
  signal?: AbortSignal;
}

/** Options of `open()`. */
export interface OpenOptions {
  /** Abort the open: it rejects with AbortedError and the pair is closed. */
  signal?: AbortSignal;
}

/** Options of `close()`. */
export interface CloseOptions {
  /**
   * Graceful: stop taking requests (new ones reject with ClosedError), let those in flight settle — each
   * by its own deadline, so the wait is bounded — then close. `{ timeoutMs }` bounds the wait further;
   * requests still unsettled then reject with ClosedError. Default false: reject them at once.
   */
  drain?: boolean | { timeoutMs: number };
}

/**
 * What a health probe reads (`pair.health()`): liveness for "restart me?" (a Kubernetes liveness probe),
 * readiness for "send me work?" (a readiness probe or a load balancer).
 */
export interface PairHealth {
  /** The pair is running: opened and not closed. Stays true through switchovers and outages. */
  live: boolean;
  /**
   * A server takes requests — or none has for less than the grace period (a switchover is short; a
   * request submitted meanwhile is queued, not refused). False before open() resolved and after close().
   */
  ready: boolean;
  /** Where requests go now (null while no server is usable). */
  active: EndpointName | null;
  /** For how long no server has taken requests (ms), or null while one does. */
  noServerForMs: number | null;
  /** Why not ready, in words (absent when ready). */
  reason?: string;
}

/** Options of `events()`. */
export interface EventsOptions {
  signal?: AbortSignal;
  /** Events this iterator may fall behind before it ends with EventsOverflowError. Default 10 000. */
  maxBuffered?: number;
}

/** An options argument: a plain object (not null, not an array). */
export function isOptions(v: unknown): v is object {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Options of one method, with only the keys it knows (a typo is refused, not ignored). */
export function checkOptions(method: string, v: unknown, known: readonly string[]): void {
  if (!isOptions(v)) throw new ConfigError(`${method} options must be an object, got ${show(v)}`);
  for (const k of Object.keys(v)) {
    if (!known.includes(k)) throw new ConfigError(`unknown option ${k} of ${method}; known: ${known.join(', ')}`);
  }
}

/**
 * The options every call that waits for an answer takes — `timeoutMs` (default `defaultTimeoutMs`) and
 * `signal` — checked together with the method's own keys (request() and the (un)registrations share this).
 */
export function checkCallOptions(method: string, v: unknown, known: readonly string[], defaultTimeoutMs: number): { timeoutMs: number; signal: AbortSignal | undefined } {
  checkOptions(method, v, known);
  const { timeoutMs, signal } = v as { timeoutMs?: unknown; signal?: unknown };
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new ConfigError('option signal must be an AbortSignal');
  return { timeoutMs: checkTimeout('timeoutMs', timeoutMs === undefined ? defaultTimeoutMs : timeoutMs), signal };
}

/** `signal` of open(): an AbortSignal or nothing (checked before anything is armed). */
export function checkSignal(options: OpenOptions): AbortSignal | undefined {
  checkOptions('open()', options, ['signal']);
  const s = options.signal;
  if (s !== undefined && !(s instanceof AbortSignal)) throw new ConfigError('option signal must be an AbortSignal');
  return s;
}

/** `drain` of close(): null (no drain), or the longest wait in ms (Infinity: each request's own deadline). */
/** health()'s grace period in ms (default 2000). */
export function checkHealth(options: { graceMs?: number }): number {
  checkOptions('health()', options, ['graceMs']);
  const graceMs = options.graceMs === undefined ? 2000 : options.graceMs;
  if (typeof graceMs !== 'number' || !Number.isFinite(graceMs) || graceMs < 0) throw new ConfigError(`option graceMs must be a number of ms >= 0, got ${show(graceMs)}`);
  return graceMs;
}

export function checkDrain(options: CloseOptions): number | null {
  checkOptions('close()', options, ['drain']);
  const d = options.drain;
  if (d === undefined || d === false) return null;
  if (d === true) return Infinity;
  if (typeof d === 'object' && d !== null && Number.isInteger(d.timeoutMs) && d.timeoutMs >= 0 && d.timeoutMs <= MAX_TIMEOUT_MS) return d.timeoutMs;
  throw new ConfigError(`option drain must be a boolean or { timeoutMs } (an integer number of ms in [0, ${MAX_TIMEOUT_MS}]), got ${JSON.stringify(d)}`);
}

