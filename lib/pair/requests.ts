import { AbortedError, ClosedError, QueueFullError, RequestTimeoutError, SwitchoverError, TransportError, type TServerHaError } from '../errors.js';
import type { Endpoint } from '../endpoint/endpoint.js';
import type { MessageFrame } from '../protocol/types.js';

/** Options of `pair.request()`. */
export interface RequestOptions {
  /** Deadline; the promise settles before it. Default: the pair's `requestTimeoutMs`. */
  timeoutMs?: number;
  /**
   * Safe to run twice. A request sent to a server that was lost before answering is then re-sent once on
   * the new primary instead of failing with SwitchoverError.
   */
  idempotent?: boolean;
  /** Abort: the promise rejects with AbortedError (a request already sent may still run on the server). */
  signal?: AbortSignal;
}

interface Entry {
  ref: number;
  name: string;
  bytes: Uint8Array;
  idempotent: boolean;
  timeoutMs: number;
  resent: boolean;
  sentTo: Endpoint | undefined;
  /** Written to some server at least once: it may have run there. */
  everSent: boolean;
  timer: NodeJS.Timeout;
  resolve(frame: MessageFrame): void;
  reject(err: Error): void;
  unlisten: (() => void) | undefined;
}

/**
 * Every request of a pair from submission to settlement. Three places a request can be: queued (never
 * sent: waits for a usable primary), in flight on one endpoint, or settled. The rules of
 * docs/semantics.md live here: never-sent requests go to the next primary, sent-unanswered ones fail
 * with SwitchoverError unless idempotent (then re-sent once), and every promise settles by its deadline.
 */
export class RequestBook {
  private readonly queue: Entry[] = [];
  private readonly live = new Set<Entry>();

  constructor(private readonly limit: number) {}

  /** Requests not yet settled. */
  get size(): number {
    return this.live.size;
  }

  /** Requests waiting for a usable server. */
  get queued(): number {
    let n = 0;
    for (const e of this.queue) if (this.live.has(e)) n++;
    return n;
  }

  submit(ref: number, name: string, bytes: Uint8Array, opts: Required<Omit<RequestOptions, 'signal'>> & { signal?: AbortSignal }, target: Endpoint | undefined): Promise<MessageFrame> {
    if (this.live.size >= this.limit) return Promise.reject(new QueueFullError(this.limit));
    if (opts.signal?.aborted) return Promise.reject(new AbortedError(name, opts.signal.reason));
    return new Promise<MessageFrame>((resolve, reject) => {
      const e: Entry = {
        ref, name, bytes, idempotent: opts.idempotent, timeoutMs: opts.timeoutMs, resent: false, sentTo: undefined, everSent: false,
        timer: setTimeout(() => this.fail(e, new RequestTimeoutError(name, opts.timeoutMs, e.everSent)), opts.timeoutMs),
        resolve, reject, unlisten: undefined,
      };
      if (opts.signal) {
        const signal = opts.signal;
        const onAbort = () => this.fail(e, new AbortedError(name, signal.reason));
        signal.addEventListener('abort', onAbort, { once: true });
        e.unlisten = () => signal.removeEventListener('abort', onAbort);
      }
      this.live.add(e);
      // Behind anything already queued (a re-queued idempotent request goes first), never ahead of it.
      if (target && this.queue.length === 0 && this.trySend(e, target)) return;
      this.queue.push(e);
      if (target) this.dispatch(target);
    });
  }

  /** Send every queued request, in order, to `target` (the new active endpoint). */
  dispatch(target: Endpoint): void {
    while (this.queue.length > 0) {
      const e = this.queue[0]!;
      // Settled while queued (deadline, abort) or already sent again: dropped lazily here, so settling
      // stays O(1) and nothing is written twice.
      if (this.live.has(e) && e.sentTo === undefined && !this.trySend(e, target)) return;
      this.queue.shift();
    }
  }

  /** Reject everything (pair closed). */
  rejectAll(err: TServerHaError = new ClosedError()): void {
    for (const e of [...this.live]) this.fail(e, err);
  }

  private trySend(e: Entry, target: Endpoint): boolean {
    // Marked before the write: a write can close the connection synchronously and settle this entry as
    // lost (re-queue or SwitchoverError) before send() returns.
    const everSent = e.everSent;
    e.sentTo = target;
    e.everSent = true;
    try {
      target.send(e.ref, e.bytes, {
        name: e.name,
        settle: (result, lost) => {
          if (!this.live.has(e)) return;
          if (!lost) {
            if (result instanceof Error) this.fail(e, result);
            else this.succeed(e, result);
            return;
          }
          e.sentTo = undefined;
          if (e.idempotent && !e.resent) {
            // Safe to repeat: back to the front of the queue, ahead of requests submitted later.
            e.resent = true;
            this.queue.unshift(e);
          } else {
            this.fail(e, new SwitchoverError(e.name, target.label, result));
          }
        },
      });
      return true;
    } catch (err) {
      e.sentTo = undefined;
      e.everSent = everSent;
      if (err instanceof TransportError) return false; // endpoint went away under us: keep it queued
      this.fail(e, err as Error);
      return true;
    }
  }

  private done(e: Entry): boolean {
    if (!this.live.delete(e)) return false;
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
