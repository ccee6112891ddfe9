/**
 * The I/O thread's delivery format (native/addon/io_host.h): a block of bytes plus a Float64Array index of
 * fixed-size records. Kept in one place so the C++ header and the TS reader can be compared side by side.
 * @internal
 */
import type { CloseReason } from '../transport/types.js';

/** Doubles per record. */
export const STRIDE = 8;

/** Record kinds; the fields after `[kind, connId]` are listed per kind. */
export const Rec = {
  /** offset, length (whole frame, prefix included), type, seq, ref, receivedAt */
  Frame: 1,
  /** connectedAt, connectStartAt */
  Connect: 2,
  /** at */
  FirstByte: 3,
  /** paused (0/1), queuedBytes */
  Backpressure: 4,
  /** reason, err, msgOffset, msgLength, lossDetectedAt (-1 = none), closedAt */
  Close: 5,
  /** count, evictedUpTo, firstSeenSeq, lastSeenSeq, seqDecreased (0/1); followed by `count` Frame records */
  Release: 6,
  /** rttMs, at: our ADDP poll was answered (at most one a second per connection; only while asked for: `heartbeats`) */
  Heartbeat: 7,
  /**
   * flushed, rttMs, at, answered: just before the Close record of a connection that opened — bytes of the
   * frames JS wrote (ADDP excluded) the kernel had taken when the loss was detected; the last heartbeat facts
   * (rttMs and at -1 when no poll was answered).
   */
  Outbound: 8,
} as const;

/** Native close codes (io_host.h CloseCode) by index. */
export const CLOSE_REASONS: readonly CloseReason[] = [
  'local', 'peer-closed', 'peer-reset', 'addp-timeout', 'connect-timeout', 'connect-refused', 'protocol-error',
  'queue-overflow', 'error',
];

/** Positions in the options Float64Array of `io.open` (io_host.h OptIndex). */
export const Opt = {
  ConnectTimeout: 0, Addp: 1, KeepIdle: 2, KeepInterval: 3, KeepCount: 4, UserTimeout: 5, NoDelay: 6,
  MaxFrameSize: 7, MaxDepth: 8, MaxAttributes: 9, MaxQueued: 10, HoldFrames: 11, HoldBytes: 12, ConnectLeft: 13,
  AttemptTimeout: 14, Count: 15,
} as const;

/** `exports.io` of the addon (native/addon/io_napi.cc). */
export interface IoBinding {
  /**
   * Starts the thread; returns views of its delivery area. `dispatch(records)` means the block is in that
   * area; a block too big for it comes as its own `bytes` and `index` (both detached after the call).
   */
  start(dispatch: (records: number, bytes?: ArrayBuffer, index?: Float64Array) => void): [ArrayBuffer, Float64Array];
  /** `host` names the server in messages; `addresses` (1..64 IP literals) are connected to in order. */
  open(id: number, host: string, port: number, options: Float64Array, addresses: string[]): void;
  write(id: number, frame: Uint8Array): void;
  close(id: number, abort: boolean): void;
  hold(id: number, maxFrames: number, maxBytes: number): void;
  release(id: number, afterSeq: number): void;
  /**
   * Deliver Heartbeat records of `id` (on) or only keep the facts (off, the default). Absent from an addon
   * built before it existed (then every answered poll is delivered, sampled).
   */
  heartbeats?(id: number, on: boolean): void;
  /** Fill `out` with [rttMs, at, answered] of `id`'s last answered poll; false when none (or not open). */
  heartbeat?(id: number, out: Float64Array): boolean;
  ack(): void;
  ref(on: boolean): void;
  /** Live native objects of this addon instance (leak checks). */
  stats(): { conns: number; blocks: number; started: boolean; queuedBytes: number; heldBytes: number; peakBytes: number; memoryLimit: number };
  /** Per-process budget of bytes held for JS (io_host.h Host::maxTotalBytes). */
  setMemoryLimit(bytes: number): void;
  readonly recordStride: number;
  readonly optionCount: number;
  /** Checked by the loader (an addon from another version of the package is refused). */
  readonly interfaceVersion: number;
}
