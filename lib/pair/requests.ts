import { AbortedError, ClosedError, ConfigError, QueueFullError, RequestTimeoutError, SwitchoverError, TransportError, type TServerHaError } from '../errors.js';
import type { Endpoint } from '../endpoint/endpoint.js';
import type { MessageFrame } from '../protocol/types.js';

/** Options of `pair.request()`. */
export interface RequestOptions {
  /**
   * Deadline in ms; the promise settles before it. An integer in [1, 2³¹−1] (Node's timer limit: a longer
   * one would fire at once): anything else rejects with ConfigError. Default: the pair's `requestTimeoutMs`.
   */
  timeoutMs?: number;
  /**
   * Safe to run twice. A request sent to a server that was lost before answering is then re-sent once on
   * the new primary instead of failing with SwitchoverError.
   */
  idempotent?: boolean;
  /** Abort: the promise rejects with AbortedError (a request already sent may still run on the server). */
  signal?: AbortSignal;
}

/** The longest deadline a Node timer can keep (2³¹−1 ms, ~24.8 days). */
export const MAX_TIMEOUT_MS = 0x7fffffff;

/** Validate a deadline given per call (config deadlines are validated with the options). */
export function checkTimeout(name: string, ms: unknown): number {
  if (typeof ms !== 'number' || !Number.isInteger(ms) || ms < 1 || ms > MAX_TIMEOUT_MS) {
    throw new ConfigError(`option ${name} must be an integer number of ms in [1, ${MAX_TIMEOUT_MS}], got ${String(ms)}`);
  }
  return ms;
}

interface Entry {
  /** Submission order: queued requests go out in this order, re-sent ones included. */
  readonly order: number;
  ref: number;
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly idempotent: boolean;
  resent: boolean;
  sentTo: Endpoint | undefined;
  /** Written to some server at least once: it may have run there. */
  everSent: boolean;
  timer: NodeJS.Timeout | undefined;
  resolve(frame: MessageFrame): void;
  reject(err: Error): void;
  unlisten: (() => void) | undefined;
}

/**
 * Every request of a pair from submission to settlement. Three places a request can be: queued (never
 * sent, or to be re-sent: waits for a usable primary), in flight on one endpoint, or settled — and a settled
 * one is in neither of the first two (no lazy clean-up: an outage with many timed-out requests leaves
 * nothing behind). The rules of docs/semantics.md live here: queued requests go to the next primary in
 * submission order, sent-unanswered ones fail with SwitchoverError unless idempotent (then re-sent once),
 * and every promise settles by its deadline.
 */
export class RequestBook {
  /** Unsettled requests (queued or in flight). */
  private readonly live = new Set<Entry>();
  /** Queued requests in submission order (a Map keeps insertion order and deletes in O(1)). */
  private queue = new Map<Entry, true>();
  /** Lost requests to re-send, merged into `queue` in submission order before the next send. */
  private readonly requeued = new Set<Entry>();
  private submitted = 0;

  constructor(private readonly limit: number) {}

  /** Requests not yet settled. */
  get size(): number {
    return this.live.size;
  }

  /** Requests waiting for a usable server. */
  get queued(): number {
    return this.queue.size + this.requeued.size;
  }

  /** Sizes of every internal structure, for bound checks (check:sim). */
  internals(): { live: number; queue: number; requeued: number } {
    return { live: this.live.size, queue: this.queue.size, requeued: this.requeued.size };
  }

  submit(ref: number, name: string, bytes: Uint8Array, opts: { timeoutMs: number; idempotent: boolean; signal?: AbortSignal }, target: Endpoint | undefined): Promise<MessageFrame> {
    if (this.live.size >= this.limit) return Promise.reject(new QueueFullError(this.limit));
    if (opts.signal?.aborted) return Promise.reject(new AbortedError(name, opts.signal.reason));
    return new Promise<MessageFrame>((resolve, reject) => {
      const e: Entry = {
        order: this.submitted++, ref, name, bytes, idempotent: opts.idempotent, resent: false, sentTo: undefined, everSent: false,
        timer: undefined, resolve, reject, unlisten: undefined,
      };
      e.timer = setTimeout(() => this.fail(e, new RequestTimeoutError(name, opts.timeoutMs, e.everSent)), opts.timeoutMs);
      if (opts.signal) {
        const signal = opts.signal;
        const onAbort = () => this.fail(e, new AbortedError(name, signal.reason));
        signal.addEventListener('abort', onAbort, { once: true });
        e.unlisten = () => signal.removeEventListener('abort', onAbort);
      }
      this.live.add(e);
      this.queue.set(e, true);
      // Behind anything already queued, never ahead of it.
      if (target) this.dispatch(target);
    });
  }

  /** Send every queued request, in submission order, to `target` (the active endpoint). */
  dispatch(target: Endpoint): void {
    for (;;) {
      const e = this.first();
      if (!e) return;
      // Out of the queue before the write: a write can close the connection synchronously, and the loss
      // it reports may re-queue requests (this one included) while we are still here.
      this.queue.delete(e);
      if (!this.trySend(e, target)) {
        // The endpoint went away under us: put it back (unless the loss already settled or re-queued it).
        if (this.live.has(e) && e.sentTo === undefined) this.enqueue([e]);
        return;
      }
    }
  }

  /** Reject everything (pair closed). */
  rejectAll(err: TServerHaError = new ClosedError()): void {
    for (const e of [...this.live]) this.fail(e, err);
  }

  private first(): Entry | undefined {
    if (this.requeued.size > 0) {
      // One merge per batch of losses (a connection lost with many calls re-queues them one by one).
      const all = [...this.queue.keys(), ...this.requeued].sort((a, b) => a.order - b.order);
      this.requeued.clear();
      this.queue = new Map(all.map((e) => [e, true]));
    }
    for (const e of this.queue.keys()) return e;
    return undefined;
  }

  /** Queue entries again; they take their submission place before the next send. */
  private enqueue(entries: Entry[]): void {
    for (const e of entries) if (!this.queue.has(e)) this.requeued.add(e);
  }

  private trySend(e: Entry, target: Endpoint): boolean {
    // Marked before the write: a write can close the connection synchronously and settle this entry as
    // lost (re-queue or SwitchoverError) before send() returns.
    const everSent = e.everSent;
    e.sentTo = target;
    e.everSent = true;
    try {
      target.send(e.ref, e.bytes, { name: e.name, settle: (result, lost) => this.onSettle(e, target, result, lost) });
      return true;
    } catch (err) {
      if (e.sentTo === target) e.sentTo = undefined;
      e.everSent = everSent;
      if (err instanceof TransportError) return false;
      this.fail(e, err as Error);
      return true;
    }
  }

  /** What the endpoint said: a reply, a server error, or (lost) the connection went away first. */
  private onSettle(e: Entry, target: Endpoint, result: MessageFrame | TServerHaError, lost: boolean): void {
    if (!this.live.has(e) || e.sentTo !== target) return;
    if (!lost) {
      if (result instanceof Error) this.fail(e, result);
      else this.succeed(e, result);
      return;
    }
    e.sentTo = undefined;
    if (e.idempotent && !e.resent) {
      // Safe to repeat: queued again in its submission place, ahead of requests submitted later. The
      // endpoint settles its calls in the order they were sent, so a batch of them keeps its order too.
      e.resent = true;
      this.enqueue([e]);
    } else {
      this.fail(e, new SwitchoverError(e.name, target.label, result));
    }
  }

  private done(e: Entry): boolean {
    if (!this.live.delete(e)) return false;
    this.queue.delete(e);
    this.requeued.delete(e);
    clearTimeout(e.timer);
    e.unlisten?.();
    e.sentTo?.forget(e.ref);
    return true;
  }

  private succeed(e: Entry, frame: MessageFrame): void {
    if (this.done(e)) e.resolve(frame);
  }

  private fail(e: Entry, err: Error): void {
    if (this.done(e)) e.reject(err);
  }
}
