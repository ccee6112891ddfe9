/**
 * One client connection to a simulated T-Server: handshake, requests, ADDP, batched event delivery.
 */
import type net from 'node:net';
import {
  Attr,
  FrameDecoder,
  FrameKind,
  MessageType,
  ProtocolError,
  encodeAddp,
  encodeMessage,
  getAttr,
  type AttributeInput,
  type KVPair,
  type MessageFrame,
} from '../protocol/index.js';
import { ErrorCode } from '../protocol/ids.js';
import { BatchWriter } from './frames.js';

/** ErrorCode values the simulated T-Server puts in EventError: the protocol's table (docs/protocol.md). */
export const SimErrorCode = ErrorCode;

/** What a session needs from its server. */
export interface SessionHost {
  readonly silent: boolean;
  readonly latencyMs: number;
  /** Fault: send every reply (a frame with a ReferenceID) twice. */
  readonly duplicateReplies: boolean;
  readonly addpEnforce: boolean;
  readonly clientBufferLimit: number;
  handleRequest(session: Session, frame: MessageFrame): void;
  sessionClosed(session: Session, reason: string): void;
  markDirty(session: Session): void;
}

let nextId = 1;

/** A connected client. */
export class Session {
  readonly id = nextId++;
  registered = false;
  appName = '';
  /** The link report this client was last sent (up/down and its position), so changes are told once. */
  linkShown: { up: boolean; seq: number } | undefined;
  readonly dns = new Set<string>();
  readonly out = new BatchWriter();
  private readonly decoder: FrameDecoder;
  private lastHeard = Date.now();
  private pollSentAt = 0;
  private addpTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private token = 1;

  constructor(
    readonly socket: net.Socket,
    private readonly host: SessionHost,
    maxFrameSize: number,
  ) {
    this.decoder = new FrameDecoder({ maxFrameSize });
    socket.setNoDelay(true);
    socket.on('data', (chunk) => this.onData(chunk));
    socket.on('error', () => {});
    socket.on('close', () => this.close('client closed the connection'));
  }

  private onData(chunk: Buffer): void {
    this.lastHeard = Date.now();
    this.pollSentAt = 0;
    try {
      this.decoder.write(chunk, (f) => {
        if (f.kind === FrameKind.AddpPoll) this.sendRaw(encodeAddp(f.token, true));
        else if (f.kind === FrameKind.Message) {
          if (this.host.latencyMs > 0) setTimeout(() => !this.closed && this.host.handleRequest(this, f), this.host.latencyMs);
          else this.host.handleRequest(this, f);
        }
      });
    } catch (err) {
      if (err instanceof ProtocolError) {
        // A framing error poisons the stream: say why, then close (docs/protocol.md).
        this.sendRaw(encodeMessage(MessageType.EventError, { ErrorCode: err.errno, ErrorMessage: `${err.code}: ${err.message}` }));
        this.socket.end();
        this.close(`framing error ${err.code}`);
      } else throw err;
    }
  }

  /** Start server-side ADDP with the client's announced remote timeout (when enforcement is on). */
  startAddp(remoteTimeoutMs: number): void {
    if (this.addpTimer) clearInterval(this.addpTimer);
    this.addpTimer = undefined;
    if (!this.host.addpEnforce || remoteTimeoutMs <= 0) return;
    this.addpTimer = setInterval(() => {
      if (this.host.silent) return;
      const now = Date.now();
      if (this.pollSentAt === 0 && now - this.lastHeard >= remoteTimeoutMs) {
        this.pollSentAt = now;
        this.sendRaw(encodeAddp(this.token++));
      } else if (this.pollSentAt !== 0 && now - this.pollSentAt >= remoteTimeoutMs) {
        this.socket.destroy();
        this.close('ADDP timeout: client silent');
      }
    }, Math.max(5, Math.floor(remoteTimeoutMs / 4)));
    this.addpTimer.unref();
  }

  /** Reply to a request (or announce); queued behind events already batched, so order is kept. */
  send(type: number, attrs: AttributeInput): void {
    const b = encodeMessage(type, attrs);
    this.out.push(b, 0, b.length);
    // Fault: a reply (a frame with a ReferenceID) is followed at once by an identical copy.
    if (this.host.duplicateReplies && attrs.ReferenceID !== undefined) this.out.push(b, 0, b.length);
    this.host.markDirty(this);
  }

  /** Write bytes now (after whatever is batched), bypassing nothing but the batch. */
  sendRaw(b: Buffer): void {
    this.out.push(b, 0, b.length);
    this.flush();
  }

  /** Reply EventError to `req`. */
  error(req: MessageFrame | undefined, code: number, message: string): void {
    const ref = req ? getAttr(req, Attr.ReferenceID) : undefined;
    this.send(MessageType.EventError, { ...(typeof ref === 'number' ? { ReferenceID: ref } : {}), ErrorCode: code, ErrorMessage: message });
  }

  /** Write the batch unless the server is silent (then it waits, as bytes wait in a partitioned network). */
  flush(): void {
    if (this.closed || !this.out.pending) return;
    if (this.host.silent) {
      // Bytes wait while silent, but not without bound: a real kernel buffer would fill too.
      if (this.out.size > this.host.clientBufferLimit) this.close(`over ${this.host.clientBufferLimit} bytes queued while silent`);
      return;
    }
    this.socket.write(this.out.take());
    if (this.socket.writableLength > this.host.clientBufferLimit) {
      this.socket.destroy();
      this.close(`client not reading: over ${this.host.clientBufferLimit} bytes unsent`);
    }
  }

  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    if (this.addpTimer) clearInterval(this.addpTimer);
    this.socket.destroy();
    this.host.sessionClosed(this, reason);
  }

  get isClosed(): boolean {
    return this.closed;
  }
}

/** Read `addp-timeout` / `addp-remote-timeout` from RequestRegisterClient's Extensions. */
export function addpFromExtensions(frame: MessageFrame): { timeout: number; remoteTimeout: number } {
  const ext = getAttr(frame, Attr.Extensions);
  let timeout = 0;
  let remoteTimeout = 0;
  if (Array.isArray(ext)) {
    for (const p of ext as KVPair[]) {
      if (typeof p.value !== 'number') continue;
      if (p.key === 'addp-timeout') timeout = p.value;
      if (p.key === 'addp-remote-timeout') remoteTimeout = p.value;
    }
  }
  return { timeout, remoteTimeout };
}
