/**
 * A scriptable T-Server-like peer, the one test instrument for transport, pair and native tests and the
 * benchmarks' event source (not the simulator: no switch, no HA link, no calls). A TCP (or TLS) server on
 * loopback speaking docs/protocol.md with the library's codec:
 *  - answers the handshake (EventServerInfo + EventLinkConnected), RequestRegisterAddress,
 *    RequestQueryServer, and EventACK to any other request with a ReferenceID (the answers of frames.ts);
 *  - answers ADDP polls, and optionally runs its own ADDP timer (drops a client that stops answering);
 *  - each accepted connection can be scripted (send frames, raw bytes, byte by byte, go silent, reset, end,
 *    wait for a received message);
 *  - streams pre-encoded EventRouteRequest frames at a rate (or as fast as the sockets take) to every
 *    registered connection, the same bytes to all of them;
 *  - with `backupPort`, a second listener whose connections are told ServerRole 1: one peer is then both
 *    servers of a hot pair.
 *
 * In-process: `ScriptedPeer.start(options)` (test/helpers/peer.ts re-exports it as TestPeer). In its own
 * process (so a test can SIGSTOP it, a benchmark feed events from another core): scripted-peer-main.ts,
 * forked by test/helpers/child-peer.ts. Not part of the package's public entry points.
 */
import { once } from 'node:events';
import * as net from 'node:net';
import * as tls from 'node:tls';
import {
  Attr, FrameDecoder, FrameKind, MessageType, encodeAddp, encodeMessage, getAttr, int64,
  type AttributeInput, type Frame, type MessageFrame,
} from '../protocol/index.js';
import {
  EventBlock, addressInfoAnswer, buildTemplate, linkConnectedAnswer, referenceOf, registeredAnswer, serverInfoAnswer,
  type ServerFacts,
} from './frames.js';

export interface ScriptedPeerOptions {
  host?: string;
  /** Port of the (primary) listener; 0 / absent = an ephemeral one. */
  port?: number;
  /** TLS server credentials (PEM). */
  tls?: { key: string | Buffer; cert: string | Buffer };
  /** The peer's own ADDP: poll after this much silence, drop the connection after as much again. 0 = off. */
  addpTimeoutMs?: number;
  /** Answer RequestRegisterClient and other requests automatically. Default true. */
  autoReply?: boolean;
  /** listen() backlog. */
  backlog?: number;
  /** ServerRole this peer reports in EventServerInfo (default 0, primary). */
  role?: 0 | 1;
  /** Answer nothing at all, ADDP polls included (a server that accepts and then says nothing). */
  silent?: boolean;
  /** Open a second listener whose connections are told ServerRole 1 (same events): see `backupPort`. */
  backupPort?: boolean;
  /** Make each streamed event this many bytes bigger (an extra string attribute): big events. */
  padBytes?: number;
  /**
   * The position the peer reports before it streamed anything (EventServerInfo, EventRegistered,
   * EventAddressInfo); streamed events are numbered from `seqBase + 1`, and so are each connection's
   * `sendEvent()`s. Default 1000.
   */
  seqBase?: number;
  /** TCP_NODELAY on accepted sockets. Default false (the kernel default). */
  noDelay?: boolean;
  /** Keep what each connection receives (`received`, `addpPollsReceived`, …). Default true. */
  record?: boolean;
}

/** Counters of a peer (the child's `stats` command). */
export interface ScriptedPeerStats {
  /** Events streamed (each once, however many connections got it). */
  sent: number;
  /** Last streamed sequence number (`seqBase` before any). */
  seq: number;
  /** Connections this peer dropped because its own ADDP timer expired. */
  addpDrops: number;
  /** Connections open now. */
  connections: number;
}

/** Who the peer says it is (frames.ts's answers). */
const FACTS: Omit<ServerFacts, 'role'> = { version: '8.1.000.00-test', sessionId: 42n, startTime: 1_700_000_000 };
const APP_NAME = 'test-peer';
/** EventLinkConnected's time: fixed, so every handshake answer is the same bytes. */
const LINK_AT_MS = 1_700_000_000_000;

/** Events per pre-encoded block (and per write at most). */
const BLOCK = 256;

/**
 * The streamed event: EventRouteRequest on 5001 laid out by buildTemplate (EventSequenceNumber first, at a
 * fixed offset), with a call's usual attributes and the template's ConnID and time set once.
 */
function streamFrame(padBytes: number): Buffer {
  const extra: { -readonly [k in keyof AttributeInput]: AttributeInput[k] } = {
    ANI: '+15551230000', DNIS: '8001', CallType: 2,
    UserData: { CustomerSegment: 'gold', Language: 'en', Attempt: 1 },
  };
  // An extra string attribute (id 52) making each event `padBytes` bigger.
  if (padBytes > 0) extra[52] = 'x'.repeat(padBytes);
  const t = buildTemplate(MessageType.EventRouteRequest, '5001', extra);
  const b = Buffer.from(t.bytes);
  b.writeBigInt64BE(0x1234567n, t.connIdOffset);
  b.writeInt32BE(1_700_000_000, t.secsOffset);
  return b;
}

/** One accepted connection, seen from the peer. */
export class ScriptedConnection {
  readonly received: MessageFrame[] = [];
  readonly addpPollsReceived: number[] = [];
  readonly addpRepliesReceived: number[] = [];
  /** Answer ADDP polls (false = let the client's ADDP time us out while we still talk). */
  answerPolls = true;
  /** Whether the socket is gone; `ended` resolves with how it ended. */
  gone = false;
  /** Whether the handshake was answered: streamed events go to registered connections only. */
  registered = false;
  readonly ended: Promise<'end' | 'error' | 'close'>;
  private waiters: Array<() => void> = [];
  private readonly decoder = new FrameDecoder({ maxFrameSize: 64 * 1024 * 1024 });
  private seq: number;
  private lastRx = Date.now();
  private addpTimer: NodeJS.Timeout | null = null;
  private pollToken = 0;
  private pollSent = -1;
  /** Set by silence(): received bytes are ignored from then on. */
  private stopped = false;
  private readonly record: boolean;

  constructor(
    readonly socket: net.Socket,
    private readonly peer: ScriptedPeer,
    private readonly options: ScriptedPeerOptions,
    /** ServerRole this connection is told. */
    readonly role: 0 | 1 = options.role ?? 0,
  ) {
    this.seq = options.seqBase ?? 1000;
    this.record = options.record !== false;
    if (options.silent) this.answerPolls = false;
    if (options.noDelay) socket.setNoDelay(true);
    let endedHow: 'end' | 'error' | 'close' = 'close';
    socket.on('end', () => (endedHow = 'end'));
    socket.on('error', () => (endedHow = 'error'));
    this.ended = new Promise((resolve) => socket.on('close', () => {
      this.gone = true;
      if (this.addpTimer) clearTimeout(this.addpTimer);
      resolve(endedHow);
      this.notify();
    }));
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    if (options.addpTimeoutMs) this.armAddp(options.addpTimeoutMs);
  }

  /** Send one message frame. */
  send(type: number, attrs: AttributeInput): void {
    this.sendRaw(encodeMessage(type, attrs));
  }

  /** Send bytes as they are (valid or not). */
  sendRaw(bytes: Uint8Array): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  /** Send a sequenced event (EventRouteRequest by default) with the next sequence number, or the given one. */
  sendEvent(seq?: number, type: number = MessageType.EventRouteRequest): number {
    const s = seq ?? ++this.seq;
    this.send(type, { ThisDN: '5001', ConnID: int64(0x1000n + BigInt(s)), EventSequenceNumber: int64(s) });
    return s;
  }

  /** Write `bytes` one byte per write, `delayMs` apart (the client must reassemble them). */
  async sendByteByByte(bytes: Uint8Array, delayMs = 1): Promise<void> {
    this.socket.setNoDelay(true);
    for (const b of bytes) {
      if (this.socket.destroyed) return;
      this.socket.write(Uint8Array.of(b));
      await new Promise((r) => setTimeout(r, delayMs));
    }
  }

  /** Send an ADDP poll to the client. */
  poll(token: number): void {
    this.sendRaw(encodeAddp(token));
  }

  /** Stop reading, writing and answering: the socket stays open but the peer is silent. */
  silence(): void {
    this.answerPolls = false;
    if (this.addpTimer) clearTimeout(this.addpTimer);
    this.socket.pause();
    this.stopped = true;
  }

  /** Abortive close (RST). */
  reset(): void {
    this.socket.resetAndDestroy();
  }

  /** Orderly close (FIN). */
  end(): void {
    this.socket.end();
  }

  /** Resolve when a received message satisfies `pred` (checks past ones too). */
  async waitFor(pred: (f: MessageFrame) => boolean, timeoutMs = 5000): Promise<MessageFrame> {
    return this.until(() => this.received.find(pred), timeoutMs, 'message');
  }

  /** Resolve when `cond` returns a value other than undefined/false, re-checked on every received frame. */
  async until<T>(cond: () => T | undefined | false, timeoutMs = 5000, what = 'condition'): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = cond();
      if (v !== undefined && v !== false) return v as T;
      const left = deadline - Date.now();
      if (left <= 0 || this.gone) throw new Error(`peer: ${what} not seen within ${timeoutMs} ms${this.gone ? ' (connection gone)' : ''}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 50));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  private notify(): void {
    if (this.waiters.length > 0) for (const w of this.waiters.splice(0)) w();
  }

  private onData(chunk: Buffer): void {
    if (this.stopped) return;
    this.lastRx = Date.now();
    try {
      this.decoder.write(chunk, (f) => this.onFrame(f));
    } catch {
      this.socket.destroy();
    }
    this.notify();
  }

  private onFrame(f: Frame): void {
    if (f.kind === FrameKind.AddpPoll) {
      if (this.record) this.addpPollsReceived.push(f.token);
      if (this.answerPolls) this.sendRaw(encodeAddp(f.token, true));
      return;
    }
    if (f.kind === FrameKind.AddpReply) {
      if (this.record) this.addpRepliesReceived.push(f.token);
      return;
    }
    const m = f as MessageFrame;
    if (this.record) this.received.push(m);
    if (this.options.autoReply !== false) this.peer.reply(this, m);
  }

  private armAddp(ms: number): void {
    this.addpTimer = setTimeout(() => {
      const T = this.options.addpTimeoutMs!;
      const now = Date.now();
      if (this.pollSent >= 0 && this.lastRx >= this.pollSent) this.pollSent = -1;
      if (this.pollSent < 0) {
        if (now - this.lastRx < T) return this.armAddp(T - (now - this.lastRx));
        this.pollSent = now;
        this.poll(++this.pollToken);
        return this.armAddp(T);
      }
      if (now - this.pollSent < T) return this.armAddp(T - (now - this.pollSent));
      // Timers run before I/O in a loop turn: after a scheduling delay (a busy machine, a process not
      // scheduled for a while) the reply may be waiting unread in the socket. Let pending reads run first
      // (setImmediate comes after the poll phase), then decide: a client that really stopped answering is
      // still dropped, one turn later.
      this.addpTimer = null;
      setImmediate(() => {
        if (this.gone || this.stopped || this.addpTimer !== null) return;
        if (this.lastRx >= this.pollSent) return this.armAddp(1);
        this.peer.addpDrops++;
        this.socket.destroy();
      });
    }, Math.max(1, ms));
  }
}

/** The listening peer. */
export class ScriptedPeer {
  /** Every connection accepted, in order (closed ones included). */
  readonly connections: ScriptedConnection[] = [];
  /** Connections this peer dropped because its own ADDP timer expired. */
  addpDrops = 0;
  private readonly server: net.Server;
  private readonly backupServer: net.Server | undefined;
  private connWaiters: Array<(c: ScriptedConnection) => void> = [];
  private readonly open = new Set<ScriptedConnection>();
  // Streaming.
  private block: EventBlock | undefined;
  private streamSeq: number;
  private sent = 0;
  private streamTimer: NodeJS.Timeout | undefined;

  private constructor(readonly options: ScriptedPeerOptions) {
    this.streamSeq = options.seqBase ?? 1000;
    const listener = (role: 0 | 1) => (s: net.Socket) => {
      const c = new ScriptedConnection(s, this, options, role);
      this.connections.push(c);
      this.open.add(c);
      s.on('close', () => this.open.delete(c));
      const w = this.connWaiters.shift();
      if (w) w(c);
    };
    const create = (role: 0 | 1) => {
      const srv = options.tls
        ? tls.createServer({ key: options.tls.key, cert: options.tls.cert }, listener(role))
        : net.createServer(listener(role));
      srv.on('error', () => {});
      return srv;
    };
    this.server = create(options.role ?? 0);
    // With `backupPort`: a second listener whose connections are told ServerRole 1.
    this.backupServer = options.backupPort ? create(1) : undefined;
  }

  /** Start listening on loopback (an ephemeral port unless `options.port`). */
  static async start(options: ScriptedPeerOptions = {}): Promise<ScriptedPeer> {
    const p = new ScriptedPeer(options);
    const host = options.host ?? '127.0.0.1';
    const listen = async (srv: net.Server, port: number) => {
      srv.listen({ host, port, backlog: options.backlog });
      await once(srv, 'listening'); // rejects on 'error' (EADDRINUSE, no such address)
    };
    await listen(p.server, options.port ?? 0);
    if (p.backupServer) await listen(p.backupServer, 0);
    return p;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  get host(): string {
    return (this.server.address() as net.AddressInfo).address;
  }

  /** With `backupPort`: the port whose connections are told ServerRole 1. */
  get backupPort(): number | undefined {
    return this.backupServer ? (this.backupServer.address() as net.AddressInfo).port : undefined;
  }

  /** Bytes of one streamed event. */
  get frameBytes(): number {
    return this.events().frameBytes;
  }

  /** The position the peer reports: the last streamed sequence number (`seqBase` before any). */
  get position(): number {
    return this.streamSeq;
  }

  /** The next accepted connection (or the first one not yet handed out). */
  nextConnection(timeoutMs = 5000): Promise<ScriptedConnection> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`peer: no connection within ${timeoutMs} ms`)), timeoutMs);
      this.connWaiters.push((c) => {
        clearTimeout(t);
        resolve(c);
      });
    });
  }

  /**
   * Default replies (replace this method to script others): handshake, queries, registrations, EventACK
   * for anything else with a ReferenceID.
   */
  reply(c: ScriptedConnection, f: MessageFrame): void {
    const ref = referenceOf(f);
    const server = { ...FACTS, role: c.role };
    switch (f.type) {
      case MessageType.RequestRegisterClient:
        c.send(MessageType.EventServerInfo, serverInfoAnswer(server, this.position, ref, { 'addp-timeout': this.options.addpTimeoutMs ?? 0 }));
        c.send(MessageType.EventLinkConnected, linkConnectedAnswer(APP_NAME, FACTS.sessionId, LINK_AT_MS));
        c.registered = true;
        return;
      case MessageType.RequestQueryServer:
        c.send(MessageType.EventAddressInfo, addressInfoAnswer(server, this.position, ref));
        return;
      case MessageType.RequestRegisterAddress:
        c.send(MessageType.EventRegistered, registeredAnswer(String(getAttr(f, Attr.ThisDN) ?? ''), ref, this.position));
        return;
      default:
        if (ref.ReferenceID !== undefined) c.send(MessageType.EventACK, ref);
    }
  }

  /**
   * Stream EventRouteRequest frames to every registered connection, the same bytes (same sequence
   * numbers) to all: `rate` events/s, or 0 = as fast as the sockets take (each socket's queue kept at
   * ~1 MiB); written `batch` (≤ 256) events per write.
   */
  stream(rate: number, batch = 64): void {
    this.stopStream();
    const events = this.events();
    const t0 = process.hrtime.bigint();
    let offered = 0;
    const tick = () => {
      const targets: net.Socket[] = [];
      for (const c of this.open) if (c.registered && !c.socket.destroyed) targets.push(c.socket);
      if (targets.length === 0) return;
      let n: number;
      if (rate > 0) {
        const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
        n = Math.min(Math.floor(elapsed * rate) - offered, BLOCK * 64);
        if (n <= 0) return;
        offered += n;
      } else {
        // Saturation: keep every socket's queue topped up to ~1 MiB.
        for (const s of targets) if (s.writableLength > 1 << 20) return;
        n = BLOCK * 16;
      }
      while (n > 0) {
        const k = Math.min(n, batch, BLOCK);
        const b = events.take(k, this.streamSeq + 1);
        this.streamSeq += k;
        for (const s of targets) if (s.writableLength < 64 << 20) s.write(b);
        this.sent += k;
        n -= k;
      }
    };
    this.streamTimer = setInterval(tick, 1);
  }

  stopStream(): void {
    if (this.streamTimer) clearInterval(this.streamTimer);
    this.streamTimer = undefined;
  }

  stats(): ScriptedPeerStats {
    return { sent: this.sent, seq: this.streamSeq, addpDrops: this.addpDrops, connections: this.open.size };
  }

  /** Stop streaming and listening, and drop every connection. */
  async close(): Promise<void> {
    this.stopStream();
    for (const c of this.connections) c.socket.destroy();
    const closing = (srv: net.Server) => new Promise<void>((resolve) => srv.close(() => resolve()));
    await Promise.all([closing(this.server), ...(this.backupServer ? [closing(this.backupServer)] : [])]);
  }

  private events(): EventBlock {
    return (this.block ??= new EventBlock(streamFrame(this.options.padBytes ?? 0), BLOCK));
  }
}
