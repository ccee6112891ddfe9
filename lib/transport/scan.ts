import { isUtf8 } from 'node:buffer';
import { FrameKind, ValueType, WIRE_VERSION } from '../protocol/constants.js';
import type { ResolvedLimits } from '../protocol/decoder.js';
import { ProtocolError } from '../protocol/errors.js';
import { Attr } from '../protocol/ids.js';

/** What {@link scanBody} learned about a frame without building it. */
export interface ScanResult {
  kind: number;
  /** Message type (kind 1). */
  type: number;
  /** First EventSequenceNumber (int32 or int64) of a message, or -1. */
  seq: number;
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
  let pos = start;
  const need = (n: number, what: string) => {
    if (end - pos < n) throw new ProtocolError('ERR_TRUNCATED', `${what} needs ${n} bytes, ${end - pos} left in frame`, frameOffset);
  };
  const utf8 = (len: number, what: string) => {
    need(len, what);
    if (!isUtf8(buf.subarray(pos, pos + len))) throw new ProtocolError('ERR_INVALID_UTF8', `${what} is not valid UTF-8`, frameOffset);
    pos += len;
  };
  const value = (type: number, depth: number): void => {
    switch (type) {
      case ValueType.String: {
        need(4, 'string length');
        const len = buf.readUInt32BE(pos);
        pos += 4;
        return utf8(len, 'string');
      }
      case ValueType.Int32:
        need(4, 'int32');
        pos += 4;
        return;
      case ValueType.Binary: {
        need(4, 'binary length');
        const len = buf.readUInt32BE(pos);
        pos += 4;
        need(len, 'binary');
        pos += len;
        return;
      }
      case ValueType.List: {
        const d = depth + 1;
        if (d > limits.maxDepth) {
          throw new ProtocolError('ERR_DEPTH_EXCEEDED', `list nesting ${d} exceeds maxDepth ${limits.maxDepth}`, frameOffset);
        }
        need(2, 'list count');
        const count = buf.readUInt16BE(pos);
        pos += 2;
        for (let i = 0; i < count; i++) {
          need(2, 'key length');
          const klen = buf.readUInt16BE(pos);
          pos += 2;
          utf8(klen, 'key');
          need(1, 'value type');
          value(buf[pos++]!, d);
        }
        return;
      }
      case ValueType.Empty:
        return;
      case ValueType.Int64:
      case ValueType.Float64:
        need(8, type === ValueType.Int64 ? 'int64' : 'float64');
        pos += 8;
        return;
      default:
        throw new ProtocolError('ERR_BAD_VALUE_TYPE', `unknown value type ${type}`, frameOffset);
    }
  };

  need(1, 'version');
  const version = buf[pos++]!;
  if (version !== WIRE_VERSION) throw new ProtocolError('ERR_BAD_VERSION', `version ${version}, expected ${WIRE_VERSION}`, frameOffset);
  need(1, 'kind');
  const kind = buf[pos++]!;
  out.kind = kind;
  out.seq = -1;
  if (kind === FrameKind.AddpPoll || kind === FrameKind.AddpReply) {
    if (end - pos !== 4) throw new ProtocolError('ERR_BAD_ADDP', `ADDP payload is ${end - pos} bytes, expected 4`, frameOffset);
    out.token = buf.readUInt32BE(pos);
    return out;
  }
  if (kind !== FrameKind.Message) throw new ProtocolError('ERR_BAD_KIND', `unknown frame kind ${kind}`, frameOffset);
  need(4, 'message type');
  out.type = buf.readUInt32BE(pos);
  pos += 4;
  need(2, 'attribute count');
  const count = buf.readUInt16BE(pos);
  pos += 2;
  if (count > limits.maxAttributes) {
    throw new ProtocolError('ERR_TOO_MANY_ATTRIBUTES', `${count} attributes exceed maxAttributes ${limits.maxAttributes}`, frameOffset);
  }
  let seqSeen = false;
  for (let i = 0; i < count; i++) {
    need(2, 'attribute id');
    const id = buf.readUInt16BE(pos);
    pos += 2;
    need(1, 'value type');
    const vt = buf[pos++]!;
    if (id === Attr.EventSequenceNumber && !seqSeen) {
      // First occurrence wins, as in getAttr(); a non-numeric one means "no sequence number".
      seqSeen = true;
      if (vt === ValueType.Int64 && end - pos >= 8) out.seq = Number(buf.readBigInt64BE(pos));
      else if (vt === ValueType.Int32 && end - pos >= 4) out.seq = buf.readInt32BE(pos);
    }
    value(vt, 0);
  }
  if (pos !== end) throw new ProtocolError('ERR_TRAILING_BYTES', `${end - pos} bytes after the last attribute`, frameOffset);
  return out;
}
