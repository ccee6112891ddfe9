/**
 * A real, scriptable T-Server-like peer for transport tests: a TCP (or TLS) server on loopback speaking
 * docs/protocol.md with the TS codec. It answers the handshake and requests by ReferenceID, answers ADDP
 * polls, can run its own ADDP timer, and each accepted connection can be scripted (send frames, send bytes
 * one by one, go silent, reset, end).
 */
import { once } from 'node:events';
import * as net from 'node:net';
import * as tls from 'node:tls';
import {
  Attr, FrameDecoder, FrameKind, MessageType, encodeAddp, encodeMessage, getAttr, int64,
  type AttributeInput, type Frame, type MessageFrame,
} from '../../lib/protocol/index.js';

export interface PeerOptions {
  host?: string;
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
}

/** One accepted connection, seen from the peer. */
export class PeerConnection {
  readonly received: MessageFrame[] = [];
  readonly addpPollsReceived: number[] = [];
  readonly addpRepliesReceived: number[] = [];
  /** Answer ADDP polls (false = let the client's ADDP time us out while we still talk). */
  answerPolls = true;
  /** Whether the socket is gone; `ended` resolves with how it ended. */
  gone = false;
  readonly ended: Promise<'end' | 'error' | 'close'>;
  private waiters: Array<() => void> = [];
  private readonly decoder = new FrameDecoder({ maxFrameSize: 64 * 1024 * 1024 });
  private seq = 1000;
  private lastRx = Date.now();
  private addpTimer: NodeJS.Timeout | null = null;
  private pollToken = 0;
  private pollSent = -1;
  /** Set by silence(): received bytes are ignored from then on. */
  private stopped = false;

  constructor(readonly socket: net.Socket, private readonly peer: TestPeer, private readonly options: PeerOptions) {
    if (options.silent) this.answerPolls = false;
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
    for (const w of this.waiters.splice(0)) w();
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
      this.addpPollsReceived.push(f.token);
      if (this.answerPolls) this.sendRaw(encodeAddp(f.token, true));
      return;
    }
    if (f.kind === FrameKind.AddpReply) {
      this.addpRepliesReceived.push(f.token);
      return;
    }
    const m = f as MessageFrame;
    this.received.push(m);
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
      // Timers run before I/O in a loop turn: after a scheduling delay the reply may be waiting unread in
      // the socket. Let pending reads run first (setImmediate comes after the poll phase), then decide.
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
export class TestPeer {
  readonly connections: PeerConnection[] = [];
  /** Connections this peer dropped because its own ADDP timer expired. */
  addpDrops = 0;
  private readonly server: net.Server;
  private connWaiters: Array<(c: PeerConnection) => void> = [];

  private constructor(readonly options: PeerOptions) {
    const onSocket = (s: net.Socket) => {
      const c = new PeerConnection(s, this, options);
      this.connections.push(c);
      const w = this.connWaiters.shift();
      if (w) w(c);
    };
    this.server = options.tls
      ? tls.createServer({ key: options.tls.key, cert: options.tls.cert }, onSocket)
      : net.createServer(onSocket);
    this.server.on('error', () => {});
  }

  /** Start listening on an ephemeral loopback port. */
  static async start(options: PeerOptions = {}): Promise<TestPeer> {
    const p = new TestPeer(options);
    p.server.listen({ host: options.host ?? '127.0.0.1', port: 0, backlog: options.backlog });
    await once(p.server, 'listening');
    return p;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  get host(): string {
    return (this.server.address() as net.AddressInfo).address;
  }

  /** The next accepted connection (or the first one not yet handed out). */
  nextConnection(timeoutMs = 5000): Promise<PeerConnection> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`peer: no connection within ${timeoutMs} ms`)), timeoutMs);
      this.connWaiters.push((c) => {
        clearTimeout(t);
        resolve(c);
      });
    });
  }

  /** Default replies: handshake, queries, registrations, EventACK for anything else with a ReferenceID. */
  reply(c: PeerConnection, f: MessageFrame): void {
    const ref = getAttr(f, Attr.ReferenceID);
    const refAttr = typeof ref === 'number' ? { ReferenceID: ref } : {};
    switch (f.type) {
      case MessageType.RequestRegisterClient:
        c.send(MessageType.EventServerInfo, {
          ServerRole: this.options.role ?? 0, ServerVersion: '8.1.000.00-test', SessionID: int64(42n), ServerStartTime: 1_700_000_000,
          EventSequenceNumber: int64(1000n), ...refAttr, Extensions: { 'addp-timeout': this.options.addpTimeoutMs ?? 0 },
        });
        c.send(MessageType.EventLinkConnected, { ApplicationName: 'test-peer', SessionID: int64(42n), TimeinSecs: 1_700_000_000, TimeinuSecs: 0 });
        return;
      case MessageType.RequestQueryServer:
        c.send(MessageType.EventAddressInfo, { ServerVersion: '8.1.000.00-test', ServerRole: 0, EventSequenceNumber: int64(1000n), ...refAttr });
        return;
      case MessageType.RequestRegisterAddress:
        c.send(MessageType.EventRegistered, { ThisDN: String(getAttr(f, Attr.ThisDN) ?? ''), ...refAttr, EventSequenceNumber: int64(1000n) });
        return;
      default:
        if (typeof ref === 'number') c.send(MessageType.EventACK, refAttr);
    }
  }

  /** Stop listening and drop every connection. */
  async close(): Promise<void> {
    for (const c of this.connections) c.socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
