import { isUtf8 } from 'node:buffer';
import { FrameKind, ValueType, WIRE_VERSION } from '../protocol/constants.js';
import { MAX_LIST_ENTRIES, type ResolvedLimits } from '../protocol/decoder.js';
import { ProtocolError } from '../protocol/errors.js';
import { Attr } from '../protocol/ids.js';

/** What {@link scanBody} learned about a frame without building it. */
export interface ScanResult {
  kind: number;
  /** Message type (kind 1). */
  type: number;
  /** First EventSequenceNumber (int32 or int64) of a message, or -1. */
  seq: number;
  /** First ReferenceID (int32) of a message, or -1. */
  ref: number;
  /** ADDP token (kinds 2 and 3). */
  token: number;
}

/**
 * Validate one frame body `buf[start, end)` exactly as `decodeBody` does (same checks, same order, same
 * ProtocolError codes) without materializing anything, and pick out the sequence number. The hot-standby
 * window uses it so a held frame costs a scan, and is decoded only if a switchover releases it.
 * test/transport/scan.test.ts checks the equivalence with the decoder on mutated frames.
 */
export function scanBody(buf: Buffer, start: number, end: number, limits: ResolvedLimits, frameOffset: number, out: ScanResult): ScanResult {
  const r = scanner;
  r.buf = buf;
  r.pos = start;
  r.end = end;
  r.limits = limits;
  r.frameOffset = frameOffset;
  try {
    return r.body(out);
  } finally {
    r.buf = EMPTY; // never pin the caller's read buffer
  }
}

const EMPTY = Buffer.alloc(0);

/** One reusable cursor (methods, not closures: this runs for every held frame). */
class Scanner {
  buf: Buffer = EMPTY;
  pos = 0;
  end = 0;
  limits!: ResolvedLimits;
  frameOffset = 0;
  /** List entries so far in this frame, every list at every depth (MAX_LIST_ENTRIES, as the decoders). */
  entries = 0;

  need(n: number, what: string): void {
    if (this.end - this.pos < n) {
      throw new ProtocolError('ERR_TRUNCATED', `${what} needs ${n} bytes, ${this.end - this.pos} left in frame`, this.frameOffset);
    }
  }

  utf8(len: number, what: string): void {
    this.need(len, what);
    const { buf } = this;
    const stop = this.pos + len;
    for (let i = this.pos; i < stop; i++) {
      if (buf[i]! >= 0x80) {
        if (!isUtf8(buf.subarray(this.pos, stop))) throw new ProtocolError('ERR_INVALID_UTF8', `${what} is not valid UTF-8`, this.frameOffset);
        break;
      }
    }
    this.pos = stop;
  }

  value(type: number, depth: number): void {
    const { buf } = this;
    switch (type) {
      case ValueType.String: {
        this.need(4, 'string length');
        const len = buf.readUInt32BE(this.pos);
        this.pos += 4;
        return this.utf8(len, 'string');
      }
      case ValueType.Int32:
        this.need(4, 'int32');
        this.pos += 4;
        return;
      case ValueType.Binary: {
        this.need(4, 'binary length');
        const len = buf.readUInt32BE(this.pos);
        this.pos += 4;
        this.need(len, 'binary');
        this.pos += len;
        return;
      }
      case ValueType.List: {
        const d = depth + 1;
        if (d > this.limits.maxDepth) {
          throw new ProtocolError('ERR_DEPTH_EXCEEDED', `list nesting ${d} exceeds maxDepth ${this.limits.maxDepth}`, this.frameOffset);
        }
        this.need(2, 'list count');
        const count = buf.readUInt16BE(this.pos);
        this.pos += 2;
        for (let i = 0; i < count; i++) {
          // Counted as each entry starts, before its key, as in decodeBody and the C++ codec.
          if (++this.entries > MAX_LIST_ENTRIES) {
            throw new ProtocolError('ERR_TOO_MANY_ATTRIBUTES', `more than ${MAX_LIST_ENTRIES} list entries in one frame (all lists together)`, this.frameOffset);
          }
          this.need(2, 'key length');
          const klen = buf.readUInt16BE(this.pos);
          this.pos += 2;
          this.utf8(klen, 'key');
          this.need(1, 'value type');
          this.value(buf[this.pos++]!, d);
        }
        return;
      }
      case ValueType.Empty:
        return;
      case ValueType.Int64:
      case ValueType.Float64:
        this.need(8, type === ValueType.Int64 ? 'int64' : 'float64');
        this.pos += 8;
        return;
      default:
        throw new ProtocolError('ERR_BAD_VALUE_TYPE', `unknown value type ${type}`, this.frameOffset);
    }
  }

  body(out: ScanResult): ScanResult {
    const { buf, end, limits, frameOffset } = this;
    this.entries = 0;
    this.need(1, 'version');
    const version = buf[this.pos++]!;
    if (version !== WIRE_VERSION) throw new ProtocolError('ERR_BAD_VERSION', `version ${version}, expected ${WIRE_VERSION}`, frameOffset);
    this.need(1, 'kind');
    const kind = buf[this.pos++]!;
    out.kind = kind;
    out.seq = -1;
    out.ref = -1;
    if (kind === FrameKind.AddpPoll || kind === FrameKind.AddpReply) {
      if (end - this.pos !== 4) throw new ProtocolError('ERR_BAD_ADDP', `ADDP payload is ${end - this.pos} bytes, expected 4`, frameOffset);
      out.token = buf.readUInt32BE(this.pos);
      return out;
    }
    if (kind !== FrameKind.Message) throw new ProtocolError('ERR_BAD_KIND', `unknown frame kind ${kind}`, frameOffset);
    this.need(4, 'message type');
    out.type = buf.readUInt32BE(this.pos);
    this.pos += 4;
    this.need(2, 'attribute count');
    const count = buf.readUInt16BE(this.pos);
    this.pos += 2;
    if (count > limits.maxAttributes) {
      throw new ProtocolError('ERR_TOO_MANY_ATTRIBUTES', `${count} attributes exceed maxAttributes ${limits.maxAttributes}`, frameOffset);
    }
    let seqSeen = false;
    let refSeen = false;
    for (let i = 0; i < count; i++) {
      this.need(2, 'attribute id');
      const id = buf.readUInt16BE(this.pos);
      this.pos += 2;
      this.need(1, 'value type');
      const vt = buf[this.pos++]!;
      if (id === Attr.EventSequenceNumber && !seqSeen) {
        // First occurrence wins, as in getAttr(); a non-numeric one means "no sequence number".
        seqSeen = true;
        if (vt === ValueType.Int64 && end - this.pos >= 8) out.seq = Number(buf.readBigInt64BE(this.pos));
        else if (vt === ValueType.Int32 && end - this.pos >= 4) out.seq = buf.readInt32BE(this.pos);
      } else if (id === Attr.ReferenceID && !refSeen) {
        refSeen = true;
        if (vt === ValueType.Int32 && end - this.pos >= 4) out.ref = buf.readInt32BE(this.pos);
        else if (vt === ValueType.Int64 && end - this.pos >= 8) out.ref = Number(buf.readBigInt64BE(this.pos));
      }
      this.value(vt, 0);
    }
    if (this.pos !== end) throw new ProtocolError('ERR_TRAILING_BYTES', `${end - this.pos} bytes after the last attribute`, frameOffset);
    return out;
  }
}

const scanner = new Scanner();
