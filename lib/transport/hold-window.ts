import { wentBack } from '../protocol/sequence.js';
import { ConfigError } from '../errors.js';
import type { MessageFrame } from '../protocol/types.js';
import { ConcatBatch, SubsetBatch } from './batch-views.js';
import { NodeFrameBatch } from './frame-batch.js';
import type { FrameBatch } from './types.js';
import type { ReleaseResult, WindowOptions } from './types.js';

/**
 * The hot-standby window of the node transport: frames with a sequence number, oldest evicted first
 * when either bound is exceeded. Eviction is tracked so the pair can report the exact lost range.
 * Entries are the frames' wire bytes (already validated by a scan); only the frames a release returns are
 * ever decoded.
 */
export class HoldWindow<T = Buffer> {
  private frames: T[] = [];
  private seqs: number[] = [];
  private sizes: number[] = [];
  /** Index of the oldest live entry; the arrays are compacted lazily so eviction is O(1). */
  private head = 0;
  private bytes = 0;
  private evictedUpTo = -1;
  private firstSeenSeq = -1;
  private lastSeenSeq = -1;
  private decreased = false;
  private readonly maxFrames: number;
  private readonly maxBytes: number;

  constructor(options: WindowOptions) {
    for (const k of ['maxFrames', 'maxBytes'] as const) {
      const v = options?.[k];
      if (!Number.isSafeInteger(v) || v < 1) throw new ConfigError(`hold window ${k} must be a positive integer, got ${String(v)}`);
    }
    this.maxFrames = options.maxFrames;
    this.maxBytes = options.maxBytes;
  }

  /** Frames currently held. */
  get count(): number {
    return this.frames.length - this.head;
  }

  /** Wire bytes currently held. */
  get heldBytes(): number {
    return this.bytes;
  }

  /** Add one frame (its wire bytes, owned by the window) and evict from the front until both bounds hold. */
  push(frame: T, seq: number, size: number = (frame as unknown as { length: number }).length): void {
    if (this.firstSeenSeq === -1 || seq < this.firstSeenSeq) this.firstSeenSeq = seq;
    if (wentBack(this.lastSeenSeq, seq)) this.decreased = true;
    this.lastSeenSeq = seq;
    this.frames.push(frame);
    this.seqs.push(seq);
    this.sizes.push(size);
    this.bytes += size;
    while (this.count > 0 && (this.count > this.maxFrames || this.bytes > this.maxBytes)) {
      const s = this.seqs[this.head]!;
      if (s > this.evictedUpTo) this.evictedUpTo = s;
      this.bytes -= this.sizes[this.head]!;
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > this.frames.length) this.compact();
  }

  /**
   * Everything held with seq > afterSeq (everything, if the numbering went back), in arrival order, plus the
   * bookkeeping; `decode` turns a held frame's bytes into a message.
   */
  drain(afterSeq: number, receivedAt: number, decode: (frame: T) => MessageFrame): ReleaseResult {
    const frames: MessageFrame[] = [];
    const seqs: number[] = [];
    for (let i = this.head; i < this.frames.length; i++) {
      if (this.decreased || this.seqs[i]! > afterSeq) {
        frames.push(decode(this.frames[i]!));
        seqs.push(this.seqs[i]!);
      }
    }
    const result: ReleaseResult = {
      batch: new NodeFrameBatch(frames, receivedAt, seqs),
      evictedUpTo: this.evictedUpTo,
      firstSeenSeq: this.firstSeenSeq,
      lastSeenSeq: this.lastSeenSeq,
      seqDecreased: this.decreased,
    };
    this.frames = [];
    this.seqs = [];
    this.sizes = [];
    this.head = 0;
    this.bytes = 0;
    return result;
  }

  private compact(): void {
    this.frames = this.frames.slice(this.head);
    this.seqs = this.seqs.slice(this.head);
    this.sizes = this.sizes.slice(this.head);
    this.head = 0;
  }
}

/**
 * Two releases of one connection's window, `head` then `tail` in stream order (the native transport's
 * JS-held early frames, then its thread's window), as one, filtered by the window's rule: seq > afterSeq,
 * or everything when the numbering went back anywhere — inside either part or across the boundary. Both
 * parts must be unfiltered (released with afterSeq -1).
 */
export function concatReleases(head: ReleaseResult, tail: ReleaseResult, afterSeq: number): ReleaseResult {
  // The tail's first frame is its lowest unless its own numbering went back (then it says so).
  const decreased = head.seqDecreased || tail.seqDecreased || wentBack(head.lastSeenSeq, tail.firstSeenSeq);
  // The window evicts its oldest frames first: what the tail evicted is newer than the head's frames, so the
  // head's frames up to there count as evicted too (reported in the gap up to evictedUpTo, not delivered).
  const kept = (b: FrameBatch, above: number): FrameBatch => {
    if (decreased) return b;
    const keep: number[] = [];
    for (let i = 0; i < b.count; i++) if (b.seq(i) > above) keep.push(i);
    return keep.length === b.count ? b : new SubsetBatch(b, keep);
  };
  const lowest = [head.firstSeenSeq, tail.firstSeenSeq].filter((s) => s >= 0);
  return {
    batch: new ConcatBatch(kept(head.batch, Math.max(afterSeq, tail.evictedUpTo)), kept(tail.batch, afterSeq)),
    evictedUpTo: Math.max(head.evictedUpTo, tail.evictedUpTo),
    firstSeenSeq: lowest.length > 0 ? Math.min(...lowest) : -1,
    lastSeenSeq: tail.lastSeenSeq >= 0 ? tail.lastSeenSeq : head.lastSeenSeq,
    seqDecreased: decreased,
  };
}
