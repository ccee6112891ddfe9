import { ValueType } from '../../lib/protocol/constants.js';
import { MAX_LIST_ENTRIES, type ResolvedLimits } from '../../lib/protocol/decoder.js';
import { IndexLayout as L } from './frame-view.js';

/**
 * Pure-TypeScript twin of the addon's `decode` (native/codec/codec.cc SplitFrames + native/addon/decode.cc):
 * validates whole frames and writes the same index, building no JS object. Used where the addon is not
 * available, and as the fair "best TS decoder" in bench/codec.ts. Same checks, same order, same errnos.
 */
export function scanFrames(buf: Uint8Array, index: Float64Array, attrs: Uint32Array, limits: ResolvedLimits): number {
  const len = buf.length;
  const maxFrames = Math.floor((index.length - L.HEADER_SIZE) / L.STRIDE);
  const maxDepth = limits.maxDepth;
  let pos = 0;
  let frames = 0;
  let nAttrs = 0;
  let errno = 0;
  let errorOffset = 0;
  let next = 0;
  let full = 0;
  while (len - pos >= 4) {
    const bodyLen = ((buf[pos]! << 24) | (buf[pos + 1]! << 16) | (buf[pos + 2]! << 8) | buf[pos + 3]!) >>> 0;
    if (bodyLen > limits.maxFrameSize) { errno = 2; errorOffset = pos; break; }
    if (bodyLen < 2) { errno = 3; errorOffset = pos; break; }
    if (len - pos - 4 < bodyLen) { next = 4 + bodyLen; break; }
    const b = pos + 4;
    const end = b + bodyLen;
    if (buf[b] !== 1) { errno = 4; errorOffset = pos; break; }
    const kind = buf[b + 1]!;
    let type = 0;
    let seq = -1;
    let ref = -1;
    let count = 0;
    const attrStart = nAttrs;
    if (kind === 2 || kind === 3) {
      if (bodyLen !== 6) { errno = 12; errorOffset = pos; break; }
      type = ((buf[b + 2]! << 24) | (buf[b + 3]! << 16) | (buf[b + 4]! << 8) | buf[b + 5]!) >>> 0;
    } else if (kind !== 1) {
      errno = 5; errorOffset = pos; break;
    } else {
      let p = b + 2;
      if (end - p < 4) { errno = 7; errorOffset = pos; break; }
      type = ((buf[p]! << 24) | (buf[p + 1]! << 16) | (buf[p + 2]! << 8) | buf[p + 3]!) >>> 0;
      p += 4;
      if (end - p < 2) { errno = 7; errorOffset = pos; break; }
      count = (buf[p]! << 8) | buf[p + 1]!;
      p += 2;
      if (count > limits.maxAttributes) { errno = 11; errorOffset = pos; break; }
      let seenSeq = false;
      let seenRef = false;
      entries = 0;
      for (let i = 0; i < count; i++) {
        const start = p;
        if (end - p < 3) { errno = 7; break; }
        const id = (buf[p]! << 8) | buf[p + 1]!;
        const vt = buf[p + 2]!;
        p += 3;
        const r = skipValue(buf, p, end, vt, 0, maxDepth);
        if (r < 0) { errno = -r; break; }
        if (id === 148 && !seenSeq) {
          seenSeq = true;
          if (vt === ValueType.Int32) seq = (buf[p]! << 24) | (buf[p + 1]! << 16) | (buf[p + 2]! << 8) | buf[p + 3]!;
          else if (vt === ValueType.Int64) seq = Number(Buffer.prototype.readBigInt64BE.call(buf, p));
        } else if (id === 2 && !seenRef) {
          seenRef = true;
          if (vt === ValueType.Int32) ref = (buf[p]! << 24) | (buf[p + 1]! << 16) | (buf[p + 2]! << 8) | buf[p + 3]!;
        }
        if (nAttrs < attrs.length) attrs[nAttrs] = start;
        nAttrs++;
        p = r;
      }
      if (errno === 0 && p !== end) errno = 8;
      if (errno !== 0) { errorOffset = pos; nAttrs = attrStart; break; }
    }
    if (frames >= maxFrames || nAttrs > attrs.length) { full = 1; nAttrs = attrStart; break; }
    const r = L.HEADER_SIZE + frames * L.STRIDE;
    index[r + L.R_OFFSET] = pos;
    index[r + L.R_LENGTH] = bodyLen;
    index[r + L.R_KIND] = kind;
    index[r + L.R_TYPE] = type;
    index[r + L.R_SEQ] = seq;
    index[r + L.R_REF] = ref;
    index[r + L.R_ATTR_START] = attrStart;
    index[r + L.R_ATTR_COUNT] = count;
    frames++;
    pos = end;
  }
  index[L.H_FRAMES] = frames;
  index[L.H_ATTRS] = nAttrs;
  index[L.H_CONSUMED] = pos;
  index[L.H_ERRNO] = errno;
  index[L.H_ERROR_OFFSET] = errorOffset;
  index[L.H_NEXT_FRAME_SIZE] = next;
  index[L.H_FULL] = full;
  index[7] = 0;
  return frames;
}

/** List entries so far in the frame being scanned, every list at every depth (MAX_LIST_ENTRIES). */
let entries = 0;

/** Skip one value starting at `p` (after its type byte); returns the end position, or -errno. */
function skipValue(buf: Uint8Array, p: number, end: number, type: number, depth: number, maxDepth: number): number {
  switch (type) {
    case ValueType.String: {
      if (end - p < 4) return -7;
      const n = ((buf[p]! << 24) | (buf[p + 1]! << 16) | (buf[p + 2]! << 8) | buf[p + 3]!) >>> 0;
      p += 4;
      if (end - p < n) return -7;
      return validUtf8(buf, p, p + n) ? p + n : -10;
    }
    case ValueType.Int32:
      return end - p < 4 ? -7 : p + 4;
    case ValueType.Binary: {
      if (end - p < 4) return -7;
      const n = ((buf[p]! << 24) | (buf[p + 1]! << 16) | (buf[p + 2]! << 8) | buf[p + 3]!) >>> 0;
      p += 4;
      return end - p < n ? -7 : p + n;
    }
    case ValueType.List: {
      const d = depth + 1;
      if (d > maxDepth) return -9;
      if (end - p < 2) return -7;
      const count = (buf[p]! << 8) | buf[p + 1]!;
      p += 2;
      for (let i = 0; i < count; i++) {
        // As each entry starts, before its key, as in the C++ codec's SkipList (errno 11, TooManyAttributes).
        if (++entries > MAX_LIST_ENTRIES) return -11;
        if (end - p < 2) return -7;
        const k = (buf[p]! << 8) | buf[p + 1]!;
        p += 2;
        if (end - p < k) return -7;
        if (!validUtf8(buf, p, p + k)) return -10;
        p += k;
        if (end - p < 1) return -7;
        const t = buf[p++]!;
        p = skipValue(buf, p, end, t, d, maxDepth);
        if (p < 0) return p;
      }
      return p;
    }
    case ValueType.Empty:
      return p;
    case ValueType.Int64:
    case ValueType.Float64:
      return end - p < 8 ? -7 : p + 8;
    default:
      return -6;
  }
}

/** Strict UTF-8 (RFC 3629) check of `buf[i, end)`, the same table as native/codec/codec.cc ValidUtf8. */
function validUtf8(buf: Uint8Array, i: number, end: number): boolean {
  while (i < end) {
    const c = buf[i]!;
    if (c < 0x80) { i++; continue; }
    let n: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) n = 1;
    else if (c >= 0xe0 && c <= 0xef) { n = 2; if (c === 0xe0) lo = 0xa0; else if (c === 0xed) hi = 0x9f; }
    else if (c >= 0xf0 && c <= 0xf4) { n = 3; if (c === 0xf0) lo = 0x90; else if (c === 0xf4) hi = 0x8f; }
    else return false;
    if (end - i - 1 < n) return false;
    const c1 = buf[i + 1]!;
    if (c1 < lo || c1 > hi) return false;
    for (let k = 2; k <= n; k++) if ((buf[i + k]! & 0xc0) !== 0x80) return false;
    i += n + 1;
  }
  return true;
}
