/**
 * Every error this package throws or emits is a {@link TServerHaError} with a stable `code`.
 * docs/semantics.md lists the codes and when each happens.
 */
export { ProtocolError, type ProtocolErrorCode } from './protocol/errors.js';

export { TServerHaError } from './base-error.js';
import { TServerHaError } from './base-error.js';

/** Invalid options given to a constructor or function (`ERR_INVALID_CONFIG`). */
export class ConfigError extends TServerHaError {
  override name = 'ConfigError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_INVALID_CONFIG', message, options);
  }
}

/**
 * `open()` found no usable server within `openTimeoutMs` (`ERR_OPEN_TIMEOUT`; the pair is closed). Like
 * the MongoDB driver's server-selection error, it says why: `cause` is the most recent error of either
 * endpoint, `endpoints` each endpoint's state and last error.
 */
export class OpenTimeoutError extends TServerHaError {
  override name = 'OpenTimeoutError';
  constructor(
    pair: string,
    timeoutMs: number,
    /** Per endpoint: its state, role and link when the deadline passed, and its last error (null: none). */
    readonly endpoints: Record<'primary' | 'backup', { address: string; state: string; role: string; link: string; lastError: Error | null }>,
    cause: Error | undefined,
  ) {
    const each = (['primary', 'backup'] as const).map((n) => {
      const e = endpoints[n];
      return `${n} (${e.address}): ${e.state}, role ${e.role}, link ${e.link}${e.lastError ? `, last error: ${e.lastError.message}` : ''}`;
    });
    super('ERR_OPEN_TIMEOUT', `no usable server in ${pair} within ${timeoutMs} ms; ${each.join('; ')}`, { cause, retryable: true });
  }
}

/** Codes of {@link TransportError}. */
export type TransportErrorCode =
  | 'ERR_CONNECT_TIMEOUT'
  | 'ERR_CONNECT_REFUSED'
  | 'ERR_TRANSPORT_CLOSED'
  | 'ERR_ADDP_TIMEOUT'
  | 'ERR_PEER_CLOSED'
  | 'ERR_PEER_RESET'
  | 'ERR_QUEUE_OVERFLOW'
  | 'ERR_SOCKET';

/** A connection-level failure of one transport. */
export class TransportError extends TServerHaError {
  override name = 'TransportError';
  declare readonly code: TransportErrorCode;
  /** errno name from the OS when there was one (ECONNREFUSED, ETIMEDOUT, …). */
  readonly syscallCode: string | undefined;
  constructor(code: TransportErrorCode, message: string, options?: { cause?: unknown; syscallCode?: string }) {
    super(code, message, { cause: options?.cause, retryable: true });
    this.syscallCode = options?.syscallCode;
  }
}

/** A request got no reply before its deadline (`ERR_REQUEST_TIMEOUT`). Retryable: the server may be slow. */
export class RequestTimeoutError extends TServerHaError {
  override name = 'RequestTimeoutError';
  constructor(
    readonly request: string,
    readonly timeoutMs: number,
    /** Whether the request had been written to a server (it may have been processed). */
    readonly sent: boolean,
  ) {
    super('ERR_REQUEST_TIMEOUT', `${request} got no reply within ${timeoutMs} ms (${sent ? 'sent, outcome unknown' : 'never sent: no usable server'})`, { retryable: true });
  }
}

/**
 * The server a request was sent to was lost (or stopped being primary) before it answered, and the request
 * was not marked idempotent, so it was not re-sent (`ERR_SWITCHOVER`). The server may or may not have
 * processed it; retry if that is safe for the application.
 */
export class SwitchoverError extends TServerHaError {
  override name = 'SwitchoverError';
  constructor(
    readonly request: string,
    readonly endpoint: string,
    cause?: unknown,
    /** What else is known: e.g. the answer to a repeat that could not tell whether the first attempt ran. */
    readonly detail?: string,
  ) {
    super('ERR_SWITCHOVER', `${request} was sent to ${endpoint}, which was lost before it answered${detail ? `; ${detail}` : ''}`, { cause, retryable: true });
  }
}

/**
 * A route request put in doubt by a failover, whose call the event stream showed at another destination
 * (`ERR_CALL_ELSEWHERE`): not routed by this request — e.g. it reached its route timeout and went to its
 * default destination, or another router moved it. The switch's answer to the repeat is the `cause`.
 */
export class CallElsewhereError extends TServerHaError {
  override name = 'CallElsewhereError';
  constructor(readonly request: string, readonly arrivedAt: string, readonly destination: string, cause: unknown) {
    super('ERR_CALL_ELSEWHERE', `${request}: the call went to ${arrivedAt}, not to ${destination}: not routed by this request`, { cause });
  }
}

/** The server answered a request with EventError (`ERR_SERVER`); `errorCode`/`errorMessage` are the server's. */
export class ServerError extends TServerHaError {
  override name = 'ServerError';
  constructor(
    readonly request: string,
    /** The server's ErrorCode attribute. */
    readonly errorCode: number,
    /** The server's ErrorMessage attribute. */
    readonly errorMessage: string,
    /** The EventError frame itself, when the error came from one. */
    readonly reply?: import('./protocol/types.js').MessageFrame,
  ) {
    super('ERR_SERVER', `${request} failed on the server: ${errorMessage} (ErrorCode ${errorCode})`);
  }
}

/** The pair was closed, or not opened yet (`ERR_CLOSED`). */
export class ClosedError extends TServerHaError {
  override name = 'ClosedError';
  constructor(message = 'the pair is closed') {
    super('ERR_CLOSED', message);
  }
}

/** The caller's AbortSignal fired (`ERR_ABORTED`); `cause` is the signal's reason. */
export class AbortedError extends TServerHaError {
  override name = 'AbortedError';
  constructor(what: string, reason: unknown) {
    super('ERR_ABORTED', `${what} was aborted`, { cause: reason });
  }
}

/** Too many requests waiting for a usable server (`ERR_QUEUE_FULL`): `maxPendingRequests` reached. */
export class QueueFullError extends TServerHaError {
  override name = 'QueueFullError';
  constructor(limit: number) {
    super('ERR_QUEUE_FULL', `${limit} requests are already pending; refusing more (maxPendingRequests)`, { retryable: true });
  }
}

/** The handshake with a server failed or timed out (`ERR_HANDSHAKE`). */
export class HandshakeError extends TServerHaError {
  override name = 'HandshakeError';
  constructor(
    endpoint: string,
    detail: string,
    cause?: unknown,
    /** The server said nothing: our deadline or our heartbeat ended the handshake (an outage, not a failure of the server's). */
    readonly unanswered = false,
  ) {
    super('ERR_HANDSHAKE', `handshake with ${endpoint} failed: ${detail}`, { cause, retryable: true });
  }
}

/** An endpoint's circuit breaker is open: it failed too often recently (`ERR_BREAKER_OPEN`). */
export class BreakerOpenError extends TServerHaError {
  override name = 'BreakerOpenError';
  constructor(endpoint: string) {
    super('ERR_BREAKER_OPEN', `circuit breaker for ${endpoint} is open`, { retryable: true });
  }
}

/**
 * An optional peer dependency a feature needs is not installed (`ERR_MISSING_DEPENDENCY`): for example
 * prom-client for `tserver-ha/metrics`. The message says what to install; `cause` is the resolver's error.
 */
export class MissingDependencyError extends TServerHaError {
  override name = 'MissingDependencyError';
  constructor(
    /** The npm package that is missing. */
    readonly dependency: string,
    /** What needs it, e.g. `tserver-ha/metrics`. */
    feature: string,
    cause?: unknown,
  ) {
    super('ERR_MISSING_DEPENDENCY', `${feature} needs the optional peer dependency ${dependency}, which is not installed: run \`npm install ${dependency}\``, { cause });
  }
}
