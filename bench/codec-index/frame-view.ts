import { FrameKind, ValueType } from '../../lib/protocol/constants.js';
import type { DecodedValue, Frame, KVPair, MessageFrame } from '../../lib/protocol/types.js';
import type { FrameBatch } from '../../lib/transport/types.js';

/**
 * Layout of a batch index (native/addon/decode.h): a Float64Array holding a header, then one record of
 * `STRIDE` numbers per frame; attribute offsets live in a separate Uint32Array. Written by the addon's
 * `decode` and by the TS twin {@link scanFrames} (bench/codec-index/ts-scanner.ts).
 */
export const IndexLayout = {
  HEADER_SIZE: 8,
  /** Header fields. */
  H_FRAMES: 0, H_ATTRS: 1, H_CONSUMED: 2, H_ERRNO: 3, H_ERROR_OFFSET: 4, H_NEXT_FRAME_SIZE: 5, H_FULL: 6,
  STRIDE: 8,
  /** Record fields. `R_TYPE` holds the token for ADDP frames. */
  R_OFFSET: 0, R_LENGTH: 1, R_KIND: 2, R_TYPE: 3, R_SEQ: 4, R_REF: 5, R_ATTR_START: 6, R_ATTR_COUNT: 7,
} as const;

const L = IndexLayout;

/**
 * Read one value, trusting that the bytes were validated (by the codec that built the index): no bounds,
 * depth or UTF-8 checks — this is what makes lazy materialization cheaper than decoding. `readEnd` is
 * left at the first byte after the value.
 */
let readEnd = 0;

/**
 * Validated UTF-8 to string. Short ASCII strings (DNs, keys, codes) are built in JS, which measured
 * 2-3x cheaper than a `utf8Slice` call into C++ up to about 8 bytes.
 */
function text(buf: Buffer, start: number, end: number): string {
  if (end - start <= 8) {
    let s = '';
    for (let i = start; i < end; i++) {
      const c = buf[i]!;
      if (c >= 0x80) return buf.utf8Slice(start, end);
      s += String.fromCharCode(c);
    }
    return s;
  }
  return buf.utf8Slice(start, end);
}

function readValue(src: IndexedFrameBatch, p: number, type: number): DecodedValue {
  const buf = src.buffer;
  switch (type) {
    case ValueType.String: {
      const len = buf.readUInt32BE(p);
      readEnd = p + 4 + len;
      return text(buf, p + 4, readEnd);
    }
    case ValueType.Int32:
      readEnd = p + 4;
      return buf.readInt32BE(p);
    case ValueType.Binary: {
      const len = buf.readUInt32BE(p);
      readEnd = p + 4 + len;
      // A copy: a materialized frame must not alias the (reused) read buffer.
      return new Uint8Array(buf.subarray(p + 4, readEnd));
    }
    case ValueType.List: {
      const count = buf.readUInt16BE(p);
      p += 2;
      const out: KVPair[] = new Array(count);
      for (let i = 0; i < count; i++) {
        const klen = buf.readUInt16BE(p);
        const key = text(buf, p + 2, p + 2 + klen);
        p += 2 + klen;
        const t = buf[p]!;
        const value = readValue(src, p + 1, t);
        p = readEnd;
        out[i] = { key, type: t as ValueType, value };
      }
      readEnd = p;
      return out;
    }
    case ValueType.Empty:
      readEnd = p;
      return null;
    case ValueType.Int64:
      readEnd = p + 8;
      return src.int64At(p);
    case ValueType.Float64:
      readEnd = p + 8;
      return buf.readDoubleBE(p);
    default:
      throw new TypeError(`value type ${type} in an index that claims validated frames`);
  }
}

/**
 * A {@link FrameBatch} over a buffer and its index. `type`/`seq`/`ref`/`kind` read the index only;
 * attributes are read from the buffer by offset on demand (`get`, `attrValue`), and `frame(i)` builds the
 * full decoded message. No per-frame object is created until one is asked for. Valid as long as the
 * buffer and index are not reused by their owner (see {@link NativeBatchDecoder}).
 */
export class IndexedFrameBatch implements FrameBatch {
  constructor(
    /** The bytes the index describes (offsets are relative to its start). */
    readonly buffer: Buffer,
    /** Header + records ({@link IndexLayout}). */
    readonly index: Float64Array,
    /** Attribute offsets (each points at an AttrId: u16 id, u8 type, value). */
    readonly attrs: Uint32Array,
    readonly count: number = index[L.H_FRAMES]!,
    readonly receivedAt: number = 0,
  ) {}

  /** Frame kind (1 message, 2 ADDP poll, 3 ADDP reply). */
  kind(i: number): number {
    return this.index[L.HEADER_SIZE + i * L.STRIDE + L.R_KIND]!;
  }
  /** TMessageType id of frame i (0 for ADDP frames). */
  type(i: number): number {
    const r = L.HEADER_SIZE + i * L.STRIDE;
    return this.index[r + L.R_KIND] === FrameKind.Message ? this.index[r + L.R_TYPE]! : 0;
  }
  /** ADDP token of frame i (0 for messages). */
  token(i: number): number {
    const r = L.HEADER_SIZE + i * L.STRIDE;
    return this.index[r + L.R_KIND] === FrameKind.Message ? 0 : this.index[r + L.R_TYPE]!;
  }
  /** EventSequenceNumber of frame i (first occurrence, int32 or int64), or -1. Exact up to 2^53. */
  seq(i: number): number {
    return this.index[L.HEADER_SIZE + i * L.STRIDE + L.R_SEQ]!;
  }
  /** ReferenceID of frame i (first occurrence, int32), or -1. */
  ref(i: number): number {
    return this.index[L.HEADER_SIZE + i * L.STRIDE + L.R_REF]!;
  }
  /** Offset of frame i's length prefix in {@link buffer}. */
  offset(i: number): number {
    return this.index[L.HEADER_SIZE + i * L.STRIDE + L.R_OFFSET]!;
  }
  /** Total bytes of frame i, length prefix included. */
  byteLength(i: number): number {
    return 4 + this.index[L.HEADER_SIZE + i * L.STRIDE + L.R_LENGTH]!;
  }
  /** Number of top-level attributes of frame i. */
  attrCount(i: number): number {
    return this.index[L.HEADER_SIZE + i * L.STRIDE + L.R_ATTR_COUNT]!;
  }
  /** Id of attribute j of frame i. */
  attrId(i: number, j: number): number {
    return this.buffer.readUInt16BE(this.attrOffset(i, j));
  }
  /** Value type of attribute j of frame i. */
  attrType(i: number, j: number): ValueType {
    return this.buffer[this.attrOffset(i, j) + 2] as ValueType;
  }
  /** Decoded value of attribute j of frame i. */
  attrValue(i: number, j: number): DecodedValue {
    const o = this.attrOffset(i, j);
    return readValue(this, o + 3, this.buffer[o + 2]!);
  }
  /** Index j of the first attribute `id` of frame i, or -1. Reads two bytes per attribute, builds nothing. */
  findAttr(i: number, id: number): number {
    const r = L.HEADER_SIZE + i * L.STRIDE;
    const start = this.index[r + L.R_ATTR_START]!;
    const n = this.index[r + L.R_ATTR_COUNT]!;
    const { buffer: b, attrs } = this;
    const hi = id >>> 8, lo = id & 0xff;
    for (let j = 0; j < n; j++) {
      const o = attrs[start + j]!;
      if (b[o] === hi && b[o + 1] === lo) return j;
    }
    return -1;
  }
  /** Value of the first attribute `id` of frame i, or `undefined`; materializes only that value. */
  get(i: number, id: number): DecodedValue | undefined {
    const r = L.HEADER_SIZE + i * L.STRIDE;
    const start = this.index[r + L.R_ATTR_START]!;
    const end = start + this.index[r + L.R_ATTR_COUNT]!;
    const { buffer: b, attrs } = this;
    const hi = id >>> 8, lo = id & 0xff;
    for (let j = start; j < end; j++) {
      const o = attrs[j]!;
      if (b[o] === hi && b[o + 1] === lo) return readValue(this, o + 3, b[o + 2]!);
    }
    return undefined;
  }
  /** Frame i as a decoded message; throws a TypeError for an ADDP frame (see {@link anyFrame}). */
  frame(i: number): MessageFrame {
    const r = L.HEADER_SIZE + i * L.STRIDE;
    if (this.index[r + L.R_KIND] !== FrameKind.Message) throw new TypeError(`frame ${i} is an ADDP frame, not a message`);
    const start = this.index[r + L.R_ATTR_START]!;
    const n = this.index[r + L.R_ATTR_COUNT]!;
    const { buffer: b, attrs } = this;
    const attributes = new Array(n);
    for (let j = 0; j < n; j++) {
      const o = attrs[start + j]!;
      const t = b[o + 2]!;
      attributes[j] = { id: (b[o]! << 8) | b[o + 1]!, type: t as ValueType, value: readValue(this, o + 3, t) };
    }
    return { kind: FrameKind.Message, type: this.index[r + L.R_TYPE]!, attributes };
  }
  /** Frame i of any kind. */
  anyFrame(i: number): Frame {
    const k = this.kind(i);
    if (k === FrameKind.Message) return this.frame(i);
    return { kind: k as typeof FrameKind.AddpPoll | typeof FrameKind.AddpReply, token: this.index[L.HEADER_SIZE + i * L.STRIDE + L.R_TYPE]! };
  }
  /** Every frame, materialized. */
  frames(): Frame[] {
    const out: Frame[] = new Array(this.count);
    for (let i = 0; i < this.count; i++) out[i] = this.anyFrame(i);
    return out;
  }

  /** int64 at byte `p` of the buffer. DataView.getBigInt64 measured ~3x faster than Buffer#readBigInt64BE. */
  int64At(p: number): bigint {
    this.view ??= new DataView(this.buffer.buffer, this.buffer.byteOffset, this.buffer.byteLength);
    return this.view.getBigInt64(p);
  }

  private view: DataView | undefined;

  private attrOffset(i: number, j: number): number {
    const r = L.HEADER_SIZE + i * L.STRIDE;
    if (j < 0 || j >= this.index[r + L.R_ATTR_COUNT]!) throw new RangeError(`frame ${i} has no attribute #${j}`);
    return this.attrs[this.index[r + L.R_ATTR_START]! + j]!;
  }
}

declare global {
  interface Buffer {
    // Node's undocumented but long-standing fast path (as latin1Slice in lib/protocol/utf8.ts).
    utf8Slice(start: number, end: number): string;
  }
}
