import type { EventEmitter } from 'node:events';
import { TServerHaError } from '../base-error.js';

/**
 * A listener threw (or an async listener's promise rejected). Emitted as the pair's `error` event when it
 * has a listener; otherwise thrown as an uncaught exception on a fresh stack, as from any callback.
 */
export class ListenerError extends TServerHaError {
  override name = 'ListenerError';
  constructor(
    /** The event whose listener threw. */
    readonly event: string,
    cause: unknown,
  ) {
    super('ERR_LISTENER', `a listener of '${event}' threw: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

type Listener = (this: EventEmitter, payload: unknown) => unknown;

/**
 * Emits a pair's public events strictly one after another, in the order they were decided:
 * - while the pair is deciding (`hold()` … `release()`), events queue and go out once the decision is made,
 *   so a listener always sees a consistent pair and can call back into it (close(), request()) without
 *   making events nest or overtake each other;
 * - each listener is called on its own: one that throws does not keep the others — `events()` iterators
 *   included — from receiving the event, and does not change the pair's state; its exception is reported
 *   (see {@link ListenerError}).
 */
export class Outbox {
  // Two parallel queues (no tuple allocated per event).
  private readonly names: string[] = [];
  private readonly payloads: unknown[] = [];
  private head = 0;
  private draining = false;
  private holds = 0;
  /** Listener lists by event, dropped whenever one is added or removed (no array copy per event). */
  private readonly cache = new Map<string | symbol, Listener[]>();

  constructor(
    private readonly target: EventEmitter,
    /** Every event also goes to this symbol's listeners (`events()` iterators), with its name. */
    private readonly all: symbol,
    /** Called when a listener is added or removed (before the change takes effect, as EventEmitter tells it). */
    private readonly changed?: () => void,
  ) {
    this.rehook();
  }

  private readonly forget = (key: string | symbol): void => {
    this.cache.delete(key);
    this.changed?.();
  };

  /**
   * Watch listener changes (again): `removeAllListeners()` removes these hooks too, so the owner calls this
   * after it; the cached lists are dropped either way.
   */
  rehook(): void {
    this.cache.clear();
    for (const ev of ['newListener', 'removeListener'] as const) {
      if (!this.target.rawListeners(ev).includes(this.forget)) this.target.on(ev, this.forget);
    }
  }

  push(name: string, payload: unknown): void {
    this.names.push(name);
    this.payloads.push(payload);
    if (this.holds === 0) this.drain();
  }

  /** Queue without emitting until the matching {@link release}. */
  hold(): void {
    this.holds++;
  }

  release(): void {
    if (--this.holds === 0) this.drain();
  }

  private drain(): void {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.head < this.names.length) {
        const n = this.names[this.head]!;
        const p = this.payloads[this.head];
        this.payloads[this.head++] = undefined;
        if (n !== 'error' || this.target.listenerCount('error') > 0) this.call(n, n, p);
        this.call(this.all, n, p);
      }
    } finally {
      this.names.length = 0;
      this.payloads.length = 0;
      this.head = 0;
      this.draining = false;
    }
  }

  /** Call each listener of `key` separately (rawListeners: `once` wrappers remove themselves). */
  private call(key: string | symbol, name: string, payload: unknown): void {
    let listeners = this.cache.get(key);
    if (!listeners) {
      listeners = this.target.rawListeners(key) as Listener[];
      this.cache.set(key, listeners);
    }
    for (const l of listeners) {
      try {
        const r = key === this.all ? (l as unknown as (n: string, p: unknown) => unknown).call(this.target, name, payload) : l.call(this.target, payload);
        if (r instanceof Promise) r.catch((err: unknown) => this.failed(name, err));
      } catch (err) {
        this.failed(name, err);
      }
    }
  }

  private failed(name: string, err: unknown): void {
    // An `error` listener that throws has nowhere else to go.
    if (name !== 'error' && this.target.listenerCount('error') > 0) {
      this.push('error', new ListenerError(name, err));
      return;
    }
    queueMicrotask(() => {
      throw err;
    });
  }
}
