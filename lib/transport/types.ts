import type { EventEmitter } from 'node:events';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import type { CodecLimits } from '../protocol/constants.js';
import type { MessageFrame } from '../protocol/types.js';
import type { ProtocolError } from '../protocol/errors.js';
import type { TransportError } from '../errors.js';

/**
 * One connection to one T-Server. Two implementations pass one conformance suite
 * (test/transport/conformance.test.ts): `native` (the addon's I/O thread) and `node` (net/tls + TS codec).
 * All timestamps are monotonic milliseconds from {@link monotonicMs} (`uv_hrtime` clock).
 */
export interface TransportOptions {
  host: string;
  port: number;
  /** Deadline for the TCP (and TLS) connect. Default 2000 ms. */
  connectTimeoutMs?: number;
  /**
   * ADDP on our side (docs/protocol.md): after `timeoutMs / 2` with no byte received, send a poll; after
   * `timeoutMs` with no byte, the connection is lost (`ERR_ADDP_TIMEOUT`). `false` disables it. Default `{ timeoutMs: 1000 }`.
   * Polls from the peer are always answered, by the transport itself (never reaching JS frames).
   */
  addp?: { timeoutMs: number } | false;
  /** TCP keepalive (Linux: idle, interval and count; node transport: idle only). Default idle 1000, interval 1000, count 3. */
  keepAlive?: { idleMs: number; intervalMs: number; count: number } | false;
  /** TCP_USER_TIMEOUT (Linux, native only; ignored elsewhere). Default 3000 ms. 0 disables. */
  userTimeoutMs?: number;
  /** TCP_NODELAY. Default true. */
  noDelay?: boolean;
  /** Codec limits (max frame size, depth, attributes). */
  limits?: CodecLimits;
  /**
   * Bytes read from the socket but not yet taken by JS. Past this bound the transport stops reading and
   * emits `backpressure`; it never grows without limit. Default 32 MiB.
   */
  maxQueuedBytes?: number;
  /** TLS options; forces the node transport (the addon does not do TLS). */
  tls?: TlsOptions;
}

/** Timestamps of one connection's life, monotonic ms. */
export interface TransportTimestamps {
  connectStartAt: number;
  connectedAt?: number;
  firstByteAt?: number;
  /** When the failure that ended the connection was detected (EOF, RST, ADDP deadline, error). */
  lossDetectedAt?: number;
  closedAt?: number;
}

/** Why a transport closed. */
export type CloseReason =
  | 'local'          // close()/destroy() from our side
  | 'peer-closed'    // orderly EOF from the peer
  | 'peer-reset'     // ECONNRESET / EPIPE
  | 'addp-timeout'   // silent peer: no byte within the ADDP deadline
  | 'connect-timeout'
  | 'connect-refused'
  | 'protocol-error' // the peer sent a frame that breaks docs/protocol.md
  | 'queue-overflow' // hard memory cap reached
  | 'error';         // any other socket error (ETIMEDOUT from TCP_USER_TIMEOUT/keepalive, EHOSTUNREACH, …)

/** Payload of the `close` event; emitted exactly once per transport. */
export interface CloseInfo {
  reason: CloseReason;
  /** Absent for `local`. */
  error?: TransportError | ProtocolError;
  timestamps: TransportTimestamps;
  /**
   * How far the outbound stream provably got, for a connection that opened (absent otherwise, and where the
   * transport cannot know: TLS). `sent`: bytes of the frames `send()` accepted on this connection, in order;
   * `flushed`: how many of those bytes the kernel had taken (completed writes plus libuv's exact progress)
   * when the loss was detected — ADDP frames of the transport's own are not counted in either. `flushed`
   * never overstates: bytes at offsets ≥ `flushed` of this stream never left the process (a frame that ends
   * past `flushed` was certainly not sent). Bytes below it reached the kernel, not necessarily the peer.
   */
  outbound?: { sent: number; flushed: number };
}

/** The latest heartbeat facts of a connection, read on demand ({@link Transport.heartbeatStats}). */
export interface HeartbeatStats {
  /** Round trip of the last answered ADDP poll of ours, ms. */
  rttMs: number;
  /** When it was answered (monotonic ms). */
  at: number;
  /** Polls of ours answered on this connection so far. */
  answered: number;
}

/**
 * A batch of message frames, read lazily. Materializing a frame (`frame(i)`) builds objects; `type(i)`
 * and `seq(i)` read the index only. A batch is valid only during the `frames` listener call unless
 * materialized (the native transport reuses its memory after the listener returns).
 */
export interface FrameBatch {
  readonly count: number;
  /** Monotonic ms when the first byte of this batch was read. */
  readonly receivedAt: number;
  /** TMessageType id of frame i. */
  type(i: number): number;
  /** EventSequenceNumber of frame i, or -1 if it has none. */
  seq(i: number): number;
  /** ReferenceID of frame i, or -1 if it has none. */
  ref(i: number): number;
  /** Frame i as a decoded message. */
  frame(i: number): MessageFrame;
}

/**
 * Where the bytes of a batch's frames live for as long as anything reads them: during the `frames` listener
 * the transport's own memory, afterwards (once {@link RawFrameBatch.retain} was called) a JS-owned copy of
 * the batch's frames. A frame at `offset(i)` in the batch is at `offset(i) - base` in `bytes`.
 */
export interface FrameBytes {
  readonly bytes: Buffer;
  readonly base: number;
  readonly limits: import('../protocol/decoder.js').ResolvedLimits;
}

/**
 * A batch whose frames can be read from their validated bytes (the native transport): an event built on it
 * decodes only the attributes it is asked for. Not every transport's batches are raw (the node transport's
 * frames are decoded as they are read).
 */
export interface RawFrameBatch extends FrameBatch {
  /** The bytes holder, kept readable after the listener returns (one copy per batch, made only then). */
  retain(): FrameBytes;
  /** Offset of frame i (its length prefix) in the batch's memory. */
  offset(i: number): number;
  /** Length of frame i, prefix included. */
  length(i: number): number;
}

/** Bounds of the hot-standby window (see {@link Transport.hold}). */
export interface WindowOptions {
  maxFrames: number;
  maxBytes: number;
}

/** What {@link Transport.release} found in the window. */
export interface ReleaseResult {
  /**
   * Held frames with seq > afterSeq, in order — or, when the window's numbering went back (`seqDecreased`),
   * every held frame: "above afterSeq" means nothing across a restarted numbering.
   */
  batch: FrameBatch;
  /** Highest sequence number evicted from the window for lack of room, or -1. */
  evictedUpTo: number;
  /** Lowest sequence number that ever entered the window since hold(), or -1. */
  firstSeenSeq: number;
  /** Sequence number of the last frame that entered the window since hold() (returned or not), or -1. */
  lastSeenSeq: number;
  /** A frame entered the window with a sequence number not above the one before it (the server's numbering restarted). */
  seqDecreased: boolean;
}

/** Events of a transport. */
export interface TransportEvents {
  /** TCP (and TLS) connected. */
  connect: [at: number];
  /** One or more message frames, in order. ADDP frames never appear here. */
  frames: [batch: FrameBatch];
  /** Reading paused (queue full) or resumed. */
  backpressure: [info: { paused: boolean; queuedBytes: number }];
  /** The connection ended or never opened. Exactly once; nothing is emitted after it. */
  close: [info: CloseInfo];
  /**
   * One of our ADDP polls was answered after `rttMs` (monotonic `at`). Optional for an implementation;
   * sampled (at most one a second per connection). Costs only while listened to: with no `heartbeat`
   * listener the transports keep the facts where the heartbeat runs (the native I/O thread) and nothing
   * crosses to JS — read them with {@link Transport.heartbeatStats} instead.
   */
  heartbeat: [rttMs: number, at: number];
}

/** One connection to one server. */
export interface Transport extends EventEmitter<TransportEvents> {
  /** `native` (the addon), `node` (net/tls), or the name of a transport supplied as a factory. */
  readonly kind: string;
  readonly timestamps: Readonly<TransportTimestamps>;
  /** True between `connect` and `close`. */
  readonly connected: boolean;
  /** Start connecting; resolves on `connect`, rejects with a TransportError if the connection fails first. */
  connect(): Promise<void>;
  /** Queue one encoded frame. Throws TransportError `ERR_TRANSPORT_CLOSED` when not connected. */
  send(frame: Uint8Array): void;
  /**
   * Hot-standby backup mode: switch events (an EventSequenceNumber, no ReferenceID, not a server report:
   * see hold-rule.ts) are kept in a bounded window (oldest evicted first) instead of being emitted;
   * everything else (replies such as EventServerInfo/EventRegistered, link and role reports, even with a
   * sequence number) is still emitted.
   */
  hold(window: WindowOptions): void;
  /** Leave hold mode: return held frames with seq > afterSeq; every later frame is emitted normally. */
  release(afterSeq: number): Promise<ReleaseResult>;
  /** Orderly close (flush queued writes, FIN). Resolves after `close`. */
  close(): Promise<void>;
  /** Abortive close (RST via SO_LINGER 0), used when failing away from a server. Resolves after `close`. */
  destroy(): Promise<void>;
  /**
   * The latest heartbeat facts (our last answered ADDP poll), read now without any listener; undefined
   * before the first answer. After `close`, the facts as they were when the connection ended. Optional for
   * an implementation.
   */
  heartbeatStats?(): HeartbeatStats | undefined;
}

/** Creates a transport; `transport: 'auto' | 'native' | 'node'` picks the factory. */
export type TransportFactory = (options: TransportOptions) => Transport;
