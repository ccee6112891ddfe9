import { DEFAULT_LIMITS, FrameKind, LENGTH_BYTES, ValueType, WIRE_VERSION, type CodecLimits } from './constants.js';
import { ProtocolError } from './errors.js';
import type { Attribute, DecodedValue, Frame, KVPair } from './types.js';
import { decodeUtf8 } from './utf8.js';

/** Largest accepted `maxDepth` (docs/protocol.md; `kMaxDepthCap` in native/codec/codec.h). */
export const MAX_DEPTH_CAP = 255;

/**
 * Most key/value list entries in one frame, every list at every depth counted together (docs/protocol.md;
 * `kMaxListEntries` in native/codec/codec.h): as many as one list can hold. The frame-size limit alone does
 * not bound the decoded size — an entry costs 3 to 5 bytes on the wire and 60 to 90 bytes of heap decoded —
 * so a frame over it is refused with `ERR_TOO_MANY_ATTRIBUTES` at its 65,536th entry.
 */
export const MAX_LIST_ENTRIES = 65_535;

/** Largest value of any limit: the addon holds limits as uint32 (a larger number would wrap, not fail). */
const MAX_LIMIT = 0xffffffff;

/** Limits with every default filled in. */
export type ResolvedLimits = Required<CodecLimits>;

/**
 * Fill in the default limits; throws RangeError for a limit that is not an integer in [1, 2^32 - 1] (the
 * addon holds limits as uint32: 2^32 + 3 would silently become 3 there), or an unknown limit name.
 */
export function resolveLimits(limits: CodecLimits = {}): ResolvedLimits {
  if (typeof limits !== 'object' || limits === null) throw new RangeError(`codec limits must be an object, got ${String(limits)}`);
  const out: ResolvedLimits = { ...DEFAULT_LIMITS };
  for (const [k, v] of Object.entries(limits)) {
    if (!Object.hasOwn(DEFAULT_LIMITS, k)) throw new RangeError(`unknown codec limit ${k}; known: ${Object.keys(DEFAULT_LIMITS).join(', ')}`);
    if (v === undefined) continue; // `{ maxDepth: undefined }` keeps the default, as an absent key does
    out[k as keyof ResolvedLimits] = v as number;
  }
  for (const [k, v] of Object.entries(out)) {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_LIMIT) {
      throw new RangeError(`codec limit ${k} must be an integer in [1, ${MAX_LIMIT}], got ${typeof v === 'number' ? v : typeof v}`);
    }
  }
  // Validation recurses once per nesting level in both codecs, so depth is bounded on its own
  // (native/codec/codec.h kMaxDepthCap); 255 is also the deepest nesting the encoder writes.
  if (out.maxDepth > MAX_DEPTH_CAP) throw new RangeError(`codec limit maxDepth must be at most ${MAX_DEPTH_CAP}, got ${out.maxDepth}`);
  return out;
}

function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Check a frame's length prefix (docs/protocol.md: checked before anything is allocated).
 * Returns the body length.
 */
export function checkLength(length: number, limits: ResolvedLimits, offset: number): number {
  if (length > limits.maxFrameSize) {
    throw new ProtocolError('ERR_FRAME_TOO_LARGE', `frame length ${length} exceeds maxFrameSize ${limits.maxFrameSize}`, offset);
  }
  if (length < 2) throw new ProtocolError('ERR_FRAME_TOO_SMALL', `frame length ${length} is below 2`, offset);
  return length;
}

/** Cursor over one frame body; every read is bounds-checked against the frame end. */
class Reader {
  pos: number;
  /** List entries counted so far in this frame (every list, every depth): bounded by MAX_LIST_ENTRIES. */
  entries = 0;
  constructor(
    readonly buf: Buffer,
    start: number,
    readonly end: number,
    readonly limits: ResolvedLimits,
    readonly frameOffset: number,
  ) {
    this.pos = start;
  }

  need(n: number, what: string): void {
    if (this.end - this.pos < n) {
      throw new ProtocolError('ERR_TRUNCATED', `${what} needs ${n} bytes, ${this.end - this.pos} left in frame`, this.frameOffset);
    }
  }

  u8(what: string): number {
    this.need(1, what);
    return this.buf[this.pos++]!;
  }

  u16(what: string): number {
    this.need(2, what);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  u32(what: string): number {
    this.need(4, what);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  utf8(len: number, what: string): string {
    this.need(len, what);
    const s = decodeUtf8(this.buf, this.pos, this.pos + len);
    if (s === undefined) throw new ProtocolError('ERR_INVALID_UTF8', `${what} is not valid UTF-8`, this.frameOffset);
    this.pos += len;
    return s;
  }

  value(type: number, depth: number): DecodedValue {
    const { buf } = this;
    switch (type) {
      case ValueType.String:
        return this.utf8(this.u32('string length'), 'string');
      case ValueType.Int32: {
        this.need(4, 'int32');
        const v = buf.readInt32BE(this.pos);
        this.pos += 4;
        return v;
      }
      case ValueType.Binary: {
        const len = this.u32('binary length');
        this.need(len, 'binary');
        // A copy: decoded frames must not pin (or alias) the connection's read buffer.
        const v = new Uint8Array(buf.subarray(this.pos, this.pos + len));
        this.pos += len;
        return v;
      }
      case ValueType.List:
        return this.list(depth + 1);
      case ValueType.Empty:
        return null;
      case ValueType.Int64: {
        this.need(8, 'int64');
        const v = buf.readBigInt64BE(this.pos);
        this.pos += 8;
        return v;
      }
      case ValueType.Float64: {
        this.need(8, 'float64');
        const v = buf.readDoubleBE(this.pos);
        this.pos += 8;
        return v;
      }
      default:
        throw new ProtocolError('ERR_BAD_VALUE_TYPE', `unknown value type ${type}`, this.frameOffset);
    }
  }

  /** Step over one value without building it (lengths are still checked against the frame end). */
  skip(type: number): void {
    switch (type) {
      case ValueType.String:
      case ValueType.Binary: {
        const len = this.u32('length');
        this.need(len, 'value');
        this.pos += len;
        return;
      }
      case ValueType.Int32:
        this.need(4, 'int32');
        this.pos += 4;
        return;
      case ValueType.Int64:
      case ValueType.Float64:
        this.need(8, 'number');
        this.pos += 8;
        return;
      case ValueType.Empty:
        return;
      case ValueType.List: {
        const count = this.u16('list count');
        for (let i = 0; i < count; i++) {
          const klen = this.u16('key length');
          this.need(klen, 'key');
          this.pos += klen;
          this.skip(this.u8('value type'));
        }
        return;
      }
      default:
        throw new ProtocolError('ERR_BAD_VALUE_TYPE', `unknown value type ${type}`, this.frameOffset);
    }
  }

  list(depth: number): KVPair[] {
    if (depth > this.limits.maxDepth) {
      throw new ProtocolError('ERR_DEPTH_EXCEEDED', `list nesting ${depth} exceeds maxDepth ${this.limits.maxDepth}`, this.frameOffset);
    }
    const count = this.u16('list count');
    const out: KVPair[] = [];
    for (let i = 0; i < count; i++) {
      // Counted as each entry starts, before its key is read (the same check, at the same point, as the
      // C++ codec): a count the frame cannot hold stays ERR_TRUNCATED, as in the index scanners.
      if (++this.entries > MAX_LIST_ENTRIES) {
        throw new ProtocolError('ERR_TOO_MANY_ATTRIBUTES', `more than ${MAX_LIST_ENTRIES} list entries in one frame (all lists together)`, this.frameOffset);
      }
      const key = this.utf8(this.u16('key length'), 'key');
      const type = this.u8('value type');
      out.push({ key, type: type as ValueType, value: this.value(type, depth) });
    }
    return out;
  }
}

/**
 * Decode one frame body (the bytes after the length prefix), `buf[start, end)`.
 * @param frameOffset offset of the frame in the caller's stream, for error reports
 */
export function decodeBody(buf: Buffer, start: number, end: number, limits: ResolvedLimits, frameOffset = start - LENGTH_BYTES): Frame {
  const r = new Reader(buf, start, end, limits, frameOffset);
  const version = r.u8('version');
  if (version !== WIRE_VERSION) throw new ProtocolError('ERR_BAD_VERSION', `version ${version}, expected ${WIRE_VERSION}`, frameOffset);
  const kind = r.u8('kind');
  if (kind === FrameKind.AddpPoll || kind === FrameKind.AddpReply) {
    if (end - r.pos !== 4) throw new ProtocolError('ERR_BAD_ADDP', `ADDP payload is ${end - r.pos} bytes, expected 4`, frameOffset);
    return { kind, token: r.u32('token') };
  }
  if (kind !== FrameKind.Message) throw new ProtocolError('ERR_BAD_KIND', `unknown frame kind ${kind}`, frameOffset);
  const type = r.u32('message type');
  const count = r.u16('attribute count');
  if (count > limits.maxAttributes) {
    throw new ProtocolError('ERR_TOO_MANY_ATTRIBUTES', `${count} attributes exceed maxAttributes ${limits.maxAttributes}`, frameOffset);
  }
  const attributes: Attribute[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const id = r.u16('attribute id');
    const vt = r.u8('value type');
    attributes[i] = { id, type: vt as ValueType, value: r.value(vt, 0) };
  }
  if (r.pos !== end) throw new ProtocolError('ERR_TRAILING_BYTES', `${end - r.pos} bytes after the last attribute`, frameOffset);
  return { kind: FrameKind.Message, type, attributes };
}

/**
 * The value of the first attribute `id` of a message body `buf[start, end)`, decoded alone: the
 * attributes before it are stepped over, none after it is read. `undefined` when absent. For bodies a
 * codec already validated (an event's bytes): the common scalar types are read in place without a cursor
 * object (this is the per-event path of `TEvent.get()`); lists go through the full reader. Reads stay
 * bounds-checked by Buffer itself.
 */
export function decodeAttribute(buf: Buffer, start: number, end: number, limits: ResolvedLimits, id: number): DecodedValue | undefined {
  // The frame was validated when it was read (this runs per event for `TEvent.get`): plain byte reads
  // instead of Buffer's checked readers, which measured a fifth of an attribute read.
  if (end > buf.length) throw new RangeError(`frame end ${end} beyond its buffer (${buf.length})`);
  const count = (buf[start + 6]! << 8) | buf[start + 7]!;
  let p = start + 8;
  for (let i = 0; i < count && p + 3 <= end; i++) {
    const aid = (buf[p]! << 8) | buf[p + 1]!;
    const vt = buf[p + 2]!;
    p += 3;
    if (aid === id) {
      switch (vt) {
        case ValueType.String: {
          const len = buf.readUInt32BE(p);
          return decodeUtf8(buf, p + 4, p + 4 + len) ?? buf.toString('utf8', p + 4, p + 4 + len);
        }
        case ValueType.Int32:
          return buf.readInt32BE(p);
        case ValueType.Int64:
          return readInt64(buf, p);
        case ValueType.Float64:
          return buf.readDoubleBE(p);
        case ValueType.Empty:
          return null;
        default: {
          const r = new Reader(buf, p, end, limits, start - LENGTH_BYTES);
          return r.value(vt, 0);
        }
      }
    }
    switch (vt) {
      case ValueType.String:
      case ValueType.Binary:
        p += 4 + buf.readUInt32BE(p);
        break;
      case ValueType.Int32:
        p += 4;
        break;
      case ValueType.Int64:
      case ValueType.Float64:
        p += 8;
        break;
      case ValueType.Empty:
        break;
      default: {
        const r = new Reader(buf, p, end, limits, start - LENGTH_BYTES);
        r.skip(vt);
        p = r.pos;
      }
    }
  }
  return undefined;
}

/**
 * Decode a buffer that must hold whole frames only. Throws the first ProtocolError, or ERR_INCOMPLETE
 * when the buffer ends inside a frame.
 */
export function decodeFrames(data: Uint8Array, limits?: CodecLimits): Frame[] {
  const lim = resolveLimits(limits);
  const buf = asBuffer(data);
  const frames: Frame[] = [];
  let pos = 0;
  while (pos < buf.length) {
    if (buf.length - pos < LENGTH_BYTES) throw new ProtocolError('ERR_INCOMPLETE', `${buf.length - pos} bytes of a length prefix`, pos);
    const len = checkLength(buf.readUInt32BE(pos), lim, pos);
    if (buf.length - pos - LENGTH_BYTES < len) {
      throw new ProtocolError('ERR_INCOMPLETE', `frame of ${len} bytes, ${buf.length - pos - LENGTH_BYTES} present`, pos);
    }
    frames.push(decodeBody(buf, pos + LENGTH_BYTES, pos + LENGTH_BYTES + len, lim, pos));
    pos += LENGTH_BYTES + len;
  }
  return frames;
}

/**
 * Incremental decoder for a byte stream cut anywhere. `write()` hands every complete frame to `onFrame`
 * in order, keeps the partial tail, and throws the ProtocolError of the first bad frame (frames before it
 * have already been handed over). After an error the decoder is poisoned: the stream cannot be trusted.
 */
export class FrameDecoder {
  private readonly limits: ResolvedLimits;
  private tail: Buffer | null = null;
  private consumed = 0;
  private failed: ProtocolError | null = null;

  constructor(limits?: CodecLimits) {
    this.limits = resolveLimits(limits);
  }

  /** Bytes held while waiting for the rest of a frame. */
  get bufferedBytes(): number {
    return this.tail?.length ?? 0;
  }

  write(chunk: Uint8Array, onFrame: (frame: Frame) => void): void {
    if (this.failed) throw this.failed;
    let buf = asBuffer(chunk);
    if (this.tail) {
      buf = Buffer.concat([this.tail, buf]);
      this.tail = null;
    }
    let pos = 0;
    try {
      while (buf.length - pos >= LENGTH_BYTES) {
        // Length is validated as soon as its 4 bytes exist, so an oversized frame is refused
        // before we buffer any of it.
        const len = checkLength(buf.readUInt32BE(pos), this.limits, this.consumed + pos);
        if (buf.length - pos - LENGTH_BYTES < len) break;
        const start = pos + LENGTH_BYTES;
        const frame = decodeBody(buf, start, start + len, this.limits, this.consumed + pos);
        pos = start + len;
        onFrame(frame);
      }
    } catch (err) {
      if (err instanceof ProtocolError) this.failed = err;
      throw err;
    } finally {
      // Also runs when onFrame throws: the frames already handed over are never handed over again.
      this.consumed += pos;
      // Copy the tail so we never pin a large read buffer for a few bytes.
      if (!this.failed && pos < buf.length) this.tail = Buffer.from(buf.subarray(pos));
    }
  }

  /** Call at end of stream: throws ERR_INCOMPLETE if a partial frame is left. */
  end(): void {
    if (this.failed) throw this.failed;
    if (this.tail) throw new ProtocolError('ERR_INCOMPLETE', `stream ended with ${this.tail.length} bytes of an unfinished frame`, this.consumed);
  }
}

// Big-endian int64 → bigint through a little-endian scratch: about half the cost of Buffer#readBigInt64BE.
const scratch = new Uint8Array(8);
const scratch64 = new BigInt64Array(scratch.buffer);

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function readInt64(buf: Buffer, p: number): bigint {
  if (p + 8 > buf.length) throw new RangeError(`int64 at ${p} beyond the buffer (${buf.length})`);
  if (littleEndian) for (let k = 0; k < 8; k++) scratch[7 - k] = buf[p + k]!;
  else for (let k = 0; k < 8; k++) scratch[k] = buf[p + k]!;
  return scratch64[0]!;
}
