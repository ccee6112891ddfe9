import type { FrameBatch } from '../transport/types.js';
import type { EndpointName } from '../endpoint/endpoint.js';
import { TEvent } from './events.js';

/**
 * Exactly-once, in-order delivery by EventSequenceNumber. Every server event passes here; one with a
 * sequence number at or below the last delivered one is a duplicate (the backup's copy of an event the
 * primary already gave us) and is dropped. While a switchover is replaying a window, live events of the
 * new source wait here so that they cannot overtake the replay.
 */
export class Sequencer {
  /** Highest EventSequenceNumber delivered, or -1. */
  lastSeq = -1;
  delivered = 0;
  duplicatesDropped = 0;
  private waiting: TEvent[] | null = null;
  private holeExpected = false;

  constructor(
    private readonly emit: (e: TEvent) => void,
    /** A range of sequence numbers the source's stream skipped (see {@link expectHole}). */
    private readonly onHole: (range: { fromSeq: number; toSeq: number }) => void,
  ) {}

  /**
   * The source's CTI link dropped: its server misses switch events until the link is back, so the first
   * sequence-numbered event after that may jump. Whatever it skips is reported through `onHole` before it.
   */
  expectHole(): void {
    this.holeExpected = true;
  }

  /** Hold live events until {@link resume} (a replay is being prepared). */
  pause(): void {
    this.waiting ??= [];
  }

  /** Deliver the events held since {@link pause}, in arrival order. */
  resume(): void {
    const held = this.waiting ?? [];
    this.waiting = null;
    for (const e of held) this.deliverEvent(e);
  }

  /** The source changed: a hole expected in the old source's stream does not apply to the new one. */
  clearHole(): void {
    this.holeExpected = false;
  }

  /** Forget the events held since {@link pause} (their source was lost before its replay arrived). */
  discard(): void {
    this.waiting = null;
    this.holeExpected = false;
  }

  /** Frame `i` of `batch` from `source`; returns whether it was delivered (not a duplicate, not held). */
  offer(source: EndpointName, batch: FrameBatch, i: number): boolean {
    const seq = batch.seq(i);
    if (seq >= 0 && seq <= this.lastSeq) {
      this.duplicatesDropped++;
      return false;
    }
    const e = new TEvent(batch.frame(i), source, seq, batch.receivedAt);
    if (this.waiting) {
      this.waiting.push(e);
      return false;
    }
    this.deliverEvent(e);
    return true;
  }

  /** Deliver a replayed window now, ahead of live events held by {@link pause}; returns how many were new. */
  replay(source: EndpointName, batch: FrameBatch): number {
    let n = 0;
    for (let i = 0; i < batch.count; i++) {
      const seq = batch.seq(i);
      if (seq >= 0 && seq <= this.lastSeq) {
        this.duplicatesDropped++;
        continue;
      }
      this.deliverEvent(new TEvent(batch.frame(i), source, seq, batch.receivedAt));
      n++;
    }
    return n;
  }

  /** Skip past `seq`: nothing at or below it will be delivered any more (after a reported gap). */
  skipTo(seq: number): void {
    if (seq > this.lastSeq) this.lastSeq = seq;
  }

  private deliverEvent(e: TEvent): void {
    if (e.seq >= 0) {
      if (e.seq <= this.lastSeq) {
        this.duplicatesDropped++;
        return;
      }
      if (this.holeExpected) {
        this.holeExpected = false;
        if (this.lastSeq >= 0 && e.seq > this.lastSeq + 1) this.onHole({ fromSeq: this.lastSeq + 1, toSeq: e.seq - 1 });
      }
      this.lastSeq = e.seq;
    }
    this.delivered++;
    this.emit(e);
  }
}
