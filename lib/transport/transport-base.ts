/**
 * The lifecycle every transport shares, written once. Modelled on undici's `DispatcherBase` (the base owns
 * the public lifecycle and its guards, subclasses supply `[kClose]`/`[kDestroy]`): the transports had each
 * written their own state machine, connect promise, deadline, close waiters and `close` event, and a rule
 * fixed in one (close while connecting, destroy during an orderly close) had to be found and fixed in the
 * other. What differs between them — where the socket lives and how it ends — is a hook.
 */
import { EventEmitter } from 'node:events';
import { monotonicMs } from '../clock.js';
import { TransportError } from '../errors.js';
import type { ProtocolError } from '../protocol/errors.js';
import { validateTransportOptions, type ValidatedTransportOptions } from './transport-options.js';
import type {
  CloseInfo, CloseReason, ReleaseResult, Transport, TransportEvents, TransportOptions, TransportTimestamps, WindowOptions,
} from './types.js';

/**
 * Where a transport is in its life: `idle` → `connecting` → `open` → `closing` → `closed`, with `closed`
 * reachable from every state. Only {@link TransportBase} moves it.
 */
export type TransportState = 'idle' | 'connecting' | 'open' | 'closing' | 'closed';

/**
 * How long an orderly close waits for queued writes to drain and for the peer's FIN before it aborts. The
 * native I/O thread keeps the same bound itself (native/addon/io_conn.cc `kCloseFlushMs`).
 */
export const CLOSE_GRACE_MS = 2000;

/**
 * Base of a {@link Transport}: owns the state machine and its guards, the connect promise and the connect
 * deadline, `close()`/`destroy()` and their waiters, the close grace deadline, the timestamps, option
 * validation (transport-options.ts), and the `connect` and `close` events (each at most once, `close`
 * exactly once, with its {@link CloseInfo}). A subclass implements its I/O through the protected hooks
 * and reports back with {@link TransportBase.opened} and {@link TransportBase.finish}; its hot path (reads,
 * `send()`, ADDP, the hold window) stays its own and reads {@link TransportBase.state} as a plain field.
 */
export abstract class TransportBase extends EventEmitter<TransportEvents> implements Transport {
  abstract readonly kind: string;
  /** @internal The options as given (TLS options keep their non-enumerable secrets: lib/config.ts). */
  protected readonly opts: TransportOptions;
  /** @internal The options checked, every default filled in. */
  protected readonly valid: ValidatedTransportOptions;
  /** @internal */
  protected readonly ts: TransportTimestamps = { connectStartAt: 0 };
  /**
   * Read freely (a plain field, for the per-frame checks of the hot path); assigned only by this class, so
   * that every transition passes the same guards.
   * @internal
   */
  protected state: TransportState = 'idle';
  /**
   * Bytes of the frames `send()` accepted on this connection (CloseInfo.outbound.sent); counted by the subclass.
   * @internal
   */
  protected sentBytes = 0;
  /**
   * How long an orderly close may take before the base aborts it, ms; 0 when the I/O bounds it itself (the
   * native thread, which owns the socket and its timer).
   * @internal
   */
  protected abstract readonly closeGraceMs: number;
  private connectPromise: Promise<void> | null = null;
  private connectSettle: { resolve: () => void; reject: (e: Error) => void } | null = null;
  private closeWaiters: Array<() => void> = [];
  private connectTimer: NodeJS.Timeout | null = null;
  private closeTimer: NodeJS.Timeout | null = null;

  /** Throws ConfigError for bad options; `validateAs` picks the defaults and the TLS rule of that kind. */
  protected constructor(options: TransportOptions, validateAs: 'native' | 'node') {
    super();
    this.valid = validateTransportOptions(options, validateAs);
    this.opts = options;
  }

  abstract send(frame: Uint8Array): void;
  abstract hold(window: WindowOptions): void;
  abstract release(afterSeq: number): Promise<ReleaseResult>;

  /**
   * Start the connection attempt. The state is `connecting`, `connectStartAt` taken and the connect deadline
   * armed. Report the outcome with {@link opened} or {@link finish} (synchronously is allowed).
   * @internal
   */
  protected abstract startConnect(): void;

  /**
   * Begin the orderly close of an open connection (state already `closing`); call `finish('local')` when it is done.
   * @internal
   */
  protected abstract closeGracefully(): void;

  /**
   * End the connection attempt or the connection now, abortively when `abort` (RST once established). True
   * when the I/O is gone and the base may finish `local` at once; false when the subclass calls
   * `finish('local')` once its I/O confirms (the state is then `closing` until it does).
   * @internal
   */
  protected abstract endIo(abort: boolean): boolean;

  /**
   * The connection is over (state `closed`, the connect promise settled, `close` not yet emitted): drop
   * per-connection state and settle whatever still waits on the I/O.
   * @internal
   */
  protected abstract onClosed(reason: CloseReason): void;

  /**
   * How many bytes of the frames `send()` accepted the kernel had taken when the loss was detected, or -1
   * where the transport cannot know (CloseInfo.outbound is then absent). Asked only of a connection that opened.
   * @internal
   */
  protected abstract flushedAtClose(): number;

  get timestamps(): Readonly<TransportTimestamps> {
    return this.ts;
  }

  get connected(): boolean {
    return this.state === 'open';
  }

  /**
   * Start connecting; resolves on `connect`, rejects with the TransportError that ended the attempt. One
   * attempt per transport: called again, the same promise; after a close, `ERR_TRANSPORT_CLOSED`.
   */
  connect(): Promise<void> {
    if (this.state === 'closed' || this.state === 'closing') return Promise.reject(new TransportError('ERR_TRANSPORT_CLOSED', 'transport is closed'));
    // Connecting or open: the one attempt this transport makes.
    if (this.connectPromise) return this.connectPromise;
    this.state = 'connecting';
    this.ts.connectStartAt = monotonicMs();
    this.connectPromise = new Promise<void>((resolve, reject) => {
      this.connectSettle = { resolve, reject };
    });
    // Armed before the attempt starts: an attempt that fails synchronously finishes, which clears it.
    this.connectTimer = setTimeout(() => this.onConnectDeadline(), this.valid.connectTimeoutMs);
    this.startConnect();
    return this.connectPromise;
  }

  /**
   * Orderly close (flush queued writes, FIN), bounded by the close grace; while connecting, the attempt is
   * dropped. Resolves after `close` (at once when already closed).
   */
  close(): Promise<void> {
    if (this.state === 'closed') return Promise.resolve();
    const done = this.whenClosed();
    if (this.state === 'idle') {
      this.finish('local');
    } else if (this.state === 'connecting') {
      this.end(false);
    } else if (this.state === 'open') {
      this.state = 'closing';
      // Armed before the close starts: a close that fails synchronously finishes, which clears it.
      if (this.closeGraceMs > 0) {
        this.closeTimer = setTimeout(() => {
          this.closeTimer = null;
          this.end(true);
        }, this.closeGraceMs);
      }
      this.closeGracefully();
    }
    // closing: the close under way settles this one too.
    return done;
  }

  /**
   * Abortive close (RST via SO_LINGER 0), also of an orderly close under way. Resolves after `close` (at
   * once when already closed).
   */
  destroy(): Promise<void> {
    if (this.state === 'closed') return Promise.resolve();
    const done = this.whenClosed();
    if (this.state === 'idle') this.finish('local');
    else this.end(true);
    return done;
  }

  /** @internal Throws what `send()` throws for a transport that is not open, or else for a frame that is not bytes. */
  protected refuseSend(): never {
    if (this.state !== 'open') throw new TransportError('ERR_TRANSPORT_CLOSED', `cannot send: transport is ${this.state === 'idle' ? 'not connected' : this.state}`);
    throw new TypeError('send() takes an encoded frame (Uint8Array)');
  }

  /**
   * The I/O takes over the rest of the connect deadline (the native thread, where the attempt can be
   * cancelled): the base's timer stops.
   * @internal
   */
  protected stopConnectDeadline(): void {
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = null;
  }

  /**
   * The connection is open at `at` (monotonic ms): resolves `connect()` and emits `connect`. Set up what
   * must run before a `connect` listener can close it (read handlers, ADDP) before calling this. False when
   * the attempt was already given up.
   * @internal
   */
  protected opened(at: number): boolean {
    if (this.state !== 'connecting') return false;
    this.stopConnectDeadline();
    this.state = 'open';
    this.ts.connectedAt = at;
    this.connectSettle?.resolve();
    this.connectSettle = null;
    this.emit('connect', at);
    return true;
  }

  /**
   * The end of the connection or of the attempt, once: state `closed`, timers stopped, `connect()` rejected
   * if pending (with `error` when it is a TransportError), then `close` and the close waiters. A subclass
   * that knows when the loss was detected or the connection closed sets `lossDetectedAt`/`closedAt` first.
   * @internal
   */
  protected finish(reason: CloseReason, error?: TransportError | ProtocolError): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.stopConnectDeadline();
    if (this.closeTimer) clearTimeout(this.closeTimer);
    this.closeTimer = null;
    this.ts.closedAt ??= monotonicMs();
    if (this.connectSettle) {
      const e = error instanceof TransportError ? error
        : new TransportError(reason === 'local' ? 'ERR_TRANSPORT_CLOSED' : 'ERR_SOCKET', reason === 'local' ? 'closed before the connection opened' : String(error?.message), { cause: error });
      this.connectSettle.reject(e);
      this.connectSettle = null;
    }
    this.onClosed(reason);
    const info: CloseInfo = { reason, timestamps: { ...this.ts } };
    if (error) info.error = error;
    if (this.ts.connectedAt !== undefined) {
      const flushed = this.flushedAtClose();
      if (flushed >= 0) info.outbound = { sent: this.sentBytes, flushed: Math.min(this.sentBytes, flushed) };
    }
    this.emit('close', info);
    for (const w of this.closeWaiters.splice(0)) w();
  }

  private whenClosed(): Promise<void> {
    return new Promise((resolve) => this.closeWaiters.push(resolve));
  }

  /** Our own end of a transport that started: at once, or `closing` until the I/O confirms. */
  private end(abort: boolean): void {
    if (this.endIo(abort)) this.finish('local');
    else if (this.state !== 'closed') this.state = 'closing';
  }

  private onConnectDeadline(): void {
    this.connectTimer = null;
    if (this.state !== 'connecting') return;
    const { host, port } = this.opts;
    const error = new TransportError('ERR_CONNECT_TIMEOUT', `no connection to ${host}:${port} within ${this.valid.connectTimeoutMs} ms`);
    this.ts.lossDetectedAt = monotonicMs();
    this.endIo(true);
    this.finish('connect-timeout', error);
  }
}
