import { Attr } from '../protocol/ids.js';
import type { MessageFrame } from '../protocol/types.js';
import type { FrameBatch } from './types.js';

/** Sequence number / reference id of a decoded frame, or -1 (int32 and int64 values accepted). */
export function numericAttr(frame: MessageFrame, id: number): number {
  for (const a of frame.attributes) {
    if (a.id !== id) continue;
    if (typeof a.value === 'number') return a.value;
    if (typeof a.value === 'bigint') return Number(a.value);
    return -1;
  }
  return -1;
}

/** EventSequenceNumber (148) of a frame, or -1. */
export const seqOf = (frame: MessageFrame): number => numericAttr(frame, Attr.EventSequenceNumber);
/** ReferenceID (2) of a frame, or -1. */
export const refOf = (frame: MessageFrame): number => numericAttr(frame, Attr.ReferenceID);

/**
 * {@link FrameBatch} of the node transport: the frames are already decoded by the TS codec, so the batch
 * is a plain array and stays valid after the listener returns (unlike the native one — do not rely on it).
 */
export class NodeFrameBatch implements FrameBatch {
  readonly receivedAt: number;
  private readonly frames: readonly MessageFrame[];
  private readonly seqs: readonly number[] | undefined;

  /** @param seqs precomputed sequence numbers (the window already has them), parallel to `frames` */
  constructor(frames: readonly MessageFrame[], receivedAt: number, seqs?: readonly number[]) {
    this.frames = frames;
    this.receivedAt = receivedAt;
    this.seqs = seqs;
  }

  get count(): number {
    return this.frames.length;
  }

  type(i: number): number {
    return this.at(i).type;
  }

  seq(i: number): number {
    return this.seqs ? this.seqs[this.check(i)]! : seqOf(this.at(i));
  }

  ref(i: number): number {
    return refOf(this.at(i));
  }

  frame(i: number): MessageFrame {
    return this.at(i);
  }

  /** All frames, in order (a copy of the array; the frames themselves are shared). */
  toArray(): MessageFrame[] {
    return this.frames.slice();
  }

  private check(i: number): number {
    if (!Number.isInteger(i) || i < 0 || i >= this.frames.length) {
      throw new RangeError(`frame index ${i} out of range [0, ${this.frames.length})`);
    }
    return i;
  }

  private at(i: number): MessageFrame {
    return this.frames[this.check(i)]!;
  }
}
