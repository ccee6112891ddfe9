import type { MessageFrame } from '../protocol/types.js';
import type { FrameBatch } from './types.js';

/** Some frames of a batch, by index, in order (the batch's validity rules still apply). */
export class SubsetBatch implements FrameBatch {
  constructor(
    private readonly inner: FrameBatch,
    private readonly indices: readonly number[],
  ) {}
  get count(): number {
    return this.indices.length;
  }
  get receivedAt(): number {
    return this.inner.receivedAt;
  }
  type(i: number): number {
    return this.inner.type(this.indices[i]!);
  }
  seq(i: number): number {
    return this.inner.seq(this.indices[i]!);
  }
  ref(i: number): number {
    return this.inner.ref(this.indices[i]!);
  }
  frame(i: number): MessageFrame {
    return this.inner.frame(this.indices[i]!);
  }
}

/** Two batches read as one: all of `a`, then all of `b`. */
export class ConcatBatch implements FrameBatch {
  constructor(
    private readonly a: FrameBatch,
    private readonly b: FrameBatch,
  ) {}
  get count(): number {
    return this.a.count + this.b.count;
  }
  get receivedAt(): number {
    return this.a.count > 0 ? this.a.receivedAt : this.b.receivedAt;
  }
  private pick<T>(i: number, f: (batch: FrameBatch, j: number) => T): T {
    return i < this.a.count ? f(this.a, i) : f(this.b, i - this.a.count);
  }
  type(i: number): number {
    return this.pick(i, (b, j) => b.type(j));
  }
  seq(i: number): number {
    return this.pick(i, (b, j) => b.seq(j));
  }
  ref(i: number): number {
    return this.pick(i, (b, j) => b.ref(j));
  }
  frame(i: number): MessageFrame {
    return this.pick(i, (b, j) => b.frame(j));
  }
}
