import type { EventEmitter } from 'node:events';
import { TServerHaError } from '../base-error.js';
import type { PairEventRecord } from './events.js';

/**
 * An `events()` iterator fell more than `maxBuffered` events behind (`ERR_EVENTS_OVERFLOW`): it ends with
 * this error instead of buffering without bound. Other listeners and iterators are not affected.
 */
export class EventsOverflowError extends TServerHaError {
  override name = 'EventsOverflowError';
  constructor(readonly maxBuffered: number) {
    super('ERR_EVENTS_OVERFLOW', `an events() consumer fell ${maxBuffered} events behind; it was ended so that memory stays bounded`);
  }
}

/** Default bound of one `events()` iterator's backlog. */
export const DEFAULT_MAX_BUFFERED = 10_000;

const DONE: IteratorReturnResult<undefined> = Object.freeze({ value: undefined, done: true });

/**
 * Every event emitted to `key` (name, payload), in order, until `signal` aborts (events already buffered
 * are yielded first). A consumer that falls `maxBuffered` events behind gets {@link EventsOverflowError}:
 * the switch cannot be paused, so the alternative would be unbounded memory or silent loss.
 *
 * Written as an iterator object rather than an async generator: a buffered event is handed over with one
 * already-resolved promise, without a generator's extra turns — the iterator costs about what a listener
 * costs (bench:pair).
 */
export class EventStream implements AsyncIterableIterator<PairEventRecord> {
  private types: string[] = [];
  private datas: unknown[] = [];
  private head = 0;
  private failure: EventsOverflowError | undefined;
  private waiter: ((r: IteratorResult<PairEventRecord>) => void) | undefined;
  private finished = false;
  private readonly onEvent = (type: string, data: unknown): void => {
    if (this.failure || this.finished) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w({ value: { type, data } as PairEventRecord, done: false });
      return;
    }
    if (this.types.length - this.head >= this.maxBuffered) {
      this.failure = new EventsOverflowError(this.maxBuffered);
      this.emitter.off(this.key, this.onEvent);
      return;
    }
    this.types.push(type);
    this.datas.push(data);
  };
  private readonly onAbort = (): void => {
    if (this.head < this.types.length || this.failure) return; // drained first by next()
    this.end();
  };

  constructor(
    private readonly emitter: EventEmitter,
    private readonly key: symbol,
    /**
     * Any of these aborting ends the iterator. A list, not `AbortSignal.any()`: a composite made from the
     * pair's lifetime signal stays referenced by it until the pair ends — one per `events()` call.
     */
    private readonly signals: readonly AbortSignal[],
    private readonly maxBuffered: number,
  ) {
    if (this.aborted()) {
      this.finished = true;
      return;
    }
    emitter.on(key, this.onEvent);
    for (const s of signals) s.addEventListener('abort', this.onAbort, { once: true });
  }

  private aborted(): boolean {
    for (const s of this.signals) if (s.aborted) return true;
    return false;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<PairEventRecord>> {
    if (this.head < this.types.length) {
      const r: IteratorResult<PairEventRecord> = { value: { type: this.types[this.head], data: this.datas[this.head] } as PairEventRecord, done: false };
      this.datas[this.head++] = undefined;
      if (this.head === this.types.length) {
        this.types.length = 0;
        this.datas.length = 0;
        this.head = 0;
      } else if (this.head >= 1024 && this.head * 2 >= this.types.length) {
        this.types = this.types.slice(this.head);
        this.datas = this.datas.slice(this.head);
        this.head = 0;
      }
      return Promise.resolve(r);
    }
    if (this.failure) {
      const err = this.failure;
      this.end();
      return Promise.reject(err);
    }
    if (this.finished || this.aborted()) {
      this.end();
      return Promise.resolve(DONE);
    }
    return new Promise((resolve) => (this.waiter = resolve));
  }

  /** `break` out of `for await`: stop listening. */
  return(): Promise<IteratorResult<PairEventRecord>> {
    this.end();
    return Promise.resolve(DONE);
  }

  throw(err?: unknown): Promise<IteratorResult<PairEventRecord>> {
    this.end();
    return Promise.reject(err);
  }

  private end(): void {
    if (!this.finished) {
      this.finished = true;
      this.emitter.off(this.key, this.onEvent);
      for (const s of this.signals) s.removeEventListener('abort', this.onAbort);
    }
    this.types.length = 0;
    this.datas.length = 0;
    this.head = 0;
    const w = this.waiter;
    this.waiter = undefined;
    w?.(DONE);
  }
}
