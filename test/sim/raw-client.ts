/**
 * A minimal raw protocol client for simulator tests: real socket, TS FrameDecoder, requests by ReferenceID.
 */
import net from 'node:net';
import tls from 'node:tls';
import {
  Attr,
  FrameDecoder,
  FrameKind,
  MessageType,
  encodeAddp,
  encodeMessage,
  getAttr,
  type AttributeInput,
  type Frame,
  type MessageFrame,
} from '../../lib/protocol/index.js';
import { isHeldEvent } from '../../lib/transport/hold-rule.js';

export class RawClient {
  readonly frames: MessageFrame[] = [];
  readonly seqs: number[] = [];
  addpReplies = 0;
  closed = false;
  protocolError: Error | undefined;
  private decoder = new FrameDecoder();
  private nextRef = 1;
  private waiters: { pred: (f: MessageFrame) => boolean; resolve: (f: MessageFrame) => void }[] = [];
  private closeWaiters: (() => void)[] = [];
  answerPolls = true;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk) => {
      try {
        this.decoder.write(chunk, (f: Frame) => this.onFrame(f));
      } catch (err) {
        this.protocolError = err as Error;
        socket.destroy();
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.closeWaiters.splice(0)) w();
    });
  }

  static connect(port: number, host = '127.0.0.1'): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host, port });
      s.once('connect', () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  /** Connect over TLS, verifying the server's certificate against `ca` (and the host). */
  static connectTls(port: number, ca: string, host = '127.0.0.1'): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = tls.connect({ host, port, ca, ...(net.isIP(host) ? {} : { servername: host }) });
      s.once('secureConnect', () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  private onFrame(f: Frame): void {
    if (f.kind === FrameKind.AddpPoll) {
      if (this.answerPolls) this.socket.write(encodeAddp(f.token, true));
      return;
    }
    if (f.kind === FrameKind.AddpReply) {
      this.addpReplies++;
      return;
    }
    if (f.kind !== FrameKind.Message) return;
    this.frames.push(f);
    // Switch events only: replies and link/role reports carry positions, not events (the hold rule).
    const seq = getAttr(f, Attr.EventSequenceNumber);
    const ref = getAttr(f, Attr.ReferenceID);
    if (typeof seq === 'bigint' && isHeldEvent(f.type, Number(seq), typeof ref === 'number' ? ref : -1)) this.seqs.push(Number(seq));
    this.waiters = this.waiters.filter((w) => {
      if (!w.pred(f)) return true;
      w.resolve(f);
      return false;
    });
  }

  /** Resolve with the first frame (already received or future) matching `pred`. */
  waitFor(pred: (f: MessageFrame) => boolean, timeoutMs = 10_000, fromIndex = 0): Promise<MessageFrame> {
    const have = this.frames.slice(fromIndex).find(pred);
    if (have) return Promise.resolve(have);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('timed out waiting for a frame')), timeoutMs);
      this.waiters.push({ pred, resolve: (f) => { clearTimeout(t); resolve(f); } });
    });
  }

  waitClose(timeoutMs = 10_000): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('timed out waiting for close')), timeoutMs);
      this.closeWaiters.push(() => { clearTimeout(t); resolve(); });
    });
  }

  send(type: number, attrs: AttributeInput): number {
    const ref = this.nextRef++;
    this.socket.write(encodeMessage(type, { ...attrs, ReferenceID: ref }));
    return ref;
  }

  /** Send a request and wait for the reply with its ReferenceID. */
  async request(type: number, attrs: AttributeInput = {}, timeoutMs = 10_000): Promise<MessageFrame> {
    const ref = this.send(type, attrs);
    return this.waitFor((f) => getAttr(f, Attr.ReferenceID) === ref, timeoutMs);
  }

  async register(app = 'test', ext: Record<string, number> = {}): Promise<MessageFrame> {
    return this.request(MessageType.RequestRegisterClient, { ApplicationName: app, Extensions: ext });
  }

  async registerDn(dn: string): Promise<number> {
    const f = await this.request(MessageType.RequestRegisterAddress, { ThisDN: dn, RegisterMode: 0, AddressType: 1 });
    if (f.type !== MessageType.EventRegistered) throw new Error(`register ${dn}: got type ${f.type}`);
    return Number(getAttr(f, Attr.EventSequenceNumber));
  }

  ofType(type: number): MessageFrame[] {
    return this.frames.filter((f) => f.type === type);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Poll `cond` until true or `timeoutMs` passes. */
export async function until(cond: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}
