import { EventEmitter } from 'node:events';
import { gapChannel, switchoverChannel } from '../diagnostics.js';
import { resolvePairOptions, show, type ResolvedPairOptions, type TServerPairOptions } from '../config.js';
import { AbortedError, ClosedError, ConfigError, OpenTimeoutError, SwitchoverError, TransportError, TServerHaError } from '../errors.js';
import { monotonicMs } from '../clock.js';
import { addressAttributes, encodeRequest, Endpoint, type EndpointName, type SessionInfo, type DropReason } from '../endpoint/endpoint.js';
import type { AttributeInput } from '../protocol/encoder.js';
import { MessageType, messageName, type MessageName } from '../protocol/ids.js';
import { encodeMessage } from '../protocol/encoder.js';
import type { Attribute, MessageFrame } from '../protocol/types.js';
import type { CloseInfo, CloseReason, FrameBatch } from '../transport/types.js';
import { admit, DUPLICATE } from './core/admit.js';
import { createCore, step } from './core/step.js';
import type { ConnView, CoreState, Effect, Input } from './core/types.js';
import { EventStream, DEFAULT_MAX_BUFFERED } from './event-stream.js';
import { setEpoch, switchTimeUs } from './tevent.js';
import { TEvent, type PairEventRecord, type PairEvents, type PairState, type SwitchoverReason } from './events.js';
import { Outbox } from './outbox.js';
import { AttemptEvents } from './attempt-events.js';
import { logEvent, requestChannel, type RequestTraceContext } from './observe.js';
import { RequestBook, type RequestOptions, type RequestReply } from './requests.js';
import { callOf, ruleFor } from './request-rules.js';
import { checkCallOptions, checkDrain, checkHealth, checkOptions, checkSignal, type AddressOptions, type CloseOptions, type EventsOptions, type OpenOptions, type PairHealth } from './method-options.js';
export type { AddressOptions, CloseOptions, EventsOptions, OpenOptions, PairHealth } from './method-options.js';
import { ServerEvents } from './server-events.js';
import { endpointStatus, openTimeoutError, pairHealth } from './status.js';
import { Supervisor } from './supervisor.js';

const ALL = Symbol('tserver-ha:all');

function reasonOf(r: CloseReason, dropped: DropReason | undefined): SwitchoverReason {
  if (dropped === 'manual') return 'manual';
  if (dropped === 'not-promoted') return 'role-change';
  return r === 'addp-timeout' ? 'heartbeat-timeout' : r === 'protocol-error' ? 'protocol-error' : 'crash';
}

/** Counters, for dashboards and benchmarks. */
export interface PairStats {
  delivered: number;
  duplicatesDropped: number;
  replayed: number;
  gaps: number;
  switchovers: number;
  /** Replies that arrived after their request had settled (deadline, abort): dropped, never emitted. */
  lateReplies: number;
}

// The decisions live in a pure core (./core/: step(state, input) → effects, and admit per event); this
// class is the shell around it: endpoint callbacks become inputs, effects become I/O, the outbox emits.

/**
 * A primary/backup T-Server pair in warm or hot standby, seen as one stream of events and one place to
 * send requests: events are delivered once, in order, through every failover (or a `gap` says what may be
 * missing), and every request settles with an answer or a typed error by its deadline. The rules it keeps
 * are in the package's docs/semantics.md; options and their defaults in the README.
 *
 * @example
 * ```ts
 * const pair = new TServerPair({ name: 'SIP_Pair', primary: { host: 'ts1', port: 7000 },
 *   backup: { host: 'ts2', port: 7000 }, mode: 'hot', dns: ['7001'] });
 * pair.on('event', (e) => { if (e.Event === 'EventRouteRequest') route(e); });
 * await pair.open();
 * ```
 */
export class TServerPair extends EventEmitter<PairEvents> implements AsyncDisposable {
  /** Options after validation and defaults. */
  readonly options: ResolvedPairOptions;
  private readonly core: CoreState;
  private readonly endpoints: Record<EndpointName, Endpoint>;
  private readonly book: RequestBook;
  private readonly outbox = new Outbox(this, ALL, () => this.listenersChanged());
  private demandCheck = false;
  private readonly dns: Set<string>;
  private readonly lifecycle = new AbortController();
  /** Aborted once close() has finished, after the last events (EventServerDisconnected) were emitted. */
  private readonly ended = new AbortController();
  private readonly supervisor: Supervisor;
  private readonly attempts: AttemptEvents;
  private readonly serverEvents: ServerEvents;
  private refCounter = 0;
  private opened = false;
  private closing: Promise<void> | undefined;
  private readyWaiters: { resolve(): void; reject(e: Error): void }[] = [];
  /** Inputs arriving while effects run (a write that closes its connection) wait their turn here. */
  private readonly inputs: Input[] = [];
  private stepping = false;
  /** While moving delivery: the released window, and live events of the new source that wait behind it. */
  private window: FrameBatch | null = null;
  private held: TEvent[] = [];
  /** Gap effects `admit` returns (reused: admission allocates nothing while nothing is missing). */
  private readonly admitFx: Effect[] = [];
  /** Replies that arrived after their request had settled: a request-layer count, not a core decision. */
  private lateReplies = 0;
  /** close({ drain }) is letting requests settle: no new ones. */
  private draining = false;
  /** Since when (monotonic ms) no server has taken requests, after one had; null while one does. */
  private noActiveSince: number | null = null;
  /** The last event delivered: its switch time orders events across a change of numbering. */
  private lastEvent: TEvent | null = null;
  private timer: NodeJS.Timeout | undefined;

  constructor(options: TServerPairOptions) {
    super();
    this.options = resolvePairOptions(options);
    const o = this.options;
    this.dns = new Set(o.dns);
    this.attempts = new AttemptEvents(o.name, (n, p) => this.outbox.push(n, p), () => this.core.closed);
    this.book = new RequestBook(o.maxPendingRequests);
    this.core = createCore({
      name: o.name, mode: o.mode, switchOnLinkDown: o.switchOnLinkDown, splitBrainGraceMs: o.splitBrainGraceMs, warmBackupWaitMs: o.warmBackupWaitMs, maxHoles: 64,
    });
    const ctx = {
      options: o,
      nextRef: () => this.nextRef(),
      onEvent: (ep: Endpoint, batch: FrameBatch, i: number) => this.onEvent(ep, batch, i),
      inBatch: (fn: () => void) => this.decide(fn),
      onLateReply: () => void this.lateReplies++,
    };
    this.endpoints = { primary: new Endpoint('primary', o.primary, ctx), backup: new Endpoint('backup', o.backup, ctx) };
    for (const ep of Object.values(this.endpoints)) {
      ep.on('open', (s) => this.onOpen(ep, s));
      ep.on('lost', (info, dropped) => this.onLost(ep, info, dropped));
      // ep.reportedAt: when the report was read from the socket (natively timed on the native transport).
      ep.on('role', (role) => this.input({ kind: 'role', ep: ep.name, gen: ep.generation, role, at: monotonicMs(), readAt: ep.reportedAt }));
      ep.on('link', (up, frame, seq) => {
        const at = monotonicMs();
        this.serverEvents.linkReport(ep.name, up, frame, at);
        this.input({ kind: 'link', ep: ep.name, gen: ep.generation, up, seq, at, readAt: up ? ep.reportedAt : at });
      });
    }
    this.serverEvents = new ServerEvents(o.name, (name, payload) => this.outbox.push(name, payload));
    this.supervisor = new Supervisor(o, this.endpoints, this.lifecycle.signal, () => [...this.dns], (ep, minDelayMs, maxDelayMs) => this.attempts.retry(ep, minDelayMs, maxDelayMs));
    this.observe();
  }

  /** Connect failures, retries, heartbeats and breaker changes as public events; the logger bridge. */
  private observe(): void {
    const o = this.options;
    for (const ep of Object.values(this.endpoints)) this.attempts.watch(ep);
    const log = o.logger;
    if (log) this.on(ALL as never, ((name: string, payload: unknown) => logEvent(log, o.name, name, payload)) as never);
  }

  /**
   * Sizes of the pair's internal queues and maps, for checks that nothing grows without bound (the
   * decision-core simulation reads it after every step). Not a stable API.
   * @internal
   */
  [Symbol.for('tserver-ha.internals')](): Record<string, number> {
    return {
      ...this.book.internals(),
      held: this.held.length,
      inputs: this.inputs.length,
      pendingPrimary: this.endpoints.primary.pendingCount,
      pendingBackup: this.endpoints.backup.pendingCount,
      holesPrimary: this.core.eps.primary.holes.size,
      holesBackup: this.core.eps.backup.holes.size,
      listeners: this.listenerCount(ALL),
    };
  }

  /**
   * Heartbeats cross from the transports only while someone consumes them (a `heartbeat` listener, an
   * `events()` iterator, the logger bridge, metrics): an idle pair with nobody listening costs no wake-up
   * per answered poll. Checked once the listener change took effect.
   */
  private listenersChanged(): void {
    if (this.demandCheck) return;
    this.demandCheck = true;
    queueMicrotask(() => {
      this.demandCheck = false;
      // (A constructor that threw — bad options — leaves no attempts to tell.)
      this.attempts?.heartbeats(this.listenerCount('heartbeat') > 0 || this.listenerCount(ALL) > 0);
    });
  }

  /** As EventEmitter's; the pair keeps watching its listeners afterwards (its emitter caches their lists). */
  override removeAllListeners(eventName?: keyof PairEvents | symbol): this {
    // Called without an argument, EventEmitter removes everything (an explicit undefined would remove nothing).
    if (eventName === undefined) super.removeAllListeners();
    else super.removeAllListeners(eventName as never);
    this.outbox.rehook();
    return this;
  }

  /** Counters since construction. */
  get stats(): PairStats {
    return { ...this.core.stats, lateReplies: this.lateReplies };
  }

  /** Snapshot of where the pair stands. */
  get state(): PairState {
    return {
      name: this.options.name,
      mode: this.options.mode,
      open: this.opened && !this.core.closed,
      source: this.core.delivery.source,
      active: this.core.routing.active,
      lastSeq: this.core.delivery.lastSeq,
      epoch: this.core.delivery.epoch,
      queuedRequests: this.book.queued,
      endpoints: { primary: endpointStatus(this.endpoints.primary), backup: endpointStatus(this.endpoints.backup) },
    };
  }

  /**
   * Connect (both servers in hot standby, one in warm) and resolve once a primary with a live CTI link is
   * usable. Rejects with `ERR_OPEN_TIMEOUT` after `openTimeoutMs`, closing the pair.
   */
  async open(options: OpenOptions = {}): Promise<void> {
    const signal = checkSignal(options);
    if (this.core.closed) throw new ClosedError();
    if (this.opened) throw new TServerHaError('ERR_ALREADY_OPEN', 'open() was already called');
    if (signal?.aborted) {
      await this.close();
      throw new AbortedError('open()', signal.reason);
    }
    this.opened = true;
    const ready = new Promise<void>((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
    this.supervisor.start();
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const startedAt = monotonicMs();
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(openTimeoutError(this.options.name, this.options.openTimeoutMs, this.endpoints)), this.options.openTimeoutMs);
      if (signal) {
        onAbort = () => reject(new AbortedError('open()', signal.reason));
        signal.addEventListener('abort', onAbort, { once: true });
      }
    });
    const log = this.options.logger;
    try {
      await Promise.race([ready, timeout]);
      log?.info({ pair: this.options.name, endpoint: this.core.routing.active, ms: monotonicMs() - startedAt }, `${this.options.name}: open, requests go to ${this.core.routing.active}`);
    } catch (err) {
      if (err instanceof OpenTimeoutError) {
        log?.error({ pair: this.options.name, code: err.code, err: err.message, ms: monotonicMs() - startedAt }, `${this.options.name}: open() failed: ${err.message}`);
      }
      await this.close();
      throw err;
    } finally {
      clearTimeout(timer);
      if (onAbort) signal!.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Liveness and readiness for health probes (docs/semantics.md, "Health"). `graceMs` (default 2000): how
   * long no server may take requests before the pair says it is not ready — a switchover takes less, so a
   * readiness probe does not take the pair out of service at every switchover.
   */
  health(options: { graceMs?: number } = {}): PairHealth {
    const graceMs = checkHealth(options);
    const { opened, draining, core } = this;
    return pairHealth({ opened, stopping: core.closed || draining, active: core.routing.active, everActive: core.routing.everActive, noActiveSince: this.noActiveSince }, graceMs);
  }

  /**
   * Close both connections; resolves when the sockets are closed. Requests still pending reject with
   * ClosedError — after `drain` lets them settle first ({@link CloseOptions}).
   */
  close(options: CloseOptions = {}): Promise<void> {
    let drainMs: number | null;
    try {
      drainMs = checkDrain(options);
    } catch (err) {
      return Promise.reject(err);
    }
    this.closing ??= this.doClose(drainMs);
    return this.closing;
  }

  /** `await using pair = new TServerPair(...)` closes it at scope exit. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private async doClose(drainMs: number | null): Promise<void> {
    if (drainMs !== null && this.opened) {
      // Stop taking requests; those in flight settle by their own deadlines (or the drain bound).
      this.draining = true;
      await this.book.idle(drainMs);
    }
    this.input({ kind: 'close', at: monotonicMs() });
    this.lifecycle.abort();
    const err = new ClosedError();
    this.book.rejectAll(err);
    for (const w of this.readyWaiters.splice(0)) w.reject(err);
    await Promise.all(Object.values(this.endpoints).map((ep) => ep.shutdown()));
    await this.supervisor.stopped();
    clearTimeout(this.timer);
    this.ended.abort();
  }

  /**
   * Send a request to the active primary and resolve with its reply (or reject with a typed error before
   * the deadline). Queued while no server is usable; see {@link RequestOptions} for switchovers.
   * @param name message name (`'RequestRouteCall'`) or TMessageType id
   */
  request(name: MessageName | number, attributes: AttributeInput | readonly Attribute[], options: RequestOptions = {}): Promise<RequestReply> {
    if (this.core.closed || !this.opened || this.draining) return Promise.reject(new ClosedError(this.core.closed || this.draining ? 'the pair is closed' : 'call open() first'));
    // Every argument checked before anything is sent, armed or allocated.
    let timeoutMs: number;
    let signal: AbortSignal | undefined;
    let type: number;
    let bytes: Uint8Array;
    try {
      ({ timeoutMs, signal } = checkCallOptions('request()', options, ['timeoutMs', 'idempotent', 'repeat', 'signal'], this.options.requestTimeoutMs));
      if (typeof attributes !== 'object' || attributes === null) throw new TypeError('attributes must be an object of attribute names or an array of attributes');
      for (const k of ['idempotent', 'repeat'] as const) {
        if (options[k] !== undefined && typeof options[k] !== 'boolean') throw new ConfigError(`option ${k} must be a boolean, got ${typeof options[k]}`);
      }
    } catch (err) {
      return Promise.reject(err);
    }
    const ref = this.nextRef();
    try {
      ({ type, bytes } = encodeRequest(name, attributes, ref));
    } catch (err) {
      return Promise.reject(err);
    }
    const active = this.core.routing.active;
    const idempotent = options.idempotent ?? false;
    const rule = ruleFor(type, options.repeat ?? (idempotent ? true : undefined));
    const call = callOf(type, attributes);
    const submit = () => this.book.submit(ref, messageName(type), bytes, { timeoutMs, rule, signal, call }, active ? this.endpoints[active] : undefined);
    if (!requestChannel.hasSubscribers) return submit();
    const ctx: RequestTraceContext = { pair: this.options.name, request: messageName(type), referenceId: ref, timeoutMs, idempotent, active };
    return requestChannel.tracePromise(submit, ctx);
  }

  /**
   * Add a DN to the registration set, replayed on every (re)connect and switchover, and register it where
   * connected. Resolves when the active server confirmed it (with none, the next one: it waits like a
   * request; with no server connected at all, at once — each server gets the set as it opens). Rejects with ServerError if the active server refused, ClosedError if the
   * pair closed first, and otherwise as a request does by its deadline (RequestTimeoutError, or
   * SwitchoverError when a failover left it in doubt: a registration lost with its server is repeated on
   * the next primary, docs/semantics.md). The DN stays in the set either way.
   */
  registerAddress(dn: string, options: AddressOptions = {}): Promise<void> {
    if (typeof dn !== 'string' || dn.length === 0) return Promise.reject(new TypeError('dn must be a non-empty string'));
    return this.addressCall(MessageType.RequestRegisterAddress, dn, options, () => this.dns.add(dn));
  }

  /** Remove a DN from the registration set and unregister it where connected (same outcomes as registerAddress). */
  unregisterAddress(dn: string, options: AddressOptions = {}): Promise<void> {
    if (typeof dn !== 'string' || dn.length === 0) return Promise.reject(new TypeError('dn must be a non-empty string'));
    return this.addressCall(MessageType.RequestUnregisterAddress, dn, options, () => this.dns.delete(dn));
  }

  /**
   * Every public event, in order, as `{ type, data }`, until `signal` aborts or the pair closes (events
   * already buffered are yielded first); see {@link EventsOptions.maxBuffered} for a consumer that falls behind.
   */
  events(options: EventsOptions = {}): AsyncIterableIterator<PairEventRecord> {
    checkOptions('events()', options, ['signal', 'maxBuffered']);
    const { signal } = options;
    const maxBuffered = options.maxBuffered === undefined ? DEFAULT_MAX_BUFFERED : options.maxBuffered;
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw new ConfigError('option signal must be an AbortSignal');
    if (!Number.isSafeInteger(maxBuffered) || maxBuffered < 1) throw new ConfigError(`option maxBuffered must be an integer >= 1, got ${show(maxBuffered)}`);
    return new EventStream(this, ALL, signal ? [signal, this.ended.signal] : [this.ended.signal], maxBuffered);
  }

  /**
   * Fail away from the server events are delivered from, now (reason `manual`): its connection is reset
   * and delivery moves as for a crash (hot: the other server's window is replayed; warm: the other server
   * is tried first). Requests follow the servers' roles, as always.
   */
  switchover(): void {
    if (!this.opened || this.core.closed) throw new ClosedError();
    this.input({ kind: 'manual', at: monotonicMs() });
  }

  /** Best-effort (un)registrations outstanding on connected non-active servers (tellBestEffort). */
  private bestEffortCalls = 0;

  /**
   * The active server's answer goes through the request book like any request — one deadline, abort and
   * failover rule for both; the other connected server is told best effort (its connection bounds the call).
   * The DN set changes only once every check passed (a refused call leaves it as it was).
   */
  private async addressCall(type: number, dn: string, options: AddressOptions, update: () => void): Promise<void> {
    const what = messageName(type);
    if (this.core.closed || this.draining) throw new ClosedError();
    const { timeoutMs, signal } = checkCallOptions(what, options, ['timeoutMs', 'signal'], this.options.requestTimeoutMs);
    this.book.checkCanTake(what, signal);
    update();
    const active = this.core.routing.active;
    const attrs = addressAttributes(type, dn, this.options.registerMode);
    const connected = Object.values(this.endpoints).filter((ep) => ep.state === 'open');
    // Nothing connected: each server gets the set as its session opens.
    if (connected.length === 0) return;
    for (const ep of connected) if (ep.name !== active) this.tellBestEffort(ep, type, attrs);
    // With no active server it waits in the book, in submission order with the application's other
    // (un)registrations, for the server that takes requests next (its answer is the one that counts).
    const ref = this.nextRef();
    await this.book.submit(ref, what, encodeMessage(type, { ...attrs, ReferenceID: ref }), { timeoutMs, rule: ruleFor(type, undefined), signal }, active ? this.endpoints[active] : undefined);
  }

  /**
   * A (un)registration for a connected server that does not take requests (it holds events for us): its
   * answer is not waited for, and at most `maxPendingRequests` such calls are outstanding — a server that
   * never answers them cannot make them pile up; its next session registers the set anyway.
   */
  private tellBestEffort(ep: Endpoint, type: number, attrs: AttributeInput): void {
    if (this.bestEffortCalls >= this.options.maxPendingRequests) return;
    this.bestEffortCalls++;
    ep.call(type, attrs).then(
      () => this.bestEffortCalls--,
      () => this.bestEffortCalls--,
    );
  }

  private nextRef(): number {
    this.refCounter = this.refCounter >= 0x7fffffff ? 1 : this.refCounter + 1;
    return this.refCounter;
  }

  /** Run `fn` (a batch of frames, an input) and emit what it decided only once it is done. */
  private decide(fn: () => void): void {
    this.outbox.hold();
    try {
      fn();
    } finally {
      this.outbox.release();
    }
  }

  /** Feed the core one input and run its effects; inputs raised by effects wait their turn. */
  private input(i: Input): void {
    this.inputs.push(i);
    if (this.stepping) return;
    this.stepping = true;
    this.outbox.hold();
    try {
      for (let next = this.inputs.shift(); next; next = this.inputs.shift()) this.run(step(this.core, next));
    } finally {
      this.stepping = false;
      this.outbox.release();
    }
  }

  private run(effects: Effect[]): void {
    for (const fx of effects) {
      switch (fx.kind) {
        case 'hold':
          this.endpoints[fx.ep].hold(this.options.window);
          break;
        case 'release':
          this.window = null;
          this.held = [];
          void this.release(fx.ep, fx.gen, fx.afterSeq);
          break;
        case 'admitWindow':
          this.admitWindow(fx.ep, fx.gen, fx.deliver);
          break;
        case 'admitHeld':
          this.admitHeld(fx.ep, fx.gen);
          break;
        case 'discardHeld':
          this.window = null;
          this.held = [];
          break;
        case 'drop':
          void this.endpoints[fx.ep].drop(fx.reason);
          break;
        case 'gap':
          this.outbox.push('gap', { Server: this.options.name, ...fx.gap });
          if (gapChannel.hasSubscribers) gapChannel.publish({ pair: this.options.name, ...fx.gap });
          break;
        case 'switchover':
          this.outbox.push('switchover', fx.event);
          if (switchoverChannel.hasSubscribers) switchoverChannel.publish(fx.event);
          break;
        case 'active':
          this.noActiveSince = fx.event.endpoint === null ? (this.noActiveSince ?? monotonicMs()) : null;
          if (fx.event.endpoint === null) this.book.untarget();
          this.outbox.push('active', fx.event);
          break;
        case 'splitBrain':
          this.outbox.push('splitBrain', fx.event);
          break;
        case 'dispatch':
          this.book.dispatch(this.endpoints[fx.ep]);
          break;
        case 'ready':
          for (const w of this.readyWaiters.splice(0)) w.resolve();
          break;
        case 'timer':
          clearTimeout(this.timer);
          this.timer = fx.at === null ? undefined : setTimeout(() => this.input({ kind: 'tick', at: monotonicMs() }), Math.max(0, fx.at - monotonicMs()));
          break;
      }
    }
  }

  private onOpen(ep: Endpoint, s: SessionInfo): void {
    if (this.core.closed) return;
    const at = monotonicMs();
    this.reconcileDns(ep, s.dns);
    this.decide(() => {
      this.serverEvents.connected(ep.name, s, at);
      for (const r of s.refused) this.outbox.push('error', r.error);
      this.input({
        kind: 'opened', ep: ep.name, gen: ep.generation,
        facts: { role: s.role, link: s.link, epoch: s.epoch, serverSeq: s.serverSeq, registeredSeq: s.registeredSeq, linkReports: s.linkReports, at },
      });
    });
  }

  /**
   * DNs added or removed while this session was registering took the handshake's snapshot: bring the
   * server in line with the registration set now (failures surface as the next request's errors).
   */
  private reconcileDns(ep: Endpoint, registered: readonly string[]): void {
    const had = new Set(registered);
    const mode = this.options.registerMode;
    for (const dn of this.dns) if (!had.has(dn)) this.tellBestEffort(ep, MessageType.RequestRegisterAddress, addressAttributes(MessageType.RequestRegisterAddress, dn, mode));
    for (const dn of had) if (!this.dns.has(dn)) this.tellBestEffort(ep, MessageType.RequestUnregisterAddress, addressAttributes(MessageType.RequestUnregisterAddress, dn, mode));
  }

  private onLost(ep: Endpoint, info: CloseInfo, dropped: DropReason | undefined): void {
    const at = info.timestamps.lossDetectedAt ?? monotonicMs();
    this.decide(() => {
      this.serverEvents.disconnected(ep.name, info, dropped ?? info.reason, at);
      this.input({ kind: 'lost', ep: ep.name, gen: ep.generation, reason: reasonOf(info.reason, dropped), at });
    });
  }

  /** Ask `ep`'s transport for its window; the answer becomes `released` (or `releaseFailed`). */
  private async release(name: EndpointName, gen: number, afterSeq: number): Promise<void> {
    const ep = this.endpoints[name];
    try {
      if (ep.generation !== gen) throw new Error('connection gone');
      const r = await ep.release(afterSeq);
      // Read by the `admitWindow` effect this input triggers (a stale release is ignored and overwritten later).
      this.window = r.batch;
      const facts = { evictedUpTo: r.evictedUpTo, firstSeenSeq: r.firstSeenSeq, seqDecreased: r.seqDecreased, belowRegistration: ep.numberingWentBackIn(r.batch, r.firstSeenSeq), lastSeenSeq: r.lastSeenSeq, lastTimeUs: this.lastEvent ? switchTimeUs(this.lastEvent) : -1 };
      this.input({ kind: 'released', ep: name, gen, facts, at: monotonicMs() });
    } catch {
      this.input({ kind: 'releaseFailed', ep: name, gen, at: monotonicMs() });
    }
  }

  /** The `admitWindow` effect: each event of the released window through admission, or none of them. */
  private admitWindow(name: EndpointName, gen: number, deliver: boolean): void {
    const win = this.window;
    this.window = null;
    let n = 0;
    if (deliver && win) {
      const v = this.core.eps[name];
      for (let i = 0; i < win.count; i++) {
        if (this.deliver(v, new TEvent(win, i, name, win.seq(i), ''))) n++;
      }
    }
    this.inputs.push({ kind: 'windowAdmitted', ep: name, gen, replayed: n, at: monotonicMs() });
  }

  /** The `admitHeld` effect: the live events that arrived while the window was on its way, in order. */
  private admitHeld(name: EndpointName, gen: number): void {
    const held = this.held;
    this.held = [];
    const v = this.core.eps[name];
    for (const e of held) this.deliver(v, e);
    this.inputs.push({ kind: 'heldAdmitted', ep: name, gen, at: monotonicMs() });
  }

  /** One event of the source through admission: published (after any gap admission found) or dropped. */
  private deliver(v: ConnView, e: TEvent): boolean {
    const verdict = admit(this.core, v, e, switchTimeUs, this.admitFx);
    if (this.admitFx.length > 0) {
      this.run(this.admitFx);
      this.admitFx.length = 0;
    }
    if (verdict === DUPLICATE) return false;
    // Where calls with outstanding route requests went: evidence for reading a repeat's answer.
    if (this.book.evidence.size > 0) this.book.evidence.see(e);
    setEpoch(e, this.core.delivery.epoch ?? '');
    if (e.seq >= 0) this.lastEvent = e;
    this.outbox.push('event', e);
    return true;
  }

  private onEvent(ep: Endpoint, batch: FrameBatch, i: number): void {
    const d = this.core.delivery;
    if (d.source !== ep.name || d.gen !== ep.generation || this.core.closed) return;
    if (d.phase === 'live') {
      this.deliver(this.core.eps[ep.name], new TEvent(batch, i, ep.name, batch.seq(i), ''));
    } else if (d.phase === 'moving') {
      // Behind the window on its way (the event keeps its bytes readable after this call).
      this.held.push(new TEvent(batch, i, ep.name, batch.seq(i), ''));
    }
  }
}
