import { EventEmitter, on } from 'node:events';
import diagnostics from 'node:diagnostics_channel';
import { resolvePairOptions, type ResolvedPairOptions, type TServerPairOptions } from '../config.js';
import { ClosedError, TServerHaError } from '../errors.js';
import { monotonicMs } from '../clock.js';
import { Endpoint, type EndpointName, type SessionInfo } from '../endpoint/endpoint.js';
import { encodeMessage, type AttributeInput } from '../protocol/encoder.js';
import { Attr, messageId, messageName, type MessageName } from '../protocol/ids.js';
import { ValueType } from '../protocol/constants.js';
import type { Attribute, MessageFrame } from '../protocol/types.js';
import { createTransport } from '../transport/index.js';
// Side effect: registers the native transport when the addon loads, so transport 'auto' can pick it.
import '../native/register.js';
import type { CloseInfo, CloseReason, FrameBatch, ReleaseResult } from '../transport/types.js';
import { type PairEventRecord, type PairEvents, type PairState, type SeqRange, type SwitchoverEvent, type SwitchoverReason, type GapEvent } from './events.js';
import { Outbox } from './outbox.js';
import { RequestBook, type RequestOptions } from './requests.js';
import { isSplitBrain, pickActive, pickSource } from './selection.js';
import { Supervisor } from './supervisor.js';
import { Sequencer } from './sequencer.js';
import { SplitBrainWatch } from './split-brain.js';
import { ServerEvents } from './server-events.js';

const ALL = Symbol('tserver-ha:all');
const channels = {
  switchover: diagnostics.channel('tserver-ha:switchover'),
  gap: diagnostics.channel('tserver-ha:gap'),
};

function reasonOf(r: CloseReason): SwitchoverReason {
  return r === 'addp-timeout' ? 'heartbeat-timeout' : r === 'protocol-error' ? 'protocol-error' : 'crash';
}

/** Counters, for dashboards and benchmarks. */
export interface PairStats {
  delivered: number;
  duplicatesDropped: number;
  replayed: number;
  gaps: number;
  switchovers: number;
}

interface Detection {
  from: EndpointName | null;
  reason: SwitchoverReason;
  at: number;
}

/**
 * A primary/backup T-Server pair in warm or hot standby, seen as one stream of events and one place to
 * send requests. See docs/semantics.md for every rule it keeps.
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
  /** Counters since construction. */
  get stats(): PairStats {
    return { ...this.counters, delivered: this.seq.delivered, duplicatesDropped: this.seq.duplicatesDropped };
  }
  private readonly counters = { replayed: 0, gaps: 0, switchovers: 0 };
  private readonly endpoints: Record<EndpointName, Endpoint>;
  private readonly book: RequestBook;
  private readonly outbox = new Outbox(this, ALL);
  private readonly dns: Set<string>;
  private readonly lifecycle = new AbortController();
  /** Aborted once close() has finished, after the last events (EventServerDisconnected) were emitted. */
  private readonly ended = new AbortController();
  private readonly supervisor: Supervisor;
  private source: Endpoint | null = null;
  private active: Endpoint | null = null;
  private refCounter = 0;
  private opened = false;
  private closed = false;
  private closing: Promise<void> | undefined;
  private switching = false;
  private reevaluate = false;
  /** Why and when the pair last lost its request target; reported by the next `switchover`. */
  private lostActive: Detection | null = null;
  /** Why and when delivery last had to move; reported with its `gap`. */
  private lostSource: Detection | null = null;
  /** The last non-null request target: a new one that differs is a switchover. */
  private lastActive: EndpointName | null = null;
  /** Events replayed and gaps since the last switchover, reported with the next one. */
  private sinceSwitchover: { replayed: number; gap: SeqRange | null } = { replayed: 0, gap: null };
  private everHadSource = false;
  private everActive = false;
  /** The endpoint `switchover()` reset: its loss is reported with reason `manual`. */
  private manualDrop: Endpoint | null = null;
  private readonly splitBrain: SplitBrainWatch;
  private readonly seq: Sequencer;
  private readyWaiters: { resolve(): void; reject(e: Error): void }[] = [];
  private readonly serverEvents: ServerEvents;

  constructor(options: TServerPairOptions) {
    super();
    this.options = resolvePairOptions(options);
    this.dns = new Set(this.options.dns);
    this.book = new RequestBook(this.options.maxPendingRequests);
    const ctx = {
      options: this.options,
      nextRef: () => this.nextRef(),
      createTransport: (o: Parameters<typeof createTransport>[0]) => createTransport(o, this.options.transport),
      onEvent: (ep: Endpoint, batch: FrameBatch, i: number) => this.onEvent(ep, batch, i),
    };
    this.endpoints = {
      primary: new Endpoint('primary', this.options.primary, ctx),
      backup: new Endpoint('backup', this.options.backup, ctx),
    };
    for (const ep of Object.values(this.endpoints)) {
      ep.on('open', (s) => this.onOpen(ep, s));
      ep.on('lost', (info) => this.onLost(ep, info));
      ep.on('role', () => this.evaluate('role-change', monotonicMs()));
      ep.on('link', (up, frame) => this.onLink(ep, up, frame));
    }
    this.serverEvents = new ServerEvents(this.options.name, (name, payload) => this.publish(name, payload));
    this.seq = new Sequencer((e) => this.publish('event', e), (range) => this.reportGap(range, 'link-restored'));
    this.splitBrain = new SplitBrainWatch(
      this.options.splitBrainGraceMs,
      () => !this.closed && isSplitBrain(Object.values(this.endpoints)),
      () => {
        const keeping = this.source?.name ?? 'primary';
        this.publish('splitBrain', { Server: this.options.name, keeping, ignoring: keeping === 'primary' ? 'backup' : 'primary', timestamp: monotonicMs() });
      },
    );
    this.supervisor = new Supervisor(this.options, this.endpoints, this.lifecycle.signal, () => [...this.dns]);
  }

  /** Snapshot of where the pair stands. */
  get state(): PairState {
    const status = (ep: Endpoint) => ({
      address: `${ep.address.host}:${ep.address.port}`,
      server: ep.state,
      role: ep.role,
      link: ep.link,
      breaker: ep.breakerState,
      pendingRequests: ep.pendingCount,
    });
    return {
      name: this.options.name,
      mode: this.options.mode,
      open: this.opened && !this.closed,
      source: this.source?.name ?? null,
      active: this.active?.name ?? null,
      lastSeq: this.seq.lastSeq,
      queuedRequests: this.book.queued,
      endpoints: { primary: status(this.endpoints.primary), backup: status(this.endpoints.backup) },
    };
  }

  /**
   * Connect (both servers in hot standby, one in warm) and resolve once a primary with a live CTI link is
   * usable. Rejects with `ERR_OPEN_TIMEOUT` after `openTimeoutMs`, closing the pair.
   */
  async open(): Promise<void> {
    if (this.closed) throw new ClosedError();
    if (this.opened) throw new TServerHaError('ERR_ALREADY_OPEN', 'open() was already called');
    this.opened = true;
    const ready = new Promise<void>((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
    this.supervisor.start();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new TServerHaError('ERR_OPEN_TIMEOUT', `no usable server in ${this.options.name} within ${this.options.openTimeoutMs} ms`, { retryable: true })),
        this.options.openTimeoutMs,
      );
    });
    try {
      await Promise.race([ready, timeout]);
    } catch (err) {
      await this.close();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Close both connections. Pending requests reject with ClosedError; resolves when sockets are closed. */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  /** `await using pair = new TServerPair(...)` closes it at scope exit. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private async doClose(): Promise<void> {
    this.closed = true;
    this.lifecycle.abort();
    this.splitBrain.stop();
    const err = new ClosedError();
    this.book.rejectAll(err);
    for (const w of this.readyWaiters.splice(0)) w.reject(err);
    await Promise.all(Object.values(this.endpoints).map((ep) => ep.shutdown()));
    await this.supervisor.stopped();
    this.source = null;
    this.active = null;
    this.ended.abort();
  }

  /**
   * Send a request to the active primary and resolve with its reply (or reject with a typed error before
   * the deadline). Queued while no server is usable; see {@link RequestOptions} for switchovers.
   * @param name message name (`'RequestRouteCall'`) or TMessageType id
   */
  request(name: MessageName | number, attributes: AttributeInput | readonly Attribute[], options: RequestOptions = {}): Promise<MessageFrame> {
    if (this.closed || !this.opened) return Promise.reject(new ClosedError(this.closed ? 'the pair is closed' : 'call open() first'));
    const type = messageId(name);
    const timeoutMs = options.timeoutMs ?? this.options.requestTimeoutMs;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) return Promise.reject(new TypeError('timeoutMs must be a positive number'));
    const ref = this.nextRef();
    let bytes: Uint8Array;
    try {
      bytes = Array.isArray(attributes)
        ? encodeMessage(type, [...(attributes as Attribute[]).filter((a) => a.id !== Attr.ReferenceID), { id: Attr.ReferenceID, type: ValueType.Int32, value: ref }])
        : encodeMessage(type, { ...(attributes as AttributeInput), ReferenceID: ref });
    } catch (err) {
      return Promise.reject(err);
    }
    return this.book.submit(ref, messageName(type), bytes, { timeoutMs, idempotent: options.idempotent ?? false, signal: options.signal }, this.active ?? undefined);
  }

  /**
   * Add a DN to the registration set, replayed on every (re)connect and switchover. Resolves when the
   * active server (if any) confirmed it; rejects with ServerError if it refused.
   */
  async registerAddress(dn: string): Promise<void> {
    if (typeof dn !== 'string' || dn.length === 0) throw new TypeError('dn must be a non-empty string');
    this.dns.add(dn);
    await this.onOpenEndpoints((ep) => ep.registerAddress(dn));
  }

  /** Remove a DN from the registration set and unregister it where connected. */
  async unregisterAddress(dn: string): Promise<void> {
    this.dns.delete(dn);
    await this.onOpenEndpoints((ep) => ep.unregisterAddress(dn));
  }

  /** Every public event, in order, as `{ type, data }`, until `signal` aborts or the pair closes. */
  async *events(options: { signal?: AbortSignal } = {}): AsyncGenerator<PairEventRecord> {
    const signal = options.signal ? AbortSignal.any([options.signal, this.ended.signal]) : this.ended.signal;
    if (signal.aborted) return;
    try {
      for await (const [type, data] of on(this, ALL, { signal })) yield { type, data } as PairEventRecord;
    } catch (err) {
      if ((err as Error).name !== 'AbortError') throw err;
    }
  }

  /**
   * Fail away from the server events are delivered from, now (reason `manual`): its connection is reset
   * and delivery moves as for a crash (hot: the other server's window is replayed; warm: the other server
   * is tried first). Requests follow the servers' roles, as always.
   */
  switchover(): void {
    if (!this.opened || this.closed) throw new ClosedError();
    const from = this.source;
    if (!from) return;
    this.manualDrop = from;
    void from.drop();
  }

  private async onOpenEndpoints(fn: (ep: Endpoint) => Promise<unknown>): Promise<void> {
    const eps = Object.values(this.endpoints).filter((ep) => ep.state === 'open');
    const results = await Promise.allSettled(eps.map(fn));
    const activeIdx = eps.indexOf(this.active as Endpoint);
    const r = results[activeIdx >= 0 ? activeIdx : 0];
    if (r && r.status === 'rejected') throw r.reason;
  }

  private nextRef(): number {
    this.refCounter = this.refCounter >= 0x7fffffff ? 1 : this.refCounter + 1;
    return this.refCounter;
  }

  private publish<K extends keyof PairEvents>(name: K, payload: PairEvents[K][0]): void {
    this.outbox.push(name, payload);
  }

  private onOpen(ep: Endpoint, s: SessionInfo): void {
    if (this.closed) return;
    const at = monotonicMs();
    this.reconcileDns(ep, s.dns);
    this.serverEvents.connected(ep.name, s, at);
    this.evaluate('role-change', at);
  }

  /**
   * DNs added or removed while this session was registering took the handshake's snapshot: bring the
   * server in line with the registration set now (failures surface as the next request's errors).
   */
  private reconcileDns(ep: Endpoint, registered: readonly string[]): void {
    const had = new Set(registered);
    for (const dn of this.dns) if (!had.has(dn)) ep.registerAddress(dn).catch(() => {});
    for (const dn of had) if (!this.dns.has(dn)) ep.unregisterAddress(dn).catch(() => {});
  }

  private onLost(ep: Endpoint, info: CloseInfo): void {
    const at = info.timestamps.lossDetectedAt ?? monotonicMs();
    this.serverEvents.disconnected(ep.name, info, at);
    if (this.closed) return;
    const reason: SwitchoverReason = ep === this.manualDrop ? 'manual' : reasonOf(info.reason);
    if (ep === this.manualDrop) this.manualDrop = null;
    if (ep === this.source) {
      this.lostSource = { from: ep.name, reason, at };
      this.source = null;
    }
    // Requests stop going there at once, even while delivery is still moving.
    if (ep === this.active) this.updateActive(reason, at);
    this.evaluate(reason, at);
  }

  private onLink(ep: Endpoint, up: boolean, frame: MessageFrame): void {
    const at = monotonicMs();
    this.serverEvents.linkReport(ep.name, up, frame, at);
    // The source's stream has a hole from now until the link is back: check the first event after it.
    if (!up && ep === this.source) this.seq.expectHole();
    this.evaluate(up ? 'role-change' : 'link-down', at);
  }

  /** Decide where to deliver from and where requests go, after anything changed. */
  private evaluate(reason: SwitchoverReason, at: number): void {
    if (this.closed) return;
    if (this.switching) {
      this.reevaluate = true;
      return;
    }
    const eps = Object.values(this.endpoints);
    this.splitBrain.update(isSplitBrain(eps));
    const best = pickSource(eps, this.source?.name ?? null, this.options.switchOnLinkDown, !this.everActive);
    if (best !== null && this.endpoints[best] !== this.source) {
      if (this.source) this.lostSource = { from: this.source.name, reason, at };
      void this.moveDelivery(this.endpoints[best]);
      return;
    }
    this.updateActive(reason, at);
  }

  /**
   * Make `ep` the delivery source. Order of what the application sees: `gap` (if any), the events
   * replayed from `ep`'s window, then its live events. Never an event from two sources at once.
   */
  private async moveDelivery(ep: Endpoint): Promise<void> {
    this.switching = true;
    this.seq.pause();
    // A hole in the old source's stream is not one in the new source's (its window is checked below).
    this.seq.clearHole();
    const from = this.source;
    const lost = this.lostSource;
    this.lostSource = null;
    // A source given up while still connected goes back to holding, ready for the next move.
    if (from && from.state === 'open') from.hold(this.options.window);
    this.source = ep;
    const gen = ep.generation;
    let release: ReleaseResult | undefined;
    let ok = false;
    try {
      release = await ep.currentTransport?.release(this.seq.lastSeq);
      ok = this.source === ep && ep.generation === gen && !this.closed;
    } catch {
      // The connection went away during release; its loss is reported by onLost.
    } finally {
      this.switching = false;
    }
    if (!ok) {
      // Without its window, the live events held from this connection cannot be ordered: drop them
      // (the connection is gone) and decide again.
      this.seq.discard();
      if (this.source === ep) this.source = null;
      this.reevaluate = false;
      if (lost) this.lostSource = lost;
      this.evaluate(lost?.reason ?? 'crash', lost?.at ?? monotonicMs());
      return;
    }
    const lastSeq = this.seq.lastSeq;
    // What this connection cannot give us: events up to its registration point, events evicted from its
    // window, and — if its CTI link dropped during the session — everything before the first event it
    // saw after that. Past what we delivered, that range may hold lost events.
    let gapTo = Math.max(release?.evictedUpTo ?? -1, ep.session?.registeredSeq ?? -1);
    if (ep.linkFlapped && release && release.firstSeenSeq > lastSeq + 1) gapTo = Math.max(gapTo, release.firstSeenSeq - 1);
    if (this.everHadSource && lastSeq >= 0 && gapTo > lastSeq) this.reportGap({ fromSeq: lastSeq + 1, toSeq: gapTo }, this.options.mode === 'hot' ? 'switchover' : 'reconnect', ep.name);
    this.everHadSource = true;
    // Replay first: DNs registered early in the handshake have live events inside the gap range.
    if (release) {
      const n = this.seq.replay(ep.name, release.batch);
      this.counters.replayed += n;
      this.sinceSwitchover.replayed += n;
    }
    // Nothing at or below gapTo can arrive from this server any more.
    this.seq.skipTo(gapTo);
    this.seq.resume();
    if (this.reevaluate) this.reevaluate = false;
    this.evaluate(lost?.reason ?? 'role-change', lost?.at ?? monotonicMs());
  }

  private reportGap(range: SeqRange, reason: GapEvent['reason'], source: EndpointName | undefined = this.source?.name): void {
    this.counters.gaps++;
    const g = this.sinceSwitchover.gap;
    this.sinceSwitchover.gap = g ? { fromSeq: Math.min(g.fromSeq, range.fromSeq), toSeq: Math.max(g.toSeq, range.toSeq) } : range;
    this.publish('gap', { Server: this.options.name, source: source ?? 'primary', reason, ...range });
    channels.gap.publish({ pair: this.options.name, ...range });
  }

  /** Requests go to a routable endpoint; a change of that endpoint after the first is a switchover. */
  private updateActive(reason: SwitchoverReason, at: number): void {
    const name = pickActive(Object.values(this.endpoints), this.active?.name ?? null, this.source?.name ?? null);
    const next = name ? this.endpoints[name] : null;
    if (next === this.active) {
      // Same target: still send what was re-queued meanwhile (an idempotent request lost on another server).
      if (next) this.book.dispatch(next);
      return;
    }
    const prev = this.active;
    this.active = next;
    if (!next) {
      this.lostActive = { from: prev!.name, reason, at };
      this.publish('active', { Server: this.options.name, endpoint: null, timestamp: monotonicMs() });
      return;
    }
    if (this.lastActive && this.lastActive !== next.name) {
      const lost = this.lostActive ?? { from: this.lastActive, reason, at };
      const e: SwitchoverEvent = {
        Server: this.options.name,
        from: this.lastActive,
        to: next.name,
        reason: lost.reason,
        detectedAt: lost.at,
        announcedAt: next.reportedAt,
        completedAt: monotonicMs(),
        replayed: this.sinceSwitchover.replayed,
        gap: this.sinceSwitchover.gap,
      };
      this.counters.switchovers++;
      this.publish('switchover', e);
      channels.switchover.publish(e);
    }
    this.sinceSwitchover = { replayed: 0, gap: null };
    this.lostActive = null;
    this.lastActive = next.name;
    this.everActive = true;
    this.publish('active', { Server: this.options.name, endpoint: next.name, timestamp: monotonicMs() });
    this.book.dispatch(next);
    for (const w of this.readyWaiters.splice(0)) w.resolve();
  }

  private onEvent(ep: Endpoint, batch: FrameBatch, i: number): void {
    if (ep === this.source) this.seq.offer(ep.name, batch, i);
  }
}
