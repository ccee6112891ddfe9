import { attemptChannel } from '../diagnostics.js';
import { EventEmitter } from 'node:events';
import type CircuitBreaker from 'opossum';
import type { ResolvedPairOptions, EndpointAddress } from '../config.js';
import { BreakerOpenError, HandshakeError, ServerError, TransportError, type TServerHaError } from '../errors.js';
import { monotonicMs } from '../clock.js';
import { Attr, MessageType, messageId, messageName, type MessageName } from '../protocol/ids.js';
import { ValueType } from '../protocol/constants.js';
import { encodeMessage, type AttributeInput } from '../protocol/encoder.js';
import { getAttr } from '../protocol/message.js';
import type { Attribute, KVPair, MessageFrame } from '../protocol/types.js';
import type { CloseInfo, FrameBatch, RawFrameBatch, ReleaseResult, Transport, TransportOptions, WindowOptions } from '../transport/types.js';
import { createBreaker } from './breaker.js';
import { createTransport, resolveTransportKind } from '../transport/index.js';
// Side effect: registers the native transport when the addon loads, so transport 'auto' can pick it.
import '../native/register.js';
import { FrameKind, frameKind, isHeldEvent } from '../transport/hold-rule.js';
import { HoldWindow, concatReleases } from '../transport/hold-window.js';
import { seqOf } from '../transport/frame-batch.js';


// The decision core's vocabulary: an endpoint reports in the words the core decides with.
import type { EndpointName, LinkState, RoleName } from '../pair/core/vocabulary.js';
export type { EndpointName, LinkState, RoleName };
/** Connection state of one endpoint. */
export type EndpointState = 'idle' | 'connecting' | 'registering' | 'open' | 'closed';

/** What the handshake learned about the server. */
export interface SessionInfo {
  role: RoleName;
  link: LinkState;
  sessionId: bigint | undefined;
  serverVersion: string | undefined;
  /** EventSequenceNumber in EventServerInfo: the server's last switch event at handshake. */
  serverSeq: number;
  /** Highest EventSequenceNumber of the EventRegistered replies: every later event is delivered live. */
  registeredSeq: number;
  connectedAt: number;
  openAt: number;
  /** The link report of the handshake (EventLinkConnected/Disconnected), for its attributes. */
  linkFrame: MessageFrame | undefined;
  /**
   * Every link report read before the session opened, in order, with its position (down: the last sequence
   * number the server received; up: the switch's position when the link returned; -1: none given). The
   * first is the handshake's answer; more come if the link changed while DNs were registering.
   */
  linkReports: LinkReport[];
  /** The server's numbering epoch (`seq-epoch` in EventServerInfo's Extensions), when it announced one. */
  epoch: string | undefined;
  /** EventServerInfo's Extensions, as sent (the seed's optional Extensions of EventServerConnected). */
  extensions: KVPair[] | undefined;
  /** The DNs this session registered (or tried to: see `refused`) during its handshake. */
  dns: string[];
  /** DNs the server refused during the handshake, with its EventError. */
  refused: { dn: string; error: ServerError }[];
  /**
   * Each DN's registration position (its EventRegistered's sequence number): an event of that DN numbered
   * at or below it proves the server's numbering went back (its events come after its registration).
   */
  dnPositions: ReadonlyMap<string, number>;
}

/** One CTI link report and the position it carries. */
export interface LinkReport {
  up: boolean;
  seq: number;
}

/** Why the owner reset a connection: reported instead of the transport's `local`. */
export type DropReason = 'manual' | 'not-promoted';

/** One call waiting for its reply on this endpoint. */
export interface PendingCall {
  readonly name: string;
  /**
   * Settle with the reply frame, a ServerError, or (lost = true) the error that ended the connection;
   * `notSent`: the transport proved the request's bytes never all left this process (docs/semantics.md).
   */
  settle(result: MessageFrame | TServerHaError, lost: boolean, notSent?: boolean): void;
}

/** Hooks an endpoint needs from its owner; kept narrow so the endpoint knows nothing of pairs. */
export interface EndpointContext {
  options: ResolvedPairOptions;
  nextRef(): number;
  /** A server event (not a reply, not link/role bookkeeping) from this endpoint. */
  onEvent(ep: Endpoint, batch: FrameBatch, i: number): void;
  /** Runs the processing of one batch: the owner can emit what it decided once the batch is done. */
  inBatch(fn: () => void): void;
  /** A reply arrived for a call that had already settled (deadline, abort, re-sent): dropped. */
  onLateReply(ep: Endpoint, type: number, ref: number): void;
}

/** Events of an endpoint, consumed by the pair. */
export interface EndpointEvents {
  /** The session opened (handshake and registrations done). */
  open: [session: SessionInfo];
  /** An open session ended; `dropped` when the owner reset it on purpose. */
  lost: [info: CloseInfo, dropped: DropReason | undefined];
  /** The server's role changed. */
  role: [role: RoleName, previous: RoleName];
  /** The server reported its CTI link state (every report; the pair emits only changes), at position `seq` (-1: none). */
  link: [up: boolean, frame: MessageFrame, seq: number];
  /** A connection attempt failed (every one; `attempt` counts failures in a row since a session opened). */
  attemptFailed: [attempt: number, error: Error];
  /** The circuit breaker changed state. */
  breaker: [state: 'open' | 'half-open' | 'closed'];
  /** An ADDP poll of the current connection was answered (sampled by the transport). */
  heartbeat: [rttMs: number, at: number];
}

/** The attributes of a (un)registration of `dn`: the same for the handshake and the application's calls. */
export function addressAttributes(type: number, dn: string, registerMode: number): AttributeInput {
  return type === MessageType.RequestRegisterAddress ? { ThisDN: dn, RegisterMode: registerMode, AddressType: 1 } : { ThisDN: dn };
}

/**
 * Encode a request of `name` (or TMessageType id) with ReferenceID `ref` — the one this endpoint layer
 * correlates its reply by (a ReferenceID among `attributes` is replaced). Throws TypeError for an unknown
 * name, ProtocolError/TypeError for attributes that cannot be encoded.
 */
export function encodeRequest(name: MessageName | number, attributes: AttributeInput | readonly Attribute[], ref: number): { type: number; bytes: Uint8Array } {
  const type = messageId(name);
  const bytes = Array.isArray(attributes)
    ? encodeMessage(type, [...(attributes as Attribute[]).filter((a) => a.id !== Attr.ReferenceID), { id: Attr.ReferenceID, type: ValueType.Int32, value: ref }])
    : encodeMessage(type, { ...(attributes as AttributeInput), ReferenceID: ref });
  return { type, bytes };
}

function roleOf(v: unknown): RoleName {
  return v === 0 ? 'primary' : v === 1 ? 'backup' : 'unknown';
}

/** A string or numeric `seq-epoch` in EventServerInfo's Extensions. */
function epochOf(ext: KVPair[] | undefined): string | undefined {
  const v = ext?.find((p) => p.key === 'seq-epoch')?.value;
  return typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'bigint' ? String(v) : undefined;
}

/**
 * The state machine of one T-Server connection: connecting → registering → open → closed, the handshake,
 * DN registration, reply correlation by ReferenceID, and a circuit breaker around attempts. It never
 * reconnects by itself: the pair owns the schedule, because only the pair knows whether the other server
 * is the better next try.
 */
export class Endpoint extends EventEmitter<EndpointEvents> {
  state: EndpointState = 'idle';
  role: RoleName = 'unknown';
  link: LinkState = 'unknown';
  session: SessionInfo | undefined;
  /** Bumped per connection; callbacks of an older connection are ignored (MongoDB's "generation"). */
  generation = 0;
  private transport: Transport | undefined;
  /** Index of the frame onFrames is at in the batch it is delivering, or -1 between batches. */
  private cursor = -1;
  /**
   * Events of the batch being delivered that follow a `hold()` made while delivering it (a link or role
   * report in the same read moved delivery away): the transport's window holds only what it reads next.
   * Released ahead of the transport's window, as one window (hold-window.ts `concatReleases`).
   */
  private spill: { window: HoldWindow<MessageFrame>; receivedAt: number } | null = null;
  private readonly pending = new Map<number, PendingCall>();
  /** Where each pending call's frame ends in this connection's outbound stream (bytes given to send()). */
  private readonly ends = new Map<number, number>();
  /** Bytes of frames this connection's transport accepted (compared with its CloseInfo.outbound.sent). */
  private outOffset = 0;
  private readonly breaker: CircuitBreaker<[], SessionInfo> | undefined;
  private nextAttempt: { dns: readonly string[]; hold: WindowOptions | null } = { dns: [], hold: null };
  private stopped = false;
  private dropReason: DropReason | undefined;
  /** Failed attempts since the last session opened. */
  private failedAttempts = 0;
  /**
   * Monotonic ms when the last report that can make this endpoint usable was read from its socket (a role
   * change, a link-up) or its session opened: what a switchover's `announcedAt` is.
   */
  reportedAt = 0;
  private linkFrame: MessageFrame | undefined;
  private linkReports: LinkReport[] = [];
  private linkWaiter: ((report: { up: boolean; frame: MessageFrame | undefined }) => void) | undefined;
  /** `kind` of the current (or last) connection's transport; before the first, what the pair will use. */
  transportKind: string | null;
  /** The last failed attempt's or lost session's error, since the last session opened (open timeout reports it). */
  lastError: Error | null = null;
  /** When {@link lastError} happened (monotonic ms). */
  lastErrorAt = 0;

  constructor(
    readonly name: EndpointName,
    readonly address: EndpointAddress,
    private readonly ctx: EndpointContext,
  ) {
    super();
    // Forward the transport's heartbeats only while this endpoint has heartbeat listeners.
    const self = this as EventEmitter;
    self.on('newListener', (name: string | symbol) => {
      if (name === 'heartbeat' && this.listenerCount('heartbeat') === 0) this.transport?.on('heartbeat', this.forwardHeartbeat);
    });
    self.on('removeListener', (name: string | symbol) => {
      if (name === 'heartbeat' && this.listenerCount('heartbeat') === 0) this.transport?.off('heartbeat', this.forwardHeartbeat);
    });
    const o = ctx.options;
    this.transportKind = typeof o.transport === 'function' ? null : resolveTransportKind({ tls: address.tls ?? o.tls }, o.transport);
    const b = ctx.options.breaker;
    if (b) {
      this.breaker = createBreaker(() => this.attempt(), b, `${ctx.options.name}/${name}`);
      this.breaker.on('open', () => this.emit('breaker', 'open'));
      this.breaker.on('halfOpen', () => this.emit('breaker', 'half-open'));
      this.breaker.on('close', () => this.emit('breaker', 'closed'));
    }
  }

  /** A transport for the next attempt: the configured kind (`auto`: native when the addon loaded), or the factory given. */
  private createTransport(t: TransportOptions): Transport {
    const kind = this.ctx.options.transport;
    return typeof kind === 'function' ? kind(t) : createTransport(t, kind);
  }

  private readonly forwardHeartbeat = (rttMs: number, at: number): void => {
    this.emit('heartbeat', rttMs, at);
  };

  /** The latest heartbeat facts of the current connection, read on demand (nothing crosses per poll). */
  heartbeatStats(): ReturnType<NonNullable<Transport['heartbeatStats']>> {
    return this.transport?.heartbeatStats?.();
  }

  /** `host:port`, for messages. */
  get label(): string {
    return `${this.name} (${this.address.host}:${this.address.port})`;
  }

  /** Breaker state for `pair.state`. */
  get breakerState(): 'closed' | 'open' | 'half-open' | 'disabled' {
    if (!this.breaker) return 'disabled';
    return this.breaker.opened ? 'open' : this.breaker.halfOpen ? 'half-open' : 'closed';
  }

  /** The transport of the current connection, while there is one. */
  get currentTransport(): Transport | undefined {
    return this.transport;
  }

  /**
   * One connection attempt: connect, handshake, register `dns`. With `hold`, the transport buffers
   * sequence-numbered events from the first byte (hot-standby backup). Rejects with BreakerOpenError
   * without touching the network while the breaker is open, unless `bypassBreaker` (the owner has no
   * usable server at all: refusing to try would only lengthen the outage).
   */
  async open(dns: readonly string[], hold: WindowOptions | null, bypassBreaker = false): Promise<SessionInfo> {
    if (this.stopped) throw new TransportError('ERR_TRANSPORT_CLOSED', `${this.label} is shut down`);
    this.nextAttempt = { dns, hold };
    try {
      const s = !this.breaker || bypassBreaker ? await this.attempt() : await this.breaker.fire();
      this.failedAttempts = 0;
      return s;
    } catch (err) {
      const e = (err as { code?: string }).code === 'EOPENBREAKER' ? new BreakerOpenError(this.label) : (err as Error);
      this.failedAttempts++;
      this.lastError = e;
      this.lastErrorAt = monotonicMs();
      if (attemptChannel.hasSubscribers) attemptChannel.publish({ pair: this.ctx.options.name, endpoint: this.name, attempt: this.failedAttempts, error: e });
      this.emit('attemptFailed', this.failedAttempts, e);
      throw e;
    }
  }

  private async attempt(): Promise<SessionInfo> {
    const { dns, hold } = this.nextAttempt;
    const o = this.ctx.options;
    const gen = ++this.generation;
    const t = this.createTransport({
      host: this.address.host,
      port: this.address.port,
      connectTimeoutMs: o.connectTimeoutMs,
      addp: o.addp ? { timeoutMs: o.addp.timeoutMs } : false,
      keepAlive: o.keepAlive,
      userTimeoutMs: o.userTimeoutMs,
      limits: o.limits,
      tls: this.address.tls ?? o.tls,
    });
    this.transport = t;
    this.spill = null;
    this.transportKind = t.kind;
    this.outOffset = 0;
    this.ends.clear();
    this.state = 'connecting';
    this.role = 'unknown';
    this.link = 'unknown';
    this.linkFrame = undefined;
    this.linkReports = [];
    this.dropReason = undefined;
    t.on('frames', (batch) => {
      if (gen === this.generation) this.ctx.inBatch(() => this.onFrames(batch));
    });
    t.once('close', (info) => {
      if (gen === this.generation) this.onClose(info);
    });
    // Only while someone listens: the native transport then keeps answered polls on its I/O thread.
    if (this.listenerCount('heartbeat') > 0) t.on('heartbeat', this.forwardHeartbeat);
    if (hold) t.hold(hold);

    // One deadline for connect + handshake; past it the attempt fails as a handshake failure (the connect
    // has its own, shorter deadline in the transport).
    const limitMs = o.connectTimeoutMs + o.handshakeTimeoutMs;
    let timedOut = false;
    let connected = false;
    const deadline = setTimeout(() => {
      timedOut = true;
      void t.destroy();
    }, limitMs);
    // After every await: the connection may have closed in the same tick that settled what we waited
    // for (frames, then close, from one read), and a shut-down endpoint must not open.
    const checkStopped = () => {
      if (this.stopped) throw new TransportError('ERR_TRANSPORT_CLOSED', `${this.label} is shut down`);
      if (gen !== this.generation || this.transport !== t || this.state === 'closed') {
        throw new TransportError('ERR_TRANSPORT_CLOSED', `${this.label} closed during the handshake`);
      }
    };
    try {
      checkStopped();
      await t.connect();
      checkStopped();
      connected = true;
      const connectedAt = t.timestamps.connectedAt ?? monotonicMs();
      this.state = 'registering';
      const linkReported = new Promise<{ up: boolean; frame: MessageFrame | undefined }>((resolve) => (this.linkWaiter = resolve));
      const info = await this.call(MessageType.RequestRegisterClient, {
        ApplicationName: o.applicationName,
        Extensions: o.addp ? { 'addp-timeout': o.addp.timeoutMs, 'addp-remote-timeout': o.addp.remoteTimeoutMs } : {},
      });
      if (info.type !== MessageType.EventServerInfo) {
        throw new HandshakeError(this.label, `expected EventServerInfo, got ${messageName(info.type)}`);
      }
      // The role was taken from this reply in arrival order (onFrames): a role change read right after it,
      // in the same batch, must not be overwritten here.
      const sid = getAttr(info, Attr.SessionID);
      const ext = getAttr(info, Attr.Extensions);
      const extensions = Array.isArray(ext) ? (ext as KVPair[]) : undefined;
      await linkReported;
      checkStopped();
      let registeredSeq = seqOf(info);
      // A DN the server refuses does not keep the session from opening (one bad DN would lock the pair
      // out): it is reported, and tried again with the next session.
      const refused: { dn: string; error: ServerError }[] = [];
      const register = (dn: string) => this.call(MessageType.RequestRegisterAddress, addressAttributes(MessageType.RequestRegisterAddress, dn, this.ctx.options.registerMode));
      const replies = await Promise.allSettled(dns.map(register));
      const dnPositions = new Map<string, number>();
      replies.forEach((r, i) => {
        if (r.status === 'fulfilled') {
          const at = seqOf(r.value);
          registeredSeq = Math.max(registeredSeq, at);
          if (at >= 0) dnPositions.set(dns[i]!, at);
        }
        else if (r.reason instanceof ServerError) refused.push({ dn: dns[i]!, error: r.reason });
        else throw r.reason;
      });
      checkStopped();
      this.session = {
        role: this.role,
        link: this.link,
        sessionId: typeof sid === 'bigint' ? sid : typeof sid === 'number' ? BigInt(sid) : undefined,
        serverVersion: (getAttr(info, Attr.ServerVersion) as string | undefined) ?? undefined,
        serverSeq: seqOf(info),
        registeredSeq,
        connectedAt,
        openAt: monotonicMs(),
        linkFrame: this.linkFrame,
        linkReports: this.linkReports,
        epoch: epochOf(extensions),
        extensions,
        dns: [...dns],
        refused,
        dnPositions,
      };
      this.state = 'open';
      this.lastError = null;
      this.reportedAt = this.session.openAt;
      this.emit('open', this.session);
      return this.session;
    } catch (err) {
      // The attempt failed: make sure this connection is gone before the next one starts.
      if (gen === this.generation) await t.destroy();
      if (timedOut && !this.stopped) throw new HandshakeError(this.label, `no complete handshake within ${limitMs} ms`, err, true);
      // Connected, then lost before the handshake completed (a server that accepts and never answers is
      // found by ADDP first): a handshake failure, with the transport's error as its cause.
      if (err instanceof TransportError && connected && !this.stopped && err.code !== 'ERR_TRANSPORT_CLOSED') {
        throw new HandshakeError(this.label, `the connection failed during the handshake: ${err.message}`, err, err.code === 'ERR_ADDP_TIMEOUT');
      }
      if (err instanceof TransportError || err instanceof HandshakeError) throw err;
      throw new HandshakeError(this.label, (err as Error).message, err);
    } finally {
      clearTimeout(deadline);
      this.linkWaiter = undefined;
    }
  }

  /**
   * Send a request and wait for its reply or the connection's end. No deadline of its own: the handshake's
   * bounds its registrations, the pair's request book what the application waits for, and the connection's
   * end settles the pair's best-effort calls.
   */
  call(type: number, attrs: AttributeInput): Promise<MessageFrame> {
    return new Promise((resolve, reject) => {
      const ref = this.ctx.nextRef();
      try {
        this.send(ref, encodeMessage(type, { ...attrs, ReferenceID: ref }), {
          name: messageName(type),
          settle: (r) => (r instanceof Error ? reject(r) : resolve(r)),
        });
      } catch (err) {
        reject(err);
      }
    });
  }

  /** Write an encoded request whose ReferenceID is `ref`; `call` is settled by its reply or by the loss of the connection. */
  send(ref: number, bytes: Uint8Array, call: PendingCall): void {
    const t = this.transport;
    if (!t || (this.state !== 'open' && this.state !== 'registering')) {
      throw new TransportError('ERR_TRANSPORT_CLOSED', `${this.label} is not connected`);
    }
    // Registered first: a write can close the connection synchronously (queue overflow), and its close
    // must find this call to settle it.
    this.pending.set(ref, call);
    const start = this.outOffset;
    this.outOffset += bytes.byteLength;
    this.ends.set(ref, this.outOffset);
    try {
      t.send(bytes);
    } catch (err) {
      this.pending.delete(ref);
      this.ends.delete(ref);
      // Not accepted (unless the write closed the connection first: then its close has the count).
      if (this.transport === t) this.outOffset = start;
      throw err;
    }
  }

  /** Forget a call (its deadline passed or it was aborted); a late reply is then dropped. */
  forget(ref: number): boolean {
    this.ends.delete(ref);
    return this.pending.delete(ref);
  }

  /** Number of calls awaiting a reply. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /**
   * Whether a released window of this session holds an event numbered at or below its own DN's
   * registration position — proof that the server's numbering went back after the registrations (no event
   * of a DN precedes its registration). Only events at or below the session's registration point are read
   * (rarely any: those that arrived while later DNs were still registering), one attribute each.
   */
  numberingWentBackIn(batch: FrameBatch, firstSeenSeq = -1): boolean {
    const session = this.session;
    if (!session || session.dnPositions.size === 0) return false;
    // Every event comes after its own DN's registration, so after the lowest of them: one numbered at or
    // below that proves it too, whatever its DN — also when the window has evicted it (its lowest number
    // is kept).
    if (firstSeenSeq >= 0 && firstSeenSeq <= Math.min(...session.dnPositions.values())) return true;
    for (let i = 0; i < batch.count; i++) {
      const seq = batch.seq(i);
      if (seq < 0 || seq > session.registeredSeq) continue;
      const dn = getAttr(batch.frame(i), Attr.ThisDN);
      const at = typeof dn === 'string' ? session.dnPositions.get(dn) : undefined;
      if (at !== undefined && seq <= at) return true;
    }
    return false;
  }

  /** Hot standby: buffer sequence-numbered events again (this endpoint stops being the source). */
  hold(window: WindowOptions): void {
    if (!this.transport) return;
    this.transport.hold(window);
    // Mid-batch: the rest of this batch is already out of the transport, so this endpoint holds it.
    this.spill = this.cursor >= 0 ? { window: new HoldWindow<MessageFrame>(window), receivedAt: 0 } : null;
  }

  /**
   * What the hold window took since `hold()` (see {@link Transport.release}), including events of the batch
   * that was being delivered when hold() was called. From here on events are delivered as they come.
   */
  async release(afterSeq: number): Promise<ReleaseResult> {
    const t = this.transport;
    if (!t) throw new TransportError('ERR_TRANSPORT_CLOSED', `${this.label} is not connected`);
    const spill = this.spill;
    this.spill = null;
    if (!spill || spill.window.count === 0) return t.release(afterSeq);
    // Both parts unfiltered: "after afterSeq" is decided over the two as one (a numbering may restart between them).
    const tail = await t.release(-1);
    return concatReleases(spill.window.drain(-1, spill.receivedAt, (f) => f), tail, afterSeq);
  }

  /** Reset the current connection (failing away from this server); the owner may open it again. */
  async drop(reason: DropReason): Promise<void> {
    if (!this.transport) return;
    this.dropReason = reason;
    await this.transport.destroy();
  }

  /** Close for good: an attempt in progress is abandoned and no new one starts. */
  async shutdown(): Promise<void> {
    this.stopped = true;
    this.breaker?.shutdown();
    const t = this.transport;
    if (!t) return;
    if (this.state === 'open') await t.close();
    else await t.destroy();
  }

  private onFrames(batch: FrameBatch): void {
    try {
      this.deliverFrames(batch);
    } finally {
      this.cursor = -1;
    }
  }

  private deliverFrames(batch: FrameBatch): void {
    const gen = this.generation;
    for (let i = 0; i < batch.count; i++) {
      this.cursor = i;
      // Something done for an earlier frame of this batch (a listener, a write) closed the connection.
      if (gen !== this.generation || this.state === 'closed') return;
      const ref = batch.ref(i);
      const type = batch.type(i);
      // One classification for the endpoint, the windows and the checker (hold-rule.ts).
      switch (frameKind(type, ref)) {
        case FrameKind.Reply: {
          // A reply whose call already settled is dropped, never delivered as an event (docs/semantics.md).
          const call = this.pending.get(ref);
          if (!call) {
            this.ctx.onLateReply(this, type, ref);
            continue;
          }
          this.pending.delete(ref);
          this.ends.delete(ref);
          const frame = batch.frame(i);
          if (frame.type === MessageType.EventServerInfo) {
            const role = roleOf(getAttr(frame, Attr.ServerRole));
            if (role !== 'unknown') this.role = role;
          }
          if (frame.type === MessageType.EventError) {
            const code = getAttr(frame, Attr.ErrorCode);
            const msg = getAttr(frame, Attr.ErrorMessage);
            call.settle(new ServerError(call.name, typeof code === 'number' ? code : -1, typeof msg === 'string' ? msg : '', frame), false);
          } else {
            call.settle(frame, false);
          }
          continue;
        }
        case FrameKind.Link: {
          const up = type === MessageType.EventLinkConnected;
          const frame = batch.frame(i);
          const seq = seqOf(frame);
          // Track every report, also those that arrive while DNs are still registering; the pair hears
          // of changes only once the session is open (the session carries the state at that moment).
          this.link = up ? 'up' : 'down';
          this.linkFrame = frame;
          if (this.state !== 'open') this.noteLinkReport(up, seq);
          if (up) this.reportedAt = batch.receivedAt;
          if (this.linkWaiter) {
            this.linkWaiter({ up, frame });
            this.linkWaiter = undefined;
          }
          if (this.state === 'open') this.emit('link', up, frame, seq);
          continue;
        }
        case FrameKind.Position:
          // A registration or query answer without our ReferenceID answers nobody; its number is a
          // position, never an event's (docs/protocol.md): not delivered.
          continue;
        case FrameKind.Role: {
          const role = roleOf(getAttr(batch.frame(i), Attr.ServerRole));
          if (role !== 'unknown' && role !== this.role) {
            const prev = this.role;
            this.role = role;
            this.reportedAt = batch.receivedAt;
            if (this.state === 'open') this.emit('role', role, prev);
          }
          continue;
        }
      }
      const spill = this.spill;
      if (spill !== null && isHeldEvent(type, batch.seq(i), ref)) {
        if (spill.window.count === 0) spill.receivedAt = batch.receivedAt;
        // Bytes are counted where the batch knows them (native); the rest of one read is small anyway.
        spill.window.push(batch.frame(i), batch.seq(i), (batch as Partial<RawFrameBatch>).length?.(i) ?? 0);
        continue;
      }
      this.ctx.onEvent(this, batch, i);
    }
  }

  /**
   * Kept for the session's facts (an outage during the handshake is a hole in this connection's stream).
   * Bounded: past 64 reports the oldest down and the newest report stand for all (a wider hole, never a
   * missing one).
   */
  private noteLinkReport(up: boolean, seq: number): void {
    const r = this.linkReports;
    r.push({ up, seq });
    if (r.length > 64) {
      const firstDown = r.find((x) => !x.up);
      this.linkReports = firstDown ? [firstDown, r[r.length - 1]!] : [r[r.length - 1]!];
    }
  }

  private onClose(info: CloseInfo): void {
    const wasOpen = this.state === 'open';
    this.state = 'closed';
    this.transport = undefined;
    this.spill = null;
    const calls = [...this.pending];
    const ends = new Map(this.ends);
    this.pending.clear();
    this.ends.clear();
    const error = info.error ?? new TransportError('ERR_TRANSPORT_CLOSED', `${this.label} closed`);
    if (info.error) {
      this.lastError = info.error;
      this.lastErrorAt = monotonicMs();
    }
    // How far the outbound stream provably got: a frame that ends past what the kernel took never reached
    // the server whole, so it cannot have run. Trusted only when our count of the stream matches the
    // transport's (absent with TLS or a transport of one's own: every call is then in doubt).
    const out = info.outbound;
    const flushed = out && out.sent === this.outOffset ? out.flushed : Infinity;
    for (const [ref, c] of calls) c.settle(error, true, (ends.get(ref) ?? 0) > flushed);
    if (this.linkWaiter) this.linkWaiter({ up: false, frame: undefined });
    if (wasOpen) this.emit('lost', info, this.dropReason);
  }
}
