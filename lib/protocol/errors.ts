import { TServerHaError } from '../base-error.js';

/**
 * Protocol error codes, identical in TypeScript and C++ (native/codec/codec.h, docs/protocol.md).
 * The numeric `errno` is what the native codec reports; the string `code` is what applications match on.
 */
export const ProtocolErrno = {
  ERR_INCOMPLETE: 1,
  ERR_FRAME_TOO_LARGE: 2,
  ERR_FRAME_TOO_SMALL: 3,
  ERR_BAD_VERSION: 4,
  ERR_BAD_KIND: 5,
  ERR_BAD_VALUE_TYPE: 6,
  ERR_TRUNCATED: 7,
  ERR_TRAILING_BYTES: 8,
  ERR_DEPTH_EXCEEDED: 9,
  ERR_INVALID_UTF8: 10,
  ERR_TOO_MANY_ATTRIBUTES: 11,
  ERR_BAD_ADDP: 12,
} as const;

/** A protocol error code string. */
export type ProtocolErrorCode = keyof typeof ProtocolErrno;

const byErrno = new Map<number, ProtocolErrorCode>(
  Object.entries(ProtocolErrno).map(([k, v]) => [v, k as ProtocolErrorCode]),
);

/** Code string for a native errno; throws RangeError for a number the protocol does not define. */
export function protocolCodeOf(errno: number): ProtocolErrorCode {
  const code = byErrno.get(errno);
  if (code === undefined) throw new RangeError(`unknown protocol errno ${errno}`);
  return code;
}

/**
 * A frame that breaks docs/protocol.md. Fatal for the connection it came from: the stream can no longer
 * be trusted.
 */
export class ProtocolError extends TServerHaError {
  override name = 'ProtocolError';
  /** Stable code, e.g. `ERR_TRUNCATED`. */
  declare readonly code: ProtocolErrorCode;
  /** The same code as a number (the native codec's value, and the ErrorCode reported to peers). */
  readonly errno: number;
  /** Byte offset in the input where the bad frame starts, when known. */
  readonly offset: number | undefined;

  constructor(code: ProtocolErrorCode, detail: string, offset?: number) {
    super(code, `${code}: ${detail}`);
    this.errno = ProtocolErrno[code];
    this.offset = offset;
  }
}
