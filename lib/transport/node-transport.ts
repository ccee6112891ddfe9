import * as net from 'node:net';
import * as tls from 'node:tls';
import { monotonicMs } from '../clock.js';
import { TransportError, type TransportErrorCode } from '../errors.js';
import { FrameKind, LENGTH_BYTES } from '../protocol/constants.js';
import { checkLength, decodeBody, type ResolvedLimits } from '../protocol/decoder.js';
import { encodeAddp } from '../protocol/encoder.js';
import { ProtocolError } from '../protocol/errors.js';
import type { MessageFrame } from '../protocol/types.js';
import { NodeFrameBatch } from './frame-batch.js';
import { isHeldEvent } from './hold-rule.js';
import { HoldWindow } from './hold-window.js';
import { scanBody, type ScanResult } from './scan.js';
import { CLOSE_GRACE_MS, TransportBase } from './transport-base.js';
import type { CloseReason, HeartbeatStats, ReleaseResult, TransportOptions, WindowOptions } from './types.js';

/** A pooled copy of buf[start, end) (Buffer.allocUnsafe uses the shared pool for small frames). */
function copyOf(buf: Buffer, start: number, end: number): Buffer {
  const b = Buffer.allocUnsafe(end - start);
  buf.copy(b, 0, start, end);
  return b;
}

/**
 * TLS options holding secrets. The pair's resolved options keep them non-enumerable (lib/config.ts: out of
 * `util.inspect`, JSON and spreads), so they are copied here by name.
 */
export const TLS_SECRET_KEYS = ['key', 'passphrase', 'pfx', 'session'] as const;

/**
 * `tls.connect` options for a TLS session over `socket` to the configured `host`. Node picks the name it
 * verifies the certificate against from `servername`, then `host`, then the socket's `_host` — which
 * `net.connect` leaves unset for an IP address — then `'localhost'`: without `host` here, a server given
 * by IP was checked against `localhost`. So: `host` is always the configured one (an IP is checked against
 * the certificate's IP SANs, a name against its DNS SANs), and a name is also sent as SNI (`servername`;
 * never an IP: RFC 6066). A `servername` (or `checkServerIdentity`) the application gives wins.
 */
export function tlsConnectOptions(given: tls.ConnectionOptions, host: string, socket: net.Socket): tls.ConnectionOptions {
  const o: tls.ConnectionOptions = { ...given };
  for (const k of TLS_SECRET_KEYS) if (given[k] !== undefined) (o as Record<string, unknown>)[k] = given[k];
  o.host = host;
  if (o.servername === undefined && net.isIP(host) === 0) o.servername = host;
  o.socket = socket;
  return o;
}

/** OpenSSL/Node codes of a certificate the client refused (as opposed to a network failure). */
const CERT_ERROR = /^(ERR_TLS_CERT_|CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|INVALID_CA|INVALID_PURPOSE|HOSTNAME_MISMATCH|IP_ADDRESS_MISMATCH)/;

/**
 * Transport over `net`/`tls` with the TS codec and a TS ADDP timer, on the main thread.
 *
 * Differences from the native transport, by construction:
 * - ADDP runs on the JS event loop: a blocked loop (GC pause, busy strategy) can neither answer the
 *   peer's polls nor see its replies. Before declaring a timeout the timer yields one I/O phase, so bytes
 *   already in the kernel are counted, but a long stall still costs the connection — usually on the
 *   server's side: the answers to its polls wait for the loop too. Hence the pair's longer ADDP default
 *   for this transport (lib/config.ts `DEFAULTS.addpNode`, 3000 ms; measured in bench/README.md "Soak").
 * - Queues: every byte read is decoded synchronously in the `data` callback, so the only read-side
 *   buffer is the decoder's partial-frame tail; the kernel receive buffer plus TCP flow control is the
 *   backpressure, and `backpressure` is never emitted. `maxQueuedBytes` is enforced as a hard cap
 *   (`queue-overflow`) on that tail and on unsent write bytes (a peer that stops reading).
 */
export class NodeTransport extends TransportBase {
  readonly kind = 'node' as const;
  protected readonly closeGraceMs = CLOSE_GRACE_MS;
  private readonly limits: ResolvedLimits;
  private readonly addpMs: number;
  private readonly maxQueued: number;
  private raw: net.Socket | null = null;
  /** The socket frames flow through: `raw`, or the TLS socket over it. */
  private sock: net.Socket | null = null;
  // Read side.
  /**
   * The partial frame read so far, as the received pieces (a frame may span many reads): the first is a
   * copy of the end of its read (never pins a 64 KiB read buffer), the others whole reads that belong to
   * the frame. Only the frame that straddles reads is ever copied, never a whole read (as ws's
   * `Receiver.consume`: no `Buffer.concat` of the tail and each new chunk).
   */
  private tail: Buffer[] = [];
  private tailBytes = 0;
  /** Stream offset of the first byte of the next read (for ProtocolError offsets). */
  private received = 0;
  private window: HoldWindow | null = null;
  private readonly scan: ScanResult = { kind: 0, type: 0, seq: -1, ref: -1, token: 0 };
  // ADDP.
  private addpTimer: NodeJS.Timeout | null = null;
  private lastRxAt = 0;
  private pollSentAt = -1;
  private pollToken = 0;
  private heartbeatAt = -Infinity;
  private pollPending = false;
  private heartbeatRtt = -1;
  /** The last answered poll (heartbeatStats()), kept whether or not anyone listens. */
  private lastHeartbeat: HeartbeatStats | undefined;
  // Write batching: cork on the first send of a tick, uncork on nextTick (one writev per tick).
  private corked = false;
  // The outbound stream (CloseInfo.outbound; plain TCP only). `wire` counts every byte given to the socket
  // in order — the frames send() accepted (`sentBytes`) and our own ADDP frames; `addp` holds [wire offset,
  // length] of the ADDP frames not yet known to be flushed, `addpFlushed` the ADDP bytes below `flushedWire`.
  private wireBytes = 0;
  private readonly addp: number[] = [];
  private addpFlushed = 0;
  /** Wire bytes the kernel had taken at the last reading of the handle's counters (never more than that). */
  private flushedWire = 0;

  constructor(options: TransportOptions) {
    super(options, 'node');
    const v = this.valid;
    this.maxQueued = v.maxQueuedBytes;
    this.limits = v.limits;
    this.addpMs = v.addpTimeoutMs;
  }

  protected startConnect(): void {
    const { host, port } = this.opts;
    const raw = net.connect({ host, port });
    this.raw = raw;
    this.sock = raw;
    // Every way the socket ends goes through _destroy (the stream implementer's hook) while its handle is
    // still there: the last moment libuv's counters can be read (CloseInfo.outbound).
    const destroyImpl = raw._destroy;
    raw._destroy = (err, cb) => {
      if (this.state === 'open' || this.state === 'closing') this.readFlushed(err);
      destroyImpl.call(raw, err, cb);
    };
    raw.on('error', (err) => this.onSocketError(err));
    raw.on('close', () => this.onSocketClose());
    raw.once('connect', () => {
      if (this.state !== 'connecting') return;
      raw.setNoDelay(this.valid.noDelay);
      const ka = this.valid.keepAlive;
      if (ka) raw.setKeepAlive(true, ka.idleMs);
      if (!this.opts.tls) return this.onOpen();
      let t: tls.TLSSocket;
      try {
        t = tls.connect(tlsConnectOptions(this.opts.tls, host, raw));
      } catch (err) {
        // Options tls.connect cannot use (a key that does not decrypt, a malformed certificate): thrown
        // here, in a socket callback, it would be an uncaught exception. OpenSSL's message names no secret.
        return this.fail('error', 'ERR_SOCKET', `TLS: cannot use the tls options for ${host}:${port}: ${(err as Error).message}`, err as NodeJS.ErrnoException);
      }
      this.sock = t;
      t.on('error', (err) => this.onTlsError(err));
      t.once('secureConnect', () => {
        // Open on the next turn, not inside the handshake callback: a destroy() from within it — or from a
        // microtask it runs, such as an `await connect()` continuation — crashes Node 20.20 (segfault,
        // reproduced with plain net + tls). Bytes that arrive meanwhile wait in the paused socket.
        setImmediate(() => {
          if (this.state === 'connecting') this.onOpen();
        });
      });
    });
  }

  send(frame: Uint8Array): void {
    if (this.state !== 'open' || !(frame instanceof Uint8Array)) this.refuseSend();
    // Counted before the write: a write that overflows the queue closes inside it, and the CloseInfo it
    // emits must include this frame.
    this.sentBytes += frame.byteLength;
    this.write(frame);
  }

  heartbeatStats(): HeartbeatStats | undefined {
    return this.lastHeartbeat;
  }

  /**
   * Read how far the kernel has taken our bytes: `handle.bytesWritten` (StreamBase: every byte the socket
   * dispatched to libuv — try_write plus uv_write — counted when dispatched) minus `handle.writeQueueSize`
   * (libuv's `write_queue_size`: the unwritten remainder of the writes it still queues). Bytes the Writable
   * still buffers (cork, a write waiting for the previous one) are in neither. A write callback that has
   * not run yet does not matter: libuv's progress is read, not callbacks. Not taken when the counters would
   * overstate: after a failed write, `bytesWritten` keeps the bytes libuv refused (try_write's error) and
   * `writeQueueSize` already dropped a failed write's remainder — those destroys carry syscall 'write'.
   * Plain TCP only (with TLS the handle counts ciphertext).
   */
  private readFlushed(cause?: Error | null): void {
    const raw = this.raw;
    if (!raw || this.sock !== raw || (cause as NodeJS.ErrnoException | null | undefined)?.syscall === 'write') return;
    const h = (raw as unknown as { _handle?: { bytesWritten?: unknown; writeQueueSize?: unknown } | null })._handle;
    if (!h || typeof h.bytesWritten !== 'number' || typeof h.writeQueueSize !== 'number') return;
    const flushed = h.bytesWritten - h.writeQueueSize;
    if (!(flushed > this.flushedWire) || flushed > this.wireBytes) return;
    this.flushedWire = flushed;
    // ADDP frames wholly below the flushed offset leave the list (their bytes are not the application's).
    while (this.addp.length > 0 && this.addp[0]! + this.addp[1]! <= flushed) {
      this.addpFlushed += this.addp[1]!;
      this.addp.splice(0, 2);
    }
  }

  /** Bytes of the frames send() accepted that the kernel had taken, as last read (ADDP frames excluded). */
  private flushedApp(): number {
    let addp = this.addpFlushed;
    // An ADDP frame partly below the flushed offset (only the first can be).
    if (this.addp.length > 0 && this.addp[0]! < this.flushedWire) addp += this.flushedWire - this.addp[0]!;
    return Math.min(this.sentBytes, Math.max(0, this.flushedWire - addp));
  }

  hold(window: WindowOptions): void {
    this.window = new HoldWindow(window);
  }

  release(afterSeq: number): Promise<ReleaseResult> {
    const w = this.window;
    this.window = null;
    if (!w) return Promise.resolve({ batch: new NodeFrameBatch([], monotonicMs()), evictedUpTo: -1, firstSeenSeq: -1, lastSeenSeq: -1, seqDecreased: false });
    // Synchronous on purpose: frames read after this call are emitted by later I/O callbacks, which run
    // only after the caller's continuation (a microtask) has taken this batch.
    try {
      return Promise.resolve(w.drain(afterSeq, monotonicMs(), (b) => decodeBody(b, LENGTH_BYTES, b.length, this.limits, 0) as MessageFrame));
    } catch (err) {
      return Promise.reject(err); // unreachable in practice: held frames were validated on arrival
    }
  }

  protected closeGracefully(): void {
    // FIN after the queued writes, then keep reading (and discarding) until the peer's FIN (onSocketClose
    // finishes): closing with unread bytes in the kernel would turn our FIN into an RST.
    this.stopAddp();
    this.sock!.end();
  }

  protected endIo(abort: boolean): boolean {
    if (abort) {
      // The last reading of the counters before the handle goes (the socket's _destroy reads them too,
      // except after a failed write).
      if (this.state === 'open' || this.state === 'closing') this.readFlushed();
      this.abort();
    } else if (this.raw && !this.raw.destroyed) {
      // close() while connecting: nothing to flush, nothing to reset.
      this.raw.destroy();
    }
    return true;
  }

  protected onClosed(): void {
    this.stopAddp();
    this.tail = [];
    this.tailBytes = 0;
    this.window = null;
  }

  protected flushedAtClose(): number {
    // Plain TCP only: through TLS the socket's counters are of ciphertext, and nothing maps them back.
    return this.raw !== null && this.sock === this.raw ? this.flushedApp() : -1;
  }

  /** RST the TCP connection (SO_LINGER 0) when it is established; otherwise just drop it. */
  private abort(): void {
    const raw = this.raw;
    if (!raw || raw.destroyed) return;
    if (!raw.connecting && typeof raw.resetAndDestroy === 'function') {
      try {
        raw.resetAndDestroy();
      } catch {
        raw.destroy();
      }
    } else {
      raw.destroy();
    }
    if (this.sock !== raw) this.sock?.destroy();
  }

  private onOpen(): void {
    const now = monotonicMs();
    this.lastRxAt = now;
    const s = this.sock!;
    s.on('data', (chunk: Buffer) => this.onData(chunk));
    s.on('end', () => this.state !== 'closing' && this.fail('peer-closed', 'ERR_PEER_CLOSED', 'peer closed the connection'));
    this.armAddp(this.addpMs / 2);
    this.opened(now);
  }

  private onData(chunk: Buffer): void {
    if (this.state !== 'open') return;
    const now = monotonicMs();
    this.lastRxAt = now;
    this.ts.firstByteAt ??= now;
    const out: MessageFrame[] = [];
    const base = this.received;
    this.received += chunk.length;
    let pos = 0;
    let error: ProtocolError | null = null;
    try {
      if (this.tailBytes > 0) {
        pos = this.completeTail(chunk, base, out);
        if (pos < 0) {
          // The whole read belongs to the partial frame.
          if (this.state === 'open' && this.tailBytes > this.maxQueued) {
            this.fail('queue-overflow', 'ERR_QUEUE_OVERFLOW', `partial frame of ${this.tailBytes} bytes exceeds maxQueuedBytes ${this.maxQueued}`);
          }
          return;
        }
        if (this.state !== 'open') return; // the straddling frame's ADDP answer overflowed the queue
      }
      while (chunk.length - pos >= LENGTH_BYTES) {
        // Checked on the 4 length bytes alone: an oversized frame is refused before its body arrives.
        const len = checkLength(chunk.readUInt32BE(pos), this.limits, base + pos);
        if (chunk.length - pos - LENGTH_BYTES < len) break;
        const start = pos + LENGTH_BYTES;
        const at = base + pos;
        pos = start + len;
        if (!this.onFrame(chunk, start, pos, at, out)) return;
      }
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      error = err;
    }
    if (!error && pos < chunk.length) {
      // Copy so a few tail bytes never pin a 64 KiB read buffer.
      this.tail.push(Buffer.from(chunk.subarray(pos)));
      this.tailBytes = chunk.length - pos;
      if (this.tailBytes > this.maxQueued) {
        this.fail('queue-overflow', 'ERR_QUEUE_OVERFLOW', `partial frame of ${this.tailBytes} bytes exceeds maxQueuedBytes ${this.maxQueued}`);
        return;
      }
    }
    if (out.length > 0 && this.state === 'open') this.emit('frames', new NodeFrameBatch(out, now));
    if (error && this.state === 'open') this.finishWithError('protocol-error', error);
    if (this.heartbeatRtt >= 0) {
      const rtt = this.heartbeatRtt;
      this.heartbeatRtt = -1;
      if (this.state === 'open') this.emit('heartbeat', rtt, this.heartbeatAt);
    }
  }

  /** Byte `i` of the partial frame followed by `chunk`. */
  private tailByte(i: number, chunk: Buffer): number {
    for (const t of this.tail) {
      if (i < t.length) return t[i]!;
      i -= t.length;
    }
    return chunk[i]!;
  }

  /**
   * Complete the partial frame with the start of `chunk` (read at stream offset `base`): the frame's bytes
   * are gathered into one buffer of its size and handled; returns how many bytes of `chunk` it took, or -1
   * when `chunk` does not complete it (then `chunk` joins the pieces, uncopied). Throws ProtocolError.
   */
  private completeTail(chunk: Buffer, base: number, out: MessageFrame[]): number {
    const have = this.tailBytes;
    const at = base - have;
    if (have + chunk.length < LENGTH_BYTES) {
      this.tail.push(chunk);
      this.tailBytes += chunk.length;
      return -1;
    }
    const len = checkLength(
      ((this.tailByte(0, chunk) << 24) | (this.tailByte(1, chunk) << 16) | (this.tailByte(2, chunk) << 8) | this.tailByte(3, chunk)) >>> 0,
      this.limits,
      at,
    );
    const total = LENGTH_BYTES + len;
    if (have + chunk.length < total) {
      this.tail.push(chunk);
      this.tailBytes += chunk.length;
      return -1;
    }
    const frame = Buffer.allocUnsafe(total);
    let o = 0;
    for (const t of this.tail) {
      t.copy(frame, o);
      o += t.length;
    }
    const take = total - have;
    chunk.copy(frame, o, 0, take);
    this.tail = [];
    this.tailBytes = 0;
    this.onFrame(frame, LENGTH_BYTES, total, at, out);
    return take;
  }

  /**
   * One frame, its body at buf[start, end) and its first byte at stream offset `at`: held (hot standby),
   * decoded into `out`, or an ADDP poll answered / reply counted. False when the transport closed meanwhile
   * (an answer that overflowed the write queue). Throws ProtocolError.
   */
  private onFrame(buf: Buffer, start: number, end: number, at: number, out: MessageFrame[]): boolean {
    if (this.window) {
      // Hot standby: validate without building objects; held frames are decoded only if released.
      const s = scanBody(buf, start, end, this.limits, at, this.scan);
      if (s.kind === FrameKind.Message) {
        // Only switch events are held; replies and server reports pass even with a seq (hold-rule.ts).
        if (isHeldEvent(s.type, s.seq, s.ref)) this.window.push(copyOf(buf, start - LENGTH_BYTES, end), s.seq);
        else out.push(decodeBody(buf, start, end, this.limits, at) as MessageFrame);
        return true;
      }
    }
    const frame = decodeBody(buf, start, end, this.limits, at);
    if (frame.kind === FrameKind.Message) {
      out.push(frame);
    } else if (frame.kind === FrameKind.AddpPoll) {
      this.write(encodeAddp(frame.token, true), true);
      if (this.state !== 'open') return false; // the write overflowed the queue
    } else if (frame.token === this.pollToken && this.pollPending) {
      this.onPollAnswered();
    }
    // ADDP replies only prove life, which every byte already does (and give the heartbeat's round trip).
    return true;
  }

  private write(frame: Uint8Array, ownAddp = false): void {
    const s = this.sock!;
    if (ownAddp) this.addp.push(this.wireBytes, frame.byteLength);
    this.wireBytes += frame.byteLength;
    if (!this.corked) {
      this.corked = true;
      s.cork();
      process.nextTick(() => {
        this.corked = false;
        s.uncork();
      });
    }
    s.write(frame);
    if (s.writableLength > this.maxQueued) {
      this.fail('queue-overflow', 'ERR_QUEUE_OVERFLOW', `${s.writableLength} unsent bytes exceed maxQueuedBytes ${this.maxQueued} (peer not reading)`);
    }
  }

  private armAddp(ms: number): void {
    if (this.addpMs === 0) return;
    this.addpTimer = setTimeout(() => this.onAddpTimer(), Math.max(1, ms));
  }

  /** Our last poll was answered: report its round trip, at most once a second (HeartbeatEvent). */
  private onPollAnswered(): void {
    const now = monotonicMs();
    const rtt = now - this.pollSentAt;
    this.pollPending = false; // a duplicate reply does not count twice
    this.lastHeartbeat = { rttMs: rtt, at: now, answered: (this.lastHeartbeat?.answered ?? 0) + 1 };
    if (now - this.heartbeatAt < 1000 || this.listenerCount('heartbeat') === 0) return;
    this.heartbeatAt = now;
    // Emitted once this read is processed (a listener must not run inside the decode loop).
    this.heartbeatRtt = rtt;
  }

  private stopAddp(): void {
    if (this.addpTimer) clearTimeout(this.addpTimer);
    this.addpTimer = null;
  }

  /**
   * ADDP (docs/protocol.md): poll after T/2 of silence, declare the peer lost after T of silence. A live
   * peer answers the poll within T/2, so detection is T after the last byte, not T..2T.
   */
  private onAddpTimer(): void {
    this.addpTimer = null;
    if (this.state !== 'open') return;
    // Keeps the ADDP offsets list short on a long connection (and the last reading recent).
    this.readFlushed();
    const now = monotonicMs();
    const T = this.addpMs;
    const idle = now - this.lastRxAt;
    if (idle < T / 2) return this.armAddp(T / 2 - idle);
    // The peer is lost only if it stayed silent for T/2 after a poll. If our own process stalled (GC, a
    // busy loop, SIGSTOP) past T/2 before the poll went out, the peer gets its T/2 now.
    if (this.pollSentAt < this.lastRxAt) {
      this.pollSentAt = now;
      this.pollPending = true;
      this.pollToken = (this.pollToken + 1) >>> 0;
      this.write(encodeAddp(this.pollToken), true);
      return this.armAddp(Math.max(T - idle, T / 2));
    }
    if (idle < T) return this.armAddp(T - idle);
    if (now - this.pollSentAt < T / 2) return this.armAddp(T / 2 - (now - this.pollSentAt));
    // Give the poll phase one turn: after a loop stall the reply may already sit in the kernel buffer.
    setImmediate(() => {
      if (this.state !== 'open') return;
      if (monotonicMs() - this.lastRxAt < T) return this.onAddpTimer();
      this.fail('addp-timeout', 'ERR_ADDP_TIMEOUT', `no byte from the peer for ${T} ms (ADDP poll sent after ${T / 2} ms)`);
    });
  }

  private onSocketError(err: NodeJS.ErrnoException): void {
    if (this.state === 'closed') return;
    const code = err.code;
    if (this.state === 'connecting' && code === 'ECONNREFUSED') {
      this.fail('connect-refused', 'ERR_CONNECT_REFUSED', `connection to ${this.opts.host}:${this.opts.port} refused`, err);
    } else if (code === 'ECONNRESET' || code === 'EPIPE') {
      this.fail('peer-reset', 'ERR_PEER_RESET', `connection reset by peer (${code})`, err);
    } else {
      this.fail('error', 'ERR_SOCKET', `socket error: ${err.message}`, err);
    }
  }

  /** A TLS error: a refused certificate says whose and why (TransportError ERR_SOCKET, `syscallCode` the TLS code). */
  private onTlsError(err: NodeJS.ErrnoException): void {
    const code = err.code ?? '';
    if (this.state !== 'connecting' || !CERT_ERROR.test(code)) return this.onSocketError(err);
    const { host, port } = this.opts;
    this.fail('error', 'ERR_SOCKET', `TLS: the certificate of ${host}:${port} was refused (${code}): ${err.message}`, err);
  }

  private onSocketClose(): void {
    // A close with no error/end before it (e.g. TLS torn down by the peer mid-handshake).
    if (this.state === 'connecting' || this.state === 'open') {
      this.fail('peer-closed', 'ERR_PEER_CLOSED', 'connection closed by peer');
    } else if (this.state === 'closing') {
      this.finish('local');
    }
  }

  private fail(reason: CloseReason, code: TransportErrorCode, message: string, cause?: NodeJS.ErrnoException): void {
    if (this.state === 'closed') return;
    if (this.state === 'closing') {
      // Whatever happens while our own orderly close runs, the close is ours.
      this.abort();
      return this.finish('local');
    }
    const error = new TransportError(code, message, { cause, syscallCode: cause?.code });
    this.finishWithError(reason, error);
  }

  private finishWithError(reason: CloseReason, error: TransportError | ProtocolError): void {
    if (this.state === 'closed') return;
    this.ts.lossDetectedAt = monotonicMs();
    if (this.state === 'open') this.readFlushed();
    this.abortQuietly(reason);
    this.finish(reason, error);
  }

  private abortQuietly(reason: CloseReason): void {
    // After EOF the FIN exchange is complete enough; everything else is torn down at once.
    if (reason === 'peer-closed') this.sock?.destroy();
    else this.abort();
  }
}
