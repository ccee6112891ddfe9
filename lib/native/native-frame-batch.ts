import { TServerHaError } from '../errors.js';
import { LENGTH_BYTES } from '../protocol/constants.js';
import { decodeBody, type ResolvedLimits } from '../protocol/decoder.js';
import type { MessageFrame } from '../protocol/types.js';
import type { FrameBytes, RawFrameBatch } from '../transport/types.js';
import { STRIDE } from './io-records.js';

/**
 * {@link FrameBatch} over one block delivered by the I/O thread: `count` consecutive Frame records of the
 * index, read by offset (no per-frame object or subarray: a Buffer view per frame measured slower than decoding in JS). The bytes are valid only
 * during the `frames` listener call: the block's memory goes back to the thread afterwards and `frame(i)`
 * then throws `ERR_BATCH_EXPIRED`; `type/seq/ref/receivedAt` keep working (the index records are copied
 * once per batch when it expires). A batch from {@link NativeFrameBatch.copy} (release results) stays
 * fully valid.
 */
export class NativeFrameBatch implements RawFrameBatch {
  private bytes: Buffer | null;
  private index: Float64Array;
  /** Set once an event kept a reference: the frames' bytes are copied when the delivery ends. */
  private holder: { bytes: Buffer; base: number; limits: ResolvedLimits } | null = null;

  constructor(
    bytes: Buffer,
    index: Float64Array,
    /** Record number of the first frame. */
    private first: number,
    readonly count: number,
    private readonly limits: ResolvedLimits,
  ) {
    this.bytes = bytes;
    this.index = index;
  }

  get receivedAt(): number {
    return this.count === 0 ? 0 : this.field(0, 7);
  }

  type(i: number): number {
    return this.field(i, 4);
  }

  seq(i: number): number {
    return this.field(i, 5);
  }

  ref(i: number): number {
    return this.field(i, 6);
  }

  offset(i: number): number {
    return this.field(i, 2);
  }

  length(i: number): number {
    return this.field(i, 3);
  }

  retain(): FrameBytes {
    if (this.bytes === null && this.holder === null) this.expired();
    return (this.holder ??= { bytes: this.bytes!, base: 0, limits: this.limits });
  }

  frame(i: number): MessageFrame {
    const off = this.field(i, 2);
    if (this.bytes === null) this.expired();
    const len = this.index[(this.first + i) * STRIDE + 3]!;
    // Already validated by the codec core on the I/O thread; decoding again is the TS reference path.
    return decodeBody(this.bytes!, off + LENGTH_BYTES, off + len, this.limits, off) as MessageFrame;
  }

  /** A self-contained copy (its own bytes and index) that outlives the delivery. */
  copy(): NativeFrameBatch {
    const idx = this.live();
    let total = 0;
    for (let i = 0; i < this.count; i++) total += idx[(this.first + i) * STRIDE + 3]!;
    const bytes = Buffer.allocUnsafe(total);
    const index = new Float64Array(this.count * STRIDE);
    let pos = 0;
    for (let i = 0; i < this.count; i++) {
      const r = (this.first + i) * STRIDE;
      const off = idx[r + 2]!;
      const len = idx[r + 3]!;
      this.bytes!.copy(bytes, pos, off, off + len);
      index.set(idx.subarray(r, r + STRIDE), i * STRIDE);
      index[i * STRIDE + 2] = pos;
      pos += len;
    }
    return new NativeFrameBatch(bytes, index, 0, this.count, this.limits);
  }

  /**
   * Called when the listener returned: the memory is about to be reused. Events built on this batch keep
   * reading their frames from a JS-owned copy of the batch's byte range, and the batch keeps its index
   * records; both are copied into slabs shared by successive batches (a memcpy per batch, no allocation:
   * at a few events per block, two allocations per batch were a tenth of the main thread's cost).
   */
  expire(): void {
    if (this.bytes === null) return;
    if (this.holder && this.count > 0) {
      const idx = this.index;
      let lo = Infinity;
      let hi = 0;
      for (let i = 0; i < this.count; i++) {
        const r = (this.first + i) * STRIDE;
        if (idx[r + 2]! < lo) lo = idx[r + 2]!;
        if (idx[r + 2]! + idx[r + 3]! > hi) hi = idx[r + 2]! + idx[r + 3]!;
      }
      const at = byteSlab.copy(this.bytes, lo, hi);
      this.holder.bytes = byteSlab.last;
      this.holder.base = lo - at;
    }
    this.bytes = null;
    const at = indexSlab.copy(this.index, this.first * STRIDE, (this.first + this.count) * STRIDE);
    this.index = indexSlab.last;
    this.first = at / STRIDE;
  }

  private expired(): never {
    throw new TServerHaError('ERR_BATCH_EXPIRED', "a native FrameBatch's bytes are valid only during its frames listener call; materialize frames (frame(i)) inside it");
  }

  private live(): Float64Array {
    if (this.bytes === null) this.expired();
    return this.index;
  }

  private field(i: number, f: number): number {
    const idx = this.index;
    if (!Number.isInteger(i) || i < 0 || i >= this.count) throw new RangeError(`frame index ${i} out of range [0, ${this.count})`);
    return idx[(this.first + i) * STRIDE + f]!;
  }
}

type Copyable = Buffer | Float64Array;

/**
 * Consecutive copies into one pre-allocated array, a new one when it is full. What a kept event holds alive
 * is at most one slab (SLAB elements); a range over a quarter of it gets an array of its own.
 */
class Slab<T extends Copyable> {
  /** The array the last `copy` wrote to. */
  last: T;
  private pos = 0;

  constructor(private readonly make: (n: number) => T, private readonly size: number) {
    this.last = make(size);
  }

  /** Copies `src[from, to)`; returns where it starts in `last`. */
  copy(src: T, from: number, to: number): number {
    const n = to - from;
    if (n > this.size >>> 2) {
      this.last = this.make(n);
      this.last.set(src.subarray(from, to) as never);
      this.pos = this.size; // the next copy starts a new slab
      return 0;
    }
    if (this.pos + n > this.size) {
      this.last = this.make(this.size);
      this.pos = 0;
    }
    const at = this.pos;
    this.last.set(src.subarray(from, to) as never, at);
    this.pos += n;
    return at;
  }
}

// 32 KiB: what one sparse kept event can hold alive (Node's own Buffer pool is 8 KiB, but at a few
// events per block a bigger slab is what saves the allocations: 4 KiB per block at 20k events/s).
const byteSlab = new Slab<Buffer>((n) => Buffer.allocUnsafeSlow(n), 32 * 1024);
const indexSlab = new Slab<Float64Array>((n) => new Float64Array(n), 4 * 1024);
