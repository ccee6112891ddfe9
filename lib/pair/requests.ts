import { show } from '../config.js';
import { AbortedError, CallElsewhereError, ClosedError, ConfigError, QueueFullError, RequestTimeoutError, ServerError, SwitchoverError, TransportError, type TServerHaError } from '../errors.js';
import type { Endpoint } from '../endpoint/endpoint.js';
import type { MessageFrame } from '../protocol/types.js';
import { CallEvidence } from './call-evidence.js';
import { leavesInDoubt, provesNotRun, type Evidence, type RequestOutcome, type RequestRule } from './request-rules.js';

/** The reply a request resolves with, and how it settled (see {@link RequestOutcome}). */
export interface RequestReply extends MessageFrame {
  readonly outcome: RequestOutcome;
}

/** Options of `pair.request()`. */
export interface RequestOptions {
  /**
   * Deadline in ms; the promise settles before it. An integer in [1, 2³¹−1] (Node's timer limit: a longer
   * one would fire at once): anything else rejects with ConfigError. Default: the pair's `requestTimeoutMs`.
   */
  timeoutMs?: number;
  /**
   * Safe to run twice: a request sent to a server that was lost before answering is re-sent on the new
   * primary instead of failing with SwitchoverError. Same as `repeat: true`.
   */
  idempotent?: boolean;
  /**
   * Whether a request in doubt (its server was lost before answering) may be sent again to the next primary.
   * Default: the rule of its kind (docs/semantics.md, "Requests across a failover": RequestRouteCall,
   * registrations and queries are repeated and the answer to the repeat is read by that rule; any other
   * request fails with SwitchoverError). `true`: safe to repeat; `false`: never repeat (opt out).
   */
  repeat?: boolean;
  /** Abort: the promise rejects with AbortedError (a request already sent may still run on the server). */
  signal?: AbortSignal;
}

/** The longest deadline a Node timer can keep (2³¹−1 ms, ~24.8 days). */
export const MAX_TIMEOUT_MS = 0x7fffffff;

/** Validate a deadline given per call (config deadlines are validated with the options). */
export function checkTimeout(name: string, ms: unknown): number {
  if (typeof ms !== 'number' || !Number.isInteger(ms) || ms < 1 || ms > MAX_TIMEOUT_MS) {
    throw new ConfigError(`option ${name} must be an integer number of ms in [1, ${MAX_TIMEOUT_MS}], got ${show(ms)}`);
  }
  return ms;
}

interface Entry {
  /** Submission order: queued requests go out in this order, re-sent ones included. */
  readonly order: number;
  ref: number;
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly rule: RequestRule;
  /** An earlier attempt may have run (its server was lost before answering): the next answer is a repeat's. */
  inDoubt: boolean;
  /** An earlier attempt was refused in a way that proves it did not run (1002, 1003): the next answer is a repeat's. */
  refused: ServerError | undefined;
  /** That refusal's connection: the request waits for another one (another server, or a new session). */
  refusedOn: { ep: Endpoint; gen: number; reportedAt: number } | undefined;
  /** The server lost with this request unanswered (the last one), for SwitchoverError. */
  lostOn: string | undefined;
  /** RequestRouteCall: the call it routes, watched in the event stream while the request is outstanding. */
  readonly call: { connId: bigint; destination: string } | undefined;
  sentTo: Endpoint | undefined;
  /** Written to some server at least once: it may have run there. */
  everSent: boolean;
  timer: NodeJS.Timeout | undefined;
  resolve(frame: RequestReply): void;
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
  /** Requests a server refused before acting (backup, link down): they wait for another connection. */
  private readonly parked = new Set<Entry>();
  /** close({ drain }) waiting for every request to settle. */
  private readonly idleWaiters = new Set<() => void>();
  /** The endpoint requests were last dispatched to (the active one, as far as the book knows). */
  private target: Endpoint | undefined;
  private submitted = 0;

  constructor(
    private readonly limit: number,
    /** What the event stream shows of the calls outstanding route requests are about. */
    readonly evidence: CallEvidence = new CallEvidence(),
  ) {}

  private evidenceOf(e: Entry): Evidence {
    return { destination: e.call?.destination, arrivedAt: e.call ? this.evidence.arrivedAt(e.call.connId) : undefined };
  }

  /** Requests not yet settled. */
  get size(): number {
    return this.live.size;
  }

  /** Requests waiting for a usable server. */
  get queued(): number {
    return this.queue.size + this.requeued.size + this.parked.size;
  }

  /** Sizes of every internal structure, for bound checks (check:sim). */
  internals(): { live: number; queue: number; requeued: number; parked: number } {
    return { live: this.live.size, queue: this.queue.size, requeued: this.requeued.size, parked: this.parked.size };
  }

  /**
   * Whether a call can be taken now — QueueFullError when `maxPendingRequests` are unsettled, AbortedError
   * when its signal already aborted — for a caller that must know before it changes anything.
   */
  checkCanTake(name: string, signal: AbortSignal | undefined): void {
    if (this.live.size >= this.limit) throw new QueueFullError(this.limit);
    if (signal?.aborted) throw new AbortedError(name, signal.reason);
  }

  submit(ref: number, name: string, bytes: Uint8Array, opts: { timeoutMs: number; rule: RequestRule; signal?: AbortSignal; call?: { connId: bigint; destination: string } }, target: Endpoint | undefined): Promise<RequestReply> {
    try {
      this.checkCanTake(name, opts.signal);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<RequestReply>((resolve, reject) => {
      const e: Entry = {
        order: this.submitted++, ref, name, bytes, rule: opts.rule, inDoubt: false, refused: undefined, refusedOn: undefined, lostOn: undefined, sentTo: undefined, everSent: false,
        timer: undefined, resolve, reject, unlisten: undefined, call: opts.call,
      };
      if (opts.call) this.evidence.watch(opts.call.connId);
      // At the deadline, a request that was only ever refused before anything ran fails with that refusal:
      // the truest answer there is (no server could take it in time).
      e.timer = setTimeout(() => this.fail(e, this.deadlineError(e, opts.timeoutMs)), opts.timeoutMs);
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

  /** No server takes requests now: they wait in the queue (sent on the next {@link dispatch}). */
  untarget(): void {
    this.target = undefined;
  }

  /** Send every queued request, in submission order, to `target` (the active endpoint). */
  dispatch(target: Endpoint): void {
    this.target = target;
    if (this.parked.size > 0) {
      // A refused request goes again to any connection but the one that refused it — or to that one once
      // it has reported since that it can take requests (its link back, its promotion).
      for (const e of this.parked) {
        const r = e.refusedOn!;
        if (r.ep !== target || r.gen !== target.generation || target.reportedAt !== r.reportedAt) {
          this.parked.delete(e);
          this.requeued.add(e);
        }
      }
    }
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

  /**
   * Resolves once no request is unsettled, or after `limitMs` (Infinity: no bound beyond the requests' own
   * deadlines, which every request has).
   */
  idle(limitMs: number): Promise<void> {
    if (this.live.size === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        clearTimeout(timer);
        this.idleWaiters.delete(done);
        resolve();
      };
      if (Number.isFinite(limitMs)) timer = setTimeout(done, limitMs);
      this.idleWaiters.add(done);
    });
  }

  /** Reject everything (pair closed). */
  rejectAll(err: TServerHaError = new ClosedError()): void {
    for (const e of [...this.live]) this.fail(e, err);
  }

  /**
   * The truest error at the deadline: a request only ever refused before anything ran fails with that
   * refusal; one a lost server left in doubt (and no answer resolved since) with SwitchoverError; else
   * RequestTimeoutError.
   */
  private deadlineError(e: Entry, timeoutMs: number): Error {
    const timeout = new RequestTimeoutError(e.name, timeoutMs, e.everSent);
    if (e.inDoubt && !e.sentTo) return new SwitchoverError(e.name, e.lostOn ?? 'a server', timeout, `no server could take the repeat within ${timeoutMs} ms`);
    if (e.refused && !e.sentTo) return e.refused;
    return timeout;
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
      target.send(e.ref, e.bytes, { name: e.name, settle: (result, lost, notSent) => this.onSettle(e, target, result, lost, notSent === true) });
      return true;
    } catch (err) {
      if (e.sentTo === target) e.sentTo = undefined;
      e.everSent = everSent;
      if (err instanceof TransportError) return false;
      this.fail(e, err as Error);
      return true;
    }
  }

  /**
   * What the endpoint said: a reply, a server error, or (lost) the connection went away first. The rules
   * of docs/semantics.md, "Requests across a failover", in one place.
   */
  private onSettle(e: Entry, target: Endpoint, result: MessageFrame | TServerHaError, lost: boolean, notSent = false): void {
    if (!this.live.has(e) || e.sentTo !== target) return;
    const gen = target.generation;
    e.sentTo = undefined;
    if (lost && notSent) {
      // Certain not sent (its bytes never all left this process): not in doubt, whatever its kind — it
      // goes to the next primary like any queued request, in its submission place.
      this.enqueue([e]);
      return;
    }
    if (lost) {
      // It may have run. Repeatable: queued again in its submission place, ahead of requests submitted
      // later (the endpoint settles its calls in the order they were sent, so a batch keeps its order),
      // and the answer to the repeat is read by its rule. Else the doubt is the answer.
      e.lostOn = target.label;
      if (e.rule.repeatable) {
        e.inDoubt = true;
        this.enqueue([e]);
      } else {
        this.fail(e, new SwitchoverError(e.name, target.label, result));
      }
      return;
    }
    if (result instanceof ServerError && provesNotRun(result)) {
      // Refused before anything ran: not the final answer while another server may take it in time.
      e.refused = result;
      e.refusedOn = { ep: target, gen, reportedAt: target.reportedAt };
      this.parked.add(e);
      // Requests may already go elsewhere (the refusal crossed the news of the change): send it there now.
      const t = this.target;
      if (t && t.state === 'open' && (t !== target || t.generation !== gen)) this.dispatch(t);
      return;
    }
    if (result instanceof ServerError && leavesInDoubt(result) && e.rule.repeatable) {
      // The server lost the outcome (1205): in doubt as if its connection had been lost — repeated by the
      // rule, on whatever takes requests now (if that is still this server, its answer says how things are).
      e.inDoubt = true;
      e.lostOn = target.label;
      this.enqueue([e]);
      const t = this.target;
      if (t && t.state === 'open') this.dispatch(t);
      return;
    }
    if (e.inDoubt || e.refused) {
      const reading = e.inDoubt ? e.rule.read(result as MessageFrame | ServerError, this.evidenceOf(e)) : null;
      if (reading === null) {
        // Only refusals before: nothing ran then, so this is simply the answer (to a repeat).
        if (result instanceof Error) this.fail(e, result);
        else this.succeed(e, result, 'answered-on-repeat');
      } else if (reading.settle === 'resolve') {
        // A refusal read as "done earlier" resolves with the refusal itself (every ServerError from an
        // endpoint carries its EventError frame).
        const frame = result instanceof ServerError ? result.reply : (result as MessageFrame);
        if (frame) this.succeed(e, frame, reading.outcome);
        else this.fail(e, result as Error);
      } else if (reading.settle === 'reject') {
        const ev = this.evidenceOf(e);
        this.fail(e, ev.arrivedAt !== undefined && ev.arrivedAt !== ev.destination && result instanceof ServerError
          ? new CallElsewhereError(e.name, ev.arrivedAt, ev.destination ?? '', result) : (result as Error));
      } else {
        const answer = result instanceof ServerError ? `the repeat on ${target.label} was answered ${result.errorMessage} (ErrorCode ${result.errorCode}), which cannot tell whether the first attempt ran` : undefined;
        this.fail(e, new SwitchoverError(e.name, e.lostOn ?? target.label, result, answer));
      }
      return;
    }
    if (result instanceof Error) this.fail(e, result);
    else this.succeed(e, result, 'answered');
  }

  private done(e: Entry): boolean {
    if (!this.live.delete(e)) return false;
    if (this.live.size === 0 && this.idleWaiters.size > 0) for (const w of [...this.idleWaiters]) w();
    this.queue.delete(e);
    this.requeued.delete(e);
    this.parked.delete(e);
    if (e.call) this.evidence.unwatch(e.call.connId);
    clearTimeout(e.timer);
    e.unlisten?.();
    e.sentTo?.forget(e.ref);
    return true;
  }

  private succeed(e: Entry, frame: MessageFrame, outcome: RequestOutcome): void {
    if (this.done(e)) e.resolve(Object.assign(frame, { outcome }));
  }

  private fail(e: Entry, err: Error): void {
    if (this.done(e)) e.reject(err);
  }
}

