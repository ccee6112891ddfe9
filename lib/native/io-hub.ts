import type { ResolvedLimits } from '../protocol/decoder.js';
import { CLOSE_REASONS, Rec, STRIDE, type IoBinding } from './io-records.js';
import { NativeFrameBatch } from './native-frame-batch.js';
import type { CloseReason } from '../transport/types.js';

/** What the hub calls on a transport; implemented by NativeTransport. @internal */
export interface HubClient {
  readonly limits: ResolvedLimits;
  onConnect(at: number, startAt: number): void;
  onFirstByte(at: number): void;
  onFrames(batch: NativeFrameBatch): void;
  onBackpressure(paused: boolean, queuedBytes: number): void;
  onRelease(batch: NativeFrameBatch, evictedUpTo: number, firstSeenSeq: number, lastSeenSeq: number, seqDecreased: boolean): void;
  onClose(reason: CloseReason, err: number, message: string, lossAt: number, closedAt: number): void;
  onHeartbeat?(rttMs: number, at: number): void;
  /** Just before onClose, for a connection that opened: how far the outbound stream got, the last heartbeat. */
  onOutbound?(flushed: number, rttMs: number, at: number, answered: number): void;
}

/**
 * Acknowledging a block lets the thread send the next one, and a thread-safe function calls JS again in the
 * same event-loop turn when the next block was queued during the call (Node re-dispatches up to 1000 times
 * per wake-up): acking every block at once lets a stream keep the loop from its timers. So a small block
 * (≤ SMALL_BLOCK records) is acked at once only QUICK_ACKS times in a row; then, and for any larger block,
 * the ack waits for setImmediate — the loop finishes its turn first — and that ack starts a new count. At
 * most QUICK_ACKS + 1 blocks reach JS per turn, and a quiet stream (a block per turn) pays one setImmediate
 * per QUICK_ACKS + 1 blocks, not one per block.
 */
const SMALL_BLOCK = 32;
const QUICK_ACKS = 4;

/**
 * The JS end of one addon instance's I/O thread (one per realm: the main thread and each worker load their
 * own). Routes the records of each delivered block to their transports, then acknowledges the block; the
 * thread sends the next one only after that, one block in flight (docs/native-transport.md: a freely queued
 * thread-safe function starves timers). Holds live transports strongly, like `net` holds
 * open sockets, and keeps the thread-safe function referenced exactly while any is live (an open pair keeps
 * the process alive, an idle one does not).
 * @internal
 */
export class IoHub {
  private readonly clients = new Map<number, HubClient>();
  private nextId = 1;
  /** Quick acks since the last deferred one (see QUICK_ACKS). */
  private quickAcks = 0;
  private readonly deferredAck = (): void => {
    this.quickAcks = 0;
    this.io.ack();
  };
  /** JS views of the I/O thread's delivery area (io_host.h `DeliveryBytes`): made once, read per block. */
  private readonly areaBytes: Buffer;
  private readonly areaIndex: Float64Array;

  constructor(private readonly io: IoBinding) {
    const [bytes, index] = io.start((records, bytes, index) => this.dispatch(records, bytes, index));
    this.areaBytes = Buffer.from(bytes);
    this.areaIndex = index;
  }

  /** Register a transport and open its connection natively, to `addresses` (IP literals) in order. */
  open(client: HubClient, host: string, port: number, options: Float64Array, addresses: string[]): number {
    const id = this.nextId++;
    if (this.nextId > 0xffffffff) this.nextId = 1;
    this.io.open(id, host, port, options, addresses); // throws on bad arguments: nothing registered then
    this.clients.set(id, client);
    if (this.clients.size === 1) this.io.ref(true);
    return id;
  }

  write(id: number, frame: Uint8Array): void {
    this.io.write(id, frame);
  }

  close(id: number, abort: boolean): void {
    this.io.close(id, abort);
  }

  hold(id: number, maxFrames: number, maxBytes: number): void {
    this.io.hold(id, maxFrames, maxBytes);
  }

  release(id: number, afterSeq: number): void {
    this.io.release(id, afterSeq);
  }

  /** Whether this addon can keep heartbeats on its thread (an older build delivers every one). */
  get heartbeatsOnDemand(): boolean {
    return typeof this.io.heartbeats === 'function' && typeof this.io.heartbeat === 'function';
  }

  heartbeats(id: number, on: boolean): void {
    this.io.heartbeats?.(id, on);
  }

  private readonly hbOut = new Float64Array(3);

  /** The last answered poll of `id` (read from the I/O thread now), or undefined. */
  heartbeat(id: number): { rttMs: number; at: number; answered: number } | undefined {
    if (this.io.heartbeat === undefined || !this.io.heartbeat(id, this.hbOut)) return undefined;
    return { rttMs: this.hbOut[0]!, at: this.hbOut[1]!, answered: this.hbOut[2]! };
  }

  /** Live connections (tests). */
  get liveCount(): number {
    return this.clients.size;
  }

  private dispatch(records: number, ab: ArrayBuffer | undefined, index: Float64Array | undefined): void {
    try {
      this.route(ab === undefined ? this.areaBytes : Buffer.from(ab), index ?? this.areaIndex, records);
    } finally {
      if (records <= SMALL_BLOCK && this.quickAcks < QUICK_ACKS) {
        this.quickAcks++;
        this.io.ack();
      } else {
        setImmediate(this.deferredAck);
      }
    }
  }

  private route(bytes: Buffer, index: Float64Array, n: number): void {
    let i = 0;
    while (i < n) {
      const r = i * STRIDE;
      const kind = index[r]!;
      const id = index[r + 1]!;
      const c = this.clients.get(id);
      if (kind === Rec.Frame) {
        let j = i + 1;
        while (j < n && index[j * STRIDE] === Rec.Frame && index[j * STRIDE + 1] === id) j++;
        if (c) {
          const batch = new NativeFrameBatch(bytes, index, i, j - i, c.limits);
          try {
            c.onFrames(batch);
          } catch (err) {
            rethrowLater(err);
          }
          batch.expire();
        }
        i = j;
        continue;
      }
      if (c) {
        switch (kind) {
          case Rec.Connect:
            guard(() => c.onConnect(index[r + 2]!, index[r + 3]!));
            break;
          case Rec.FirstByte:
            c.onFirstByte(index[r + 2]!);
            break;
          case Rec.Backpressure:
            guard(() => c.onBackpressure(index[r + 2] === 1, index[r + 3]!));
            break;
          case Rec.Heartbeat:
            guard(() => c.onHeartbeat?.(index[r + 2]!, index[r + 3]!));
            break;
          case Rec.Outbound:
            guard(() => c.onOutbound?.(index[r + 2]!, index[r + 3]!, index[r + 4]!, index[r + 5]!));
            break;
          case Rec.Close: {
            const off = index[r + 4]!;
            const msg = bytes.toString('utf8', off, off + index[r + 5]!);
            this.clients.delete(id);
            if (this.clients.size === 0) this.io.ref(false);
            guard(() => c.onClose(CLOSE_REASONS[index[r + 2]!] ?? 'error', index[r + 3]!, msg, index[r + 6]!, index[r + 7]!));
            break;
          }
          case Rec.Release: {
            const count = index[r + 2]!;
            // A copy: the promise is settled after this block's memory went back to the thread.
            guard(() => c.onRelease(new NativeFrameBatch(bytes, index, i + 1, count, c.limits).copy(), index[r + 3]!, index[r + 4]!, index[r + 5]!, index[r + 6] === 1));
            i += count;
            break;
          }
        }
      } else if (kind === Rec.Release) {
        i += index[r + 2]!;
      }
      i++;
    }
  }
}

/** A throwing listener must not stop the routing of the rest of the block: rethrow it on its own tick. */
function guard(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    rethrowLater(err);
  }
}

function rethrowLater(err: unknown): void {
  process.nextTick(() => {
    throw err;
  });
}
