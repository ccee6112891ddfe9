/** Base class of every error this package throws or emits: `code` is stable and meant for `switch`. */
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
