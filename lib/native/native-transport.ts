import * as dns from 'node:dns';
import type { EventEmitter } from 'node:events';
import * as net from 'node:net';
import { getSystemErrorName } from 'node:util';
import { monotonicMs } from '../clock.js';
import { ConfigError, TransportError, type TransportErrorCode } from '../errors.js';
import type { ResolvedLimits } from '../protocol/decoder.js';
import { ProtocolError, protocolCodeOf } from '../protocol/errors.js';
import type { CloseReason, HeartbeatStats, ReleaseResult, TransportOptions, WindowOptions } from '../transport/types.js';
import { ioBinding } from './io-binding.js';
import { IoHub, type HubClient } from './io-hub.js';
import { Opt } from './io-records.js';
import { NativeFrameBatch } from './native-frame-batch.js';
import { SubsetBatch } from '../transport/batch-views.js';
import { TransportBase } from '../transport/transport-base.js';
import { isHeldEvent } from '../transport/hold-rule.js';
import { HoldWindow, concatReleases } from '../transport/hold-window.js';
import type { MessageFrame } from '../protocol/types.js';

/** Deepest nesting the codec core accepts (native/codec/codec.h kMaxDepthCap). */
const MAX_DEPTH_CAP = 255;
/** Most addresses one connect tries (native/addon/io_host.h kMaxAddresses). */
const MAX_ADDRESSES = 64;

let hub: IoHub | undefined;
const HUB = Symbol.for('tserver-ha.io-hub');

function getHub(): IoHub {
  if (hub === undefined) {
    const io = ioBinding();
    if (io === null) throw new ConfigError("transport 'native' is not available (addon not built or not loaded)");
    // One hub per addon instance, even if this module is loaded twice (e.g. from lib/ and dist/): the
    // thread has exactly one dispatcher. The exports object is shared through require's cache.
    const holder = io as unknown as { [HUB]?: IoHub };
    hub = holder[HUB] ??= new IoHub(io);
  }
  return hub;
}

/** Live native connections of this realm as JS sees them (tests and diagnostics). */
export function nativeLiveConnections(): number {
  return hub?.liveCount ?? 0;
}

/** Default per-process budget of bytes the I/O thread holds for JS (native/addon/io_host.h). */
export const DEFAULT_NATIVE_MEMORY_LIMIT = 256 * 1024 * 1024;

/**
 * State of this realm's I/O thread: live connections and delivery blocks (leak checks) and the process
 * budget — `queuedBytes` framed but not yet handed to JS, `heldBytes` in hot-standby windows, `peakBytes`
 * the high-water mark of their sum since the last {@link setNativeMemoryLimit}, `memoryLimit` the budget.
 */
export function nativeIoStats(): NativeIoStats {
  return ioBinding()?.stats() ?? {
    conns: 0, blocks: 0, started: false, queuedBytes: 0, heldBytes: 0, peakBytes: 0, memoryLimit: DEFAULT_NATIVE_MEMORY_LIMIT,
  };
}

/** What {@link nativeIoStats} returns. */
export interface NativeIoStats {
  conns: number;
  blocks: number;
  started: boolean;
  queuedBytes: number;
  heldBytes: number;
  peakBytes: number;
  memoryLimit: number;
}

/**
 * Set the per-process budget (default 256 MiB) of bytes the native I/O thread of this realm holds for
 * JS across all its connections: frames read but not yet delivered plus hot-standby windows. Past it, a
 * connection whose read went over pauses reading (`backpressure {paused: true}`, ADDP stays satisfied)
 * until the undelivered bytes fall to half the budget, and a hold window evicts its oldest frames
 * (reported in `evictedUpTo`). Applies from the next read; each realm (worker) has its own budget.
 * A no-op when the addon is not loaded.
 * @throws ConfigError unless `bytes` is a positive safe integer.
 */
export function setNativeMemoryLimit(bytes: number): void {
  positiveInt('native memory limit', bytes);
  ioBinding()?.setMemoryLimit(bytes);
}

function positiveInt(name: string, v: unknown): number {
  if (!Number.isSafeInteger(v) || (v as number) < 1) throw new ConfigError(`${name} must be a positive integer, got ${String(v)}`);
  return v as number;
}

function checkWindow(w: WindowOptions): void {
  for (const k of ['maxFrames', 'maxBytes'] as const) {
    const v = w?.[k];
    if (!Number.isSafeInteger(v) || v < 1) throw new ConfigError(`hold window ${k} must be a positive integer, got ${String(v)}`);
  }
}

const ERROR_CODES: Partial<Record<CloseReason, TransportErrorCode>> = {
  'peer-closed': 'ERR_PEER_CLOSED',
  'peer-reset': 'ERR_PEER_RESET',
  'addp-timeout': 'ERR_ADDP_TIMEOUT',
  'connect-timeout': 'ERR_CONNECT_TIMEOUT',
  'connect-refused': 'ERR_CONNECT_REFUSED',
  'queue-overflow': 'ERR_QUEUE_OVERFLOW',
  error: 'ERR_SOCKET',
};

/**
 * The order in which `net.connect` (autoSelectFamily) tries the addresses of a name: each address once,
 * families alternating, starting with the family of the first one.
 */
function connectOrder(addresses: dns.LookupAddress[]): string[] {
  const groups: [string[], string[]] = [[], []];
  let first = 0;
  for (const a of addresses) {
    if (!net.isIP(a.address) || (a.family !== 4 && a.family !== 6)) continue;
    if (groups[0].length === 0 && groups[1].length === 0) first = a.family;
    const g = groups[a.family === first ? 0 : 1];
    if (!g.includes(a.address)) g.push(a.address);
  }
  const out: string[] = [];
  for (let i = 0; i < Math.max(groups[0].length, groups[1].length); i++) {
    if (i < groups[0].length) out.push(groups[0][i]!);
    if (i < groups[1].length) out.push(groups[1][i]!);
  }
  return out;
}

/**
 * Transport whose socket lives on the addon's I/O thread (native/addon/io_*.cc): connect with a deadline,
 * TCP_NODELAY, keepalive idle/interval/count, TCP_USER_TIMEOUT (Linux), ADDP, framing and validation,
 * write batching and the hot-standby window all run there; JS receives batches of validated frames, one
 * thread-safe-function call per block. A blocked JS thread therefore causes no ADDP timeout on either side.
 *
 * Batches are valid only during the `frames` listener (they throw `ERR_BATCH_EXPIRED` afterwards);
 * `release()` results stay valid. Timestamps are taken on the I/O thread (uv_hrtime, same clock as
 * {@link monotonicMs}). No TLS: use the node transport for that.
 */
export class NativeTransport extends TransportBase implements HubClient {
  readonly kind = 'native' as const;
  /** The I/O thread bounds an orderly close itself (io_conn.cc kCloseFlushMs): it owns the socket. */
  protected readonly closeGraceMs = 0;
  /** @internal */
  readonly limits: ResolvedLimits;
  private readonly native: Float64Array;
  private id = 0;
  private hub: IoHub | null = null;
  private holding = false;
  /**
   * Held events the thread had already read when hold() reached it: they arrive in ordinary blocks, so
   * they are kept here (decoded, in order) and put in front of the native window on release.
   */
  private early: { window: HoldWindow<MessageFrame>; receivedAt: number } | null = null;
  private releases: Array<(r: ReleaseResult) => void> = [];
  /** What the thread reported at the end (Outbound record): flushed bytes and the last heartbeat facts. */
  private outboundFlushed = -1;
  private finalHeartbeat: HeartbeatStats | undefined;
  /** The thread delivers Heartbeat records only while this transport has `heartbeat` listeners. */
  private heartbeatsWanted = false;

  constructor(options: TransportOptions) {
    super(options, 'native');
    const v = this.valid;
    const connectTimeout = v.connectTimeoutMs;
    const addp = v.addpTimeoutMs;
    const ka = v.keepAlive;
    const userTimeout = v.userTimeoutMs;
    const maxQueued = v.maxQueuedBytes;
    this.limits = v.limits;
    if (this.limits.maxDepth > MAX_DEPTH_CAP) throw new ConfigError(`codec limit maxDepth must be at most ${MAX_DEPTH_CAP}`);
    const o = new Float64Array(Opt.Count);
    o[Opt.ConnectTimeout] = connectTimeout;
    o[Opt.Addp] = addp;
    o[Opt.KeepIdle] = ka ? ka.idleMs : 0;
    o[Opt.KeepInterval] = ka ? ka.intervalMs : 0;
    o[Opt.KeepCount] = ka ? ka.count : 0;
    o[Opt.UserTimeout] = userTimeout;
    o[Opt.NoDelay] = v.noDelay ? 1 : 0;
    o[Opt.MaxFrameSize] = this.limits.maxFrameSize;
    o[Opt.MaxDepth] = this.limits.maxDepth;
    o[Opt.MaxAttributes] = this.limits.maxAttributes;
    o[Opt.MaxQueued] = maxQueued;
    this.native = o;
    // An answered poll crosses to JS only while someone listens for it; otherwise the thread keeps the facts
    // (heartbeatStats()) and an idle connection costs the main thread nothing per poll.
    const self = this as EventEmitter;
    self.on('newListener', (event: string | symbol) => {
      if (event === 'heartbeat') this.wantHeartbeats(true);
    });
    self.on('removeListener', (event: string | symbol) => {
      if (event === 'heartbeat' && this.listenerCount('heartbeat') === 0) this.wantHeartbeats(false);
    });
  }

  private wantHeartbeats(on: boolean): void {
    if (this.heartbeatsWanted === on) return;
    this.heartbeatsWanted = on;
    if (this.hub !== null && this.state !== 'closed') this.hub.heartbeats(this.id, on);
  }

  /** The last answered ADDP poll of ours, read from the I/O thread now (after close: as it was at the end). */
  heartbeatStats(): HeartbeatStats | undefined {
    if (this.state === 'closed') return this.finalHeartbeat;
    if (this.hub === null) return undefined;
    return this.hub.heartbeat(this.id);
  }

  override connect(): Promise<void> {
    // A missing addon is a ConfigError thrown by connect() itself, before the transport starts anything.
    if (this.state === 'idle') getHub();
    return super.connect();
  }

  protected startConnect(): void {
    const { host } = this.opts;
    if (net.isIP(host)) this.openNative([host]);
    else this.resolve(host);
  }

  /**
   * Resolve the host name here, with dns.lookup as `net.connect` does (same hints, same order, every
   * address), not on the I/O thread: a lookup cannot be cancelled once the resolver runs it (uv_cancel
   * only removes queued work), so a lookup in flight on the thread made close(), the connect deadline and
   * the thread's own teardown wait for the resolver (docs/native-transport.md "Decisions").
   */
  private resolve(host: string): void {
    dns.lookup(host, { all: true, hints: dns.ADDRCONFIG }, (err, addresses) => {
      // Closed or timed out meanwhile (the base's deadline runs during the lookup): the result is dropped
      // (nothing was opened natively).
      if (this.state !== 'connecting' || this.hub !== null) return;
      const ips = err ? [] : connectOrder(addresses);
      if (ips.length === 0) {
        const e = err ?? Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
        const code = (e as NodeJS.ErrnoException).code;
        this.failBeforeOpen('error', new TransportError('ERR_SOCKET', `socket error: ${e.message}`, { cause: e, syscallCode: code }));
        return;
      }
      this.openNative(ips);
    });
  }

  /** Open the connection on the I/O thread with what is left of the connect deadline. */
  private openNative(addresses: string[]): void {
    const h = getHub();
    // The thread takes over the rest of the deadline: only it can cancel an attempt it runs.
    this.stopConnectDeadline();
    this.native[Opt.ConnectLeft] = Math.max(1, this.native[Opt.ConnectTimeout]! - (monotonicMs() - this.ts.connectStartAt));
    this.native[Opt.AttemptTimeout] = net.getDefaultAutoSelectFamilyAttemptTimeout();
    try {
      this.id = h.open(this, this.opts.host, this.opts.port, this.native, addresses.slice(0, MAX_ADDRESSES));
    } catch (err) {
      // Only for an address the addon cannot parse (what net.isIP accepts, it should).
      this.failBeforeOpen('error', new TransportError('ERR_SOCKET', `cannot connect to ${addresses.join(', ')}: ${(err as Error).message}`, { cause: err }));
      return;
    }
    this.hub = h;
    // Queued after the open, so the thread applies it to the new connection before anything is read.
    if (this.heartbeatsWanted) h.heartbeats(this.id, true);
  }

  /** A connect that failed before anything was opened natively (lookup failure, an address the addon refused). */
  private failBeforeOpen(reason: CloseReason, error: TransportError): void {
    if (this.state !== 'connecting' || this.hub !== null) return;
    this.ts.lossDetectedAt = monotonicMs();
    this.finish(reason, error);
  }

  send(frame: Uint8Array): void {
    if (this.state !== 'open' || !(frame instanceof Uint8Array)) this.refuseSend();
    this.hub!.write(this.id, frame);
    this.sentBytes += frame.byteLength;
  }

  hold(window: WindowOptions): void {
    checkWindow(window);
    this.holding = true;
    this.early = { window: new HoldWindow<MessageFrame>(window), receivedAt: 0 };
    if (this.hub === null) {
      // Not opened natively yet (idle, or resolving): the connection starts in hold mode.
      this.native[Opt.HoldFrames] = window.maxFrames;
      this.native[Opt.HoldBytes] = window.maxBytes;
    } else if (this.state !== 'closed') {
      this.hub!.hold(this.id, window.maxFrames, window.maxBytes);
    }
  }

  release(afterSeq: number): Promise<ReleaseResult> {
    const wasHolding = this.holding;
    this.holding = false;
    this.native[Opt.HoldFrames] = 0;
    if (!wasHolding || this.hub === null || this.state === 'closed') {
      this.early = null;
      return Promise.resolve({ batch: new NativeFrameBatch(Buffer.alloc(0), new Float64Array(0), 0, 0, this.limits), evictedUpTo: -1, firstSeenSeq: -1, lastSeenSeq: -1, seqDecreased: false });
    }
    // The thread answers in order, before any frame it reads after this command.
    return new Promise((resolve) => {
      // Early events keep arriving (in blocks queued before the release) until the release block itself:
      // they are collected until then and put in front of it.
      const early = this.early;
      this.releases.push((r) => {
        this.early = null;
        resolve(early && early.window.count > 0 ? concatReleases(early.window.drain(-1, early.receivedAt, (f) => f), r, afterSeq) : r);
      });
      // With early frames the filter runs here, over both parts (a restarted numbering can span them).
      this.hub!.release(this.id, early && early.window.count > 0 ? -1 : afterSeq);
    });
  }

  protected closeGracefully(): void {
    // Frames still on their way are dropped from here on (state closing), as the node transport does; the
    // thread's Close record finishes.
    this.hub!.close(this.id, false);
  }

  protected endIo(abort: boolean): boolean {
    // Still resolving: nothing native to close (a lookup result arriving later is dropped).
    if (this.hub === null) return true;
    // The socket is the thread's: the close is over when its Close record says so (onClose).
    this.hub.close(this.id, abort);
    return false;
  }

  /** @internal */
  onConnect(at: number): void {
    this.opened(at);
  }

  /** @internal */
  onFirstByte(at: number): void {
    this.ts.firstByteAt ??= at;
  }

  /** @internal */
  onFrames(batch: NativeFrameBatch): void {
    if (this.state !== 'open') return;
    const early = this.early;
    if (!early) return void this.emit('frames', batch);
    const rest: number[] = [];
    for (let i = 0; i < batch.count; i++) {
      const seq = batch.seq(i);
      // The same rule as the thread's window (hold-rule.ts): only switch events are held.
      if (!isHeldEvent(batch.type(i), seq, batch.ref(i))) {
        rest.push(i);
        continue;
      }
      if (early.window.count === 0) early.receivedAt = batch.receivedAt;
      early.window.push(batch.frame(i), seq, batch.length(i));
    }
    if (rest.length === batch.count) this.emit('frames', batch);
    else if (rest.length > 0) this.emit('frames', new SubsetBatch(batch, rest));
  }

  /** @internal Our ADDP poll was answered (sampled natively: at most one a second). */
  onHeartbeat(rttMs: number, at: number): void {
    if (this.state === 'open') this.emit('heartbeat', rttMs, at);
  }

  /** @internal The connection ended: how far our frames got (ADDP excluded), the last heartbeat facts. */
  onOutbound(flushed: number, rttMs: number, at: number, answered: number): void {
    this.outboundFlushed = flushed;
    this.finalHeartbeat = answered > 0 && rttMs >= 0 ? { rttMs, at, answered } : undefined;
  }

  /** @internal */
  onBackpressure(paused: boolean, queuedBytes: number): void {
    if (this.state === 'open') this.emit('backpressure', { paused, queuedBytes });
  }

  /** @internal */
  onRelease(batch: NativeFrameBatch, evictedUpTo: number, firstSeenSeq: number, lastSeenSeq: number, seqDecreased: boolean): void {
    this.releases.shift()?.({ batch, evictedUpTo, firstSeenSeq, lastSeenSeq, seqDecreased });
  }

  /** @internal */
  onClose(reason: CloseReason, err: number, message: string, lossAt: number, closedAt: number): void {
    if (lossAt >= 0) this.ts.lossDetectedAt = lossAt;
    this.ts.closedAt = closedAt;
    let error: TransportError | ProtocolError | undefined;
    if (reason === 'protocol-error') {
      error = new ProtocolError(protocolCodeOf(err), message.replace(/^ERR_[A-Z0-9_]+: /, ''));
    } else if (reason !== 'local') {
      const syscallCode = err < 0 ? getSystemErrorName(err) : undefined;
      error = new TransportError(ERROR_CODES[reason] ?? 'ERR_SOCKET', message, { syscallCode });
    }
    this.finish(reason, error);
  }

  protected onClosed(): void {
    this.holding = false;
    for (const r of this.releases.splice(0)) {
      r({ batch: new NativeFrameBatch(Buffer.alloc(0), new Float64Array(0), 0, 0, this.limits), evictedUpTo: -1, firstSeenSeq: -1, lastSeenSeq: -1, seqDecreased: false });
    }
  }

  protected flushedAtClose(): number {
    // Only from the thread's own count (an addon without the Outbound record reports nothing): it counts
    // exactly the frames written through write(), the prefix of what send() accepted that reached it.
    return this.outboundFlushed;
  }
}
