/**
 * Every error this package throws or emits is a {@link TServerHaError} with a stable `code`.
 * docs/semantics.md lists the codes and when each happens.
 */
export { ProtocolError, type ProtocolErrorCode } from './protocol/errors.js';

/** Base class: `code` is stable and meant for `switch`; the message is for people. */
export class TServerHaError extends Error {
  override name = 'TServerHaError';
  readonly code: string;
  /** True when the same operation may succeed if tried again (for example on the new primary). */
  readonly retryable: boolean;
  constructor(code: string, message: string, options?: { cause?: unknown; retryable?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options?.retryable ?? false;
  }
}

/** Invalid options given to a constructor or function (`ERR_INVALID_CONFIG`). */
export class ConfigError extends TServerHaError {
  override name = 'ConfigError';
  constructor(message: string) {
    super('ERR_INVALID_CONFIG', message);
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
