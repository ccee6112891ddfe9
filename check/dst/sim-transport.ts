/**
 * The {@link Transport} of the decision-core simulation: a connection to a {@link SimServer} in memory, on
 * the virtual clock. It keeps the transport contract the real ones keep (test/transport/conformance): the
 * hold rule, release order, one `close` per connection, ADDP detection of a silent peer.
 */
import { monotonicMs } from '../../lib/clock.js';
import { ProtocolError, TransportError } from '../../lib/errors.js';
import { decodeFrames } from '../../lib/protocol/decoder.js';
import { FrameKind } from '../../lib/protocol/constants.js';
import type { MessageFrame } from '../../lib/protocol/types.js';
import { NodeFrameBatch, seqOf, refOf } from '../../lib/transport/frame-batch.js';
import { HoldWindow } from '../../lib/transport/hold-window.js';
import { isHeldEvent } from '../../lib/transport/hold-rule.js';
import { TransportBase } from '../../lib/transport/transport-base.js';
import type { CloseReason, ReleaseResult, TransportOptions, WindowOptions } from '../../lib/transport/types.js';
import type { SimServer, World } from './world.js';
import { Attr, MessageType } from '../../lib/protocol/ids.js';


/** Frames whose EventSequenceNumber a client keeps as its session's position (switch events, handshake). */
/**
 * The numbers a session is told that a client can compare a restarted numbering with: switch events and the
 * handshake's EventServerInfo. Not EventRegistered: the client deliberately takes no proof of a restart from
 * positions in answers (docs/semantics.md), so a restart only they would reveal is left unjudged.
 */
const TOLD = new Set<number>([MessageType.EventRouteRequest, MessageType.EventRinging, MessageType.EventEstablished, MessageType.EventReleased, MessageType.EventServerInfo]);

/** The server side of one connection: what the server queued for the client, what the client sent. */
export class SimConnection {
  readonly dns = new Set<string>();
  readonly id: number;
  registered = false;
  /**
   * The last sequence number this session was told by a switch event or a handshake position
   * (EventServerInfo): what a client can compare a restarted numbering with (see TOLD).
   */
  toldSeq = -1;
  /** toldSeq when the server last renumbered in place, until the session is told its next number; else -1. */
  toldAtRenumber = -1;
  private open = true;
  private pollWaiting: (() => void) | null = null;
  private out: MessageFrame[] = [];
  private requests: MessageFrame[] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  private requestTimer: NodeJS.Timeout | undefined;

  constructor(readonly server: SimServer, private readonly client: SimTransport) {
    server.conns.add(this);
    this.id = ++server.world.connections;
  }

  private get stalled(): boolean {
    return this.server.hung || this.server.silent;
  }

  toClient(f: MessageFrame): void {
    if (!this.open) return;
    if (TOLD.has(f.type)) {
      const v = f.attributes.find((a) => a.id === Attr.EventSequenceNumber)?.value;
      if (typeof v === 'bigint' || typeof v === 'number') {
        this.toldSeq = Number(v);
        // The first number after an in-place renumbering decides whether this session could see it at all:
        // an event's if it is above the last one, a position's (EventServerInfo) if it is not below it — an
        // equal position proves nothing (no event came in between), and every later number is above it.
        const position = f.type === MessageType.EventServerInfo;
        if (this.toldAtRenumber >= 0 && (position ? this.toldSeq >= this.toldAtRenumber : this.toldSeq > this.toldAtRenumber)) this.server.world.invisibleRenumber = true;
        this.toldAtRenumber = -1;
      }
    }
    this.out.push(f);
    if (!this.stalled) this.scheduleFlush();
  }

  fromClient(f: MessageFrame): void {
    if (!this.open) return;
    this.requests.push(f);
    this.scheduleRequests();
  }

  /** The server can read and write again (SIGCONT, end of silence). */
  resumed(): void {
    if (this.out.length) this.scheduleFlush();
    if (this.requests.length) this.scheduleRequests();
    // A poll that arrived while the server read nothing waited in its socket: it is answered now.
    const answer = this.pollWaiting;
    this.pollWaiting = null;
    if (answer && this.answersPolls) setTimeout(answer, this.server.world.opts.netDelayMs);
  }

  /** An ADDP poll reached the server: answered one network delay later, or on resume if it reads nothing now. */
  poll(answer: () => void): void {
    if (!this.open) return;
    if (this.answersPolls) setTimeout(answer, this.server.world.opts.netDelayMs);
    else this.pollWaiting = answer;
  }

  /** The server closed the connection (killed, demoted warm server). */
  serverClose(reason: CloseReason): void {
    if (!this.detach()) return;
    this.client.peerClosed(reason);
  }

  /** The client went away. */
  detach(): boolean {
    if (!this.open) return false;
    this.open = false;
    this.server.conns.delete(this);
    clearTimeout(this.flushTimer);
    clearTimeout(this.requestTimer);
    return true;
  }

  /** Whether polls are answered (ADDP): the server process reads and writes. */
  get answersPolls(): boolean {
    return this.open && this.server.responsive;
  }

  private scheduleFlush(): void {
    if (this.flushTimer) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      if (!this.open || this.stalled || this.out.length === 0) return;
      const batch = this.out;
      this.out = [];
      this.client.deliver(batch);
    }, this.server.world.opts.netDelayMs);
  }

  private scheduleRequests(): void {
    if (this.requestTimer) return;
    this.requestTimer = setTimeout(() => {
      this.requestTimer = undefined;
      if (!this.open || this.stalled) return;
      const reqs = this.requests;
      this.requests = [];
      for (const r of reqs) {
        if (!this.open) return;
        this.server.request(this, r);
      }
    }, this.server.world.opts.netDelayMs + this.server.latencyMs);
  }
}

/**
 * The client end. Its lifecycle (states, connect promise and deadline, close()/destroy(), the one `close`
 * event) is the real transports' own (TransportBase); only the I/O is simulated.
 */
export class SimTransport extends TransportBase {
  readonly kind = 'dst';
  /** A close takes one turn of the virtual clock, as a socket's does; nothing needs a grace deadline. */
  protected readonly closeGraceMs = 0;
  /** Why it closed (for the checker: a handshake deadline closes it locally). */
  closeReason: CloseReason | undefined;
  private conn: SimConnection | undefined;
  private window: HoldWindow<MessageFrame> | null = null;
  private lastRx = 0;
  private polling = false;
  private addpTimer: NodeJS.Timeout | undefined;

  constructor(private readonly world: World, opts: TransportOptions) {
    super(opts, 'node');
  }

  protected startConnect(): void {
    const server = this.world.serverAt(this.opts.port);
    setTimeout(() => {
      if (this.state !== 'connecting') return;
      if (!server?.listening) {
        this.lost('connect-refused', new TransportError('ERR_CONNECT_REFUSED', `connect to ${this.opts.port} refused`, { syscallCode: 'ECONNREFUSED' }));
        return;
      }
      // A hung or silent server's kernel still accepts: the handshake is what times out.
      this.conn = new SimConnection(server, this);
      const now = monotonicMs();
      this.lastRx = now;
      this.armAddp();
      this.opened(now);
    }, this.world.opts.netDelayMs);
  }

  send(bytes: Uint8Array): void {
    if (this.state !== 'open' || !(bytes instanceof Uint8Array)) this.refuseSend();
    for (const f of decodeFrames(bytes)) if (f.kind === FrameKind.Message) this.conn!.fromClient(f);
  }

  hold(window: WindowOptions): void {
    this.window = new HoldWindow<MessageFrame>(window);
  }

  release(afterSeq: number): Promise<ReleaseResult> {
    const w = this.window;
    this.window = null;
    const result: ReleaseResult = w ? w.drain(afterSeq, monotonicMs(), (f) => f) : { batch: new NodeFrameBatch([], monotonicMs()), evictedUpTo: -1, firstSeenSeq: -1, lastSeenSeq: -1, seqDecreased: false };
    // A round trip, like the native transport's release on its I/O thread.
    return new Promise((resolve) => setTimeout(() => resolve(result), 0));
  }

  /** Frames from the server, in order: held (hot-standby window) or emitted as one batch. */
  deliver(frames: MessageFrame[]): void {
    if (this.state !== 'open') return;
    this.lastRx = monotonicMs();
    this.polling = false;
    let out = frames;
    if (this.window) {
      out = [];
      for (const f of frames) {
        const seq = seqOf(f);
        if (isHeldEvent(f.type, seq, refOf(f))) this.window.push(f, seq, 100);
        else out.push(f);
      }
    }
    if (out.length) this.emit('frames', new NodeFrameBatch(out, this.lastRx));
  }

  peerClosed(reason: CloseReason): void {
    if (reason === 'protocol-error') {
      this.lost(reason, new ProtocolError('ERR_BAD_VERSION', 'the server sent a frame with a bad version byte', 0));
      return;
    }
    this.lost(reason, new TransportError(reason === 'peer-reset' ? 'ERR_PEER_RESET' : 'ERR_PEER_CLOSED', `server closed the connection (${reason})`));
  }

  protected closeGracefully(): void {
    this.endIo();
  }

  protected endIo(): boolean {
    this.conn?.detach();
    // Asynchronous, as a socket's close is.
    setTimeout(() => this.finish('local'), 0);
    return false;
  }

  protected onClosed(reason: CloseReason): void {
    this.closeReason = reason;
    clearTimeout(this.addpTimer);
    this.conn?.detach();
  }

  protected flushedAtClose(): number {
    return -1;
  }

  private lost(reason: CloseReason, error: TransportError | ProtocolError): void {
    if (this.state === 'closed') return;
    this.ts.lossDetectedAt = monotonicMs();
    this.finish(reason, error);
  }

  /** ADDP as docs/protocol.md has it: poll after T/2 of silence, lost after T. */
  private armAddp(): void {
    const T = this.valid.addpTimeoutMs;
    if (T === 0) return;
    const check = () => {
      if (this.state !== 'open') return;
      const quiet = monotonicMs() - this.lastRx;
      if (quiet >= T) {
        this.lost('addp-timeout', new TransportError('ERR_ADDP_TIMEOUT', `no byte for ${T} ms`));
        return;
      }
      if (quiet >= T / 2 && !this.polling) {
        this.polling = true;
        const conn = this.conn;
        const answered = () => {
          if (this.state !== 'open' || this.conn !== conn) return;
          this.lastRx = monotonicMs();
          this.polling = false;
        };
        setTimeout(() => conn?.poll(answered), this.world.opts.netDelayMs);
      }
      this.addpTimer = setTimeout(check, Math.max(1, T / 4));
    };
    this.addpTimer = setTimeout(check, Math.max(1, T / 4));
  }
}
