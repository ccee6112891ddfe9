/**
 * What a pair says about itself besides its state: the sampled public events built from endpoint
 * callbacks (connect failures, reconnect schedules, heartbeats, breaker changes), the logger bridge, and
 * the request TracingChannel. Kept out of the per-event path: nothing here runs per delivered event
 * unless a logger is given (then one string compare per event).
 */
import diagnostics from 'node:diagnostics_channel';
import { CHANNELS } from '../diagnostics.js';
import type { Logger } from '../config.js';
import type { EndpointName } from '../endpoint/endpoint.js';
import type { PairEvents } from './events.js';

/**
 * `tserver-ha:request`: a TracingChannel around every `pair.request()` (start, end, asyncStart, asyncEnd,
 * error). The context is {@link RequestTraceContext}; `result` (the reply) or `error` is set on it.
 */
export const requestChannel = diagnostics.tracingChannel<unknown, RequestTraceContext>(CHANNELS.request);

/** The context object of the `tserver-ha:request` TracingChannel. */
export interface RequestTraceContext {
  /** The pair's name. */
  pair: string;
  /** The request's message name (`RequestRouteCall`). */
  request: string;
  /** The ReferenceID it carries. */
  referenceId: number;
  timeoutMs: number;
  idempotent: boolean;
  /** The endpoint requests went to when it was submitted (null: queued until one is usable). */
  active: EndpointName | null;
  /** Set by the channel: the reply (a MessageFrame). */
  result?: unknown;
  /** Set by the channel: the typed error it rejected with. */
  error?: unknown;
}

/**
 * Emit the 1st, 2nd, 4th, 8th, … occurrence of a streak: `take(n)` is true when the n-th should go out
 * (n counts from 1), and `suppressed` tells how many were skipped since the last one taken.
 */
export class StreakSampler {
  private last = 0;
  take(n: number): boolean {
    if (n < this.last) this.last = 0; // a new streak
    if ((n & (n - 1)) !== 0) return false;
    return true;
  }
  /** Skipped since the previous taken occurrence; call after a `take(n)` that returned true. */
  suppressed(n: number): number {
    const s = Math.max(0, n - this.last - 1);
    this.last = n;
    return s;
  }
}

/** The silent default: every method does nothing. */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

type Payload<K extends keyof PairEvents> = PairEvents[K][0];

/**
 * Control characters escaped, for server-provided text (an ErrorMessage, an error message quoting one)
 * interpolated into a log message: a newline could forge a log line and an escape sequence could drive
 * the reader's terminal. C0 and C1 controls, DEL, the Unicode line/paragraph separators and the bidi
 * overrides become `\n`, `\r`, `\t`, `\xHH` or `\uHHHH`; everything else is kept. (Structured fields need
 * no escaping: the logger serializes them.)
 */
export function escapeControl(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    const n = c.charCodeAt(0);
    return n <= 0xff ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`;
  });
}

/**
 * The log fields of an error: `err` is the Error object itself, so pino's `err` serializer (type, message,
 * stack, cause, code) applies, and `code` its TServerHaError code. A thrown non-Error is passed as is.
 */
export function errFields(err: unknown): Record<string, unknown> {
  if (err === undefined) return {};
  if (!(err instanceof Error)) return { err };
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? { err, code } : { err };
}

/** An error's message for a log message string: escaped (it may quote the server). */
function errText(err: unknown): string {
  return escapeControl(err instanceof Error ? err.message : String(err));
}

/**
 * The logger bridge: one listener on every public event (the pair's `ALL` key, as `events()` uses), turning
 * each into one structured log line. Installed only when a logger is given.
 */
export function logEvent(log: Logger, pair: string, name: string, payload: unknown): void {
  switch (name) {
    case 'event':
      return;
    case 'EventServerConnected': {
      const e = payload as Payload<'EventServerConnected'>;
      return log.info({ pair, endpoint: e.source, role: e.role, at: e.timestamp }, `${pair}: connected to ${e.source} (role ${e.role})`);
    }
    case 'EventServerDisconnected': {
      const e = payload as Payload<'EventServerDisconnected'>;
      const fields = { pair, endpoint: e.source, reason: e.reason, ...errFields(e.error), at: e.timestamp };
      if (e.reason === 'local') return log.info(fields, `${pair}: closed the connection to ${e.source}`);
      return log.warn(fields, `${pair}: lost ${e.source} (${e.reason})${e.error ? `: ${errText(e.error)}` : ''}`);
    }
    case 'EventLinkConnected':
    case 'EventLinkDisconnected': {
      const e = payload as Payload<'EventLinkConnected'> | Payload<'EventLinkDisconnected'>;
      const up = e.Event === 'EventLinkConnected';
      const serverCode = 'ErrorCode' in e ? e.ErrorCode : undefined;
      const serverText = 'ErrorMessage' in e ? e.ErrorMessage : undefined;
      const fields = {
        pair, endpoint: e.source, link: up ? 'up' : 'down', at: e.timestamp,
        ...(serverCode !== undefined ? { code: serverCode } : {}), ...(serverText !== undefined ? { errorMessage: serverText } : {}),
      };
      if (up) return log.info(fields, `${pair}: CTI link of ${e.source} is up`);
      return log.warn(fields, `${pair}: CTI link of ${e.source} is down${serverText ? `: ${escapeControl(serverText)}` : ''}`);
    }
    case 'switchover': {
      const e = payload as Payload<'switchover'>;
      return log.warn({
        pair, from: e.from, to: e.to, reason: e.reason, detectedAt: e.detectedAt, announcedAt: e.announcedAt, completedAt: e.completedAt,
        recoveryMs: e.completedAt - e.detectedAt, overheadMs: e.completedAt - e.announcedAt, replayed: e.replayed, gap: e.gap,
      }, `${pair}: switchover ${e.from ?? 'none'} -> ${e.to} (${e.reason}), requests resumed ${(e.completedAt - e.detectedAt).toFixed(1)} ms after detection`);
    }
    case 'active': {
      const e = payload as Payload<'active'>;
      return log.info({ pair, endpoint: e.endpoint, at: e.timestamp }, e.endpoint ? `${pair}: requests go to ${e.endpoint}` : `${pair}: no usable primary, requests queue`);
    }
    case 'gap': {
      const e = payload as Payload<'gap'>;
      return log.warn({ pair, endpoint: e.source, reason: e.reason, fromSeq: e.fromSeq, toSeq: e.toSeq, epoch: e.epoch },
        `${pair}: events ${e.fromSeq}..${e.toSeq} may be lost (${e.reason})`);
    }
    case 'splitBrain': {
      const e = payload as Payload<'splitBrain'>;
      return log.error({ pair, keeping: e.keeping, ignoring: e.ignoring, at: e.timestamp }, `${pair}: both servers say primary; keeping ${e.keeping}`);
    }
    case 'error': {
      const e = payload as Error;
      return log.error({ pair, ...errFields(e) }, `${pair}: ${errText(e)}`);
    }
    case 'connectFailed': {
      const e = payload as Payload<'connectFailed'>;
      return log.warn({ pair, endpoint: e.source, attempt: e.attempt, suppressed: e.suppressed, ...errFields(e.error), at: e.timestamp },
        `${pair}: connection attempt ${e.attempt} to ${e.source} failed: ${errText(e.error)}`);
    }
    case 'reconnecting': {
      const e = payload as Payload<'reconnecting'>;
      return log.debug({ pair, endpoint: e.source, attempt: e.attempt, minDelayMs: e.minDelayMs, maxDelayMs: e.maxDelayMs },
        `${pair}: next attempt to ${e.source} in ${e.minDelayMs}..${e.maxDelayMs} ms`);
    }
    case 'heartbeat': {
      const e = payload as Payload<'heartbeat'>;
      return log.debug({ pair, endpoint: e.source, rttMs: e.rttMs }, `${pair}: heartbeat of ${e.source} answered in ${e.rttMs.toFixed(2)} ms`);
    }
    case 'breaker': {
      const e = payload as Payload<'breaker'>;
      const fields = { pair, endpoint: e.source, breaker: e.state, at: e.timestamp };
      if (e.state === 'open') return log.warn(fields, `${pair}: circuit breaker of ${e.source} opened: attempts fail fast until a re-probe`);
      return log.info(fields, `${pair}: circuit breaker of ${e.source} is ${e.state}`);
    }
  }
}
