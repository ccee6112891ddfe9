// Implementation of codec.h. The order of checks mirrors lib/protocol/decoder.ts exactly: both codecs
// must report the same first error for the same bytes (test/protocol/differential.test.ts).
#include "codec.h"

#include <cstring>

namespace tsha {
namespace {

inline uint16_t Rd16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
inline uint32_t Rd32(const uint8_t* p) {
  return (static_cast<uint32_t>(p[0]) << 24) | (static_cast<uint32_t>(p[1]) << 16) |
         (static_cast<uint32_t>(p[2]) << 8) | static_cast<uint32_t>(p[3]);
}
inline uint64_t Rd64(const uint8_t* p) { return (static_cast<uint64_t>(Rd32(p)) << 32) | Rd32(p + 4); }

// Bounds-checked cursor over one frame body. Lengths read from the wire are up to 2^32-1, compared
// against what is left as size_t, so no pointer arithmetic ever leaves [p, end].
struct Cursor {
  const uint8_t* p;
  const uint8_t* end;
  uint32_t maxDepth;
  uint32_t entries = 0;  // list entries so far in this frame, every list and depth (kMaxListEntries)
  size_t Left() const { return static_cast<size_t>(end - p); }
  bool Has(size_t n) const { return Left() >= n; }
};

ErrorCode SkipValue(Cursor& c, uint8_t type, uint32_t depth);

// A string or key body of `len` bytes: present, then strict UTF-8.
inline ErrorCode SkipUtf8(Cursor& c, size_t len) {
  if (!c.Has(len)) return ErrorCode::Truncated;
  // Short ASCII strings (DNs, keys) dominate: test them inline before the full validator.
  uint8_t high = 0;
  if (len <= 32) {
    for (size_t i = 0; i < len; i++) high |= c.p[i];
  }
  if ((len > 32 || high >= 0x80) && !ValidUtf8(c.p, len)) return ErrorCode::InvalidUtf8;
  c.p += len;
  return ErrorCode::Ok;
}

ErrorCode SkipList(Cursor& c, uint32_t depth) {
  // Depth is checked before the count is read, as in the TS decoder.
  if (depth > c.maxDepth) return ErrorCode::DepthExceeded;
  if (!c.Has(2)) return ErrorCode::Truncated;
  uint32_t count = Rd16(c.p);
  c.p += 2;
  for (uint32_t i = 0; i < count; i++) {
    // As each entry starts, before its key, as in the TS decoder.
    if (++c.entries > kMaxListEntries) return ErrorCode::TooManyAttributes;
    if (!c.Has(2)) return ErrorCode::Truncated;
    size_t keyLen = Rd16(c.p);
    c.p += 2;
    ErrorCode e = SkipUtf8(c, keyLen);
    if (e != ErrorCode::Ok) return e;
    if (!c.Has(1)) return ErrorCode::Truncated;
    uint8_t vt = *c.p++;
    e = SkipValue(c, vt, depth);
    if (e != ErrorCode::Ok) return e;
  }
  return ErrorCode::Ok;
}

ErrorCode SkipValue(Cursor& c, uint8_t type, uint32_t depth) {
  switch (type) {
    case kTypeString: {
      if (!c.Has(4)) return ErrorCode::Truncated;
      size_t len = Rd32(c.p);
      c.p += 4;
      return SkipUtf8(c, len);
    }
    case kTypeInt32:
      if (!c.Has(4)) return ErrorCode::Truncated;
      c.p += 4;
      return ErrorCode::Ok;
    case kTypeBinary: {
      if (!c.Has(4)) return ErrorCode::Truncated;
      size_t len = Rd32(c.p);
      c.p += 4;
      if (!c.Has(len)) return ErrorCode::Truncated;
      c.p += len;
      return ErrorCode::Ok;
    }
    case kTypeList:
      return SkipList(c, depth + 1);
    case kTypeEmpty:
      return ErrorCode::Ok;
    case kTypeInt64:
    case kTypeFloat64:
      if (!c.Has(8)) return ErrorCode::Truncated;
      c.p += 8;
      return ErrorCode::Ok;
    default:
      return ErrorCode::BadValueType;
  }
}

// Body parser shared by ParseFrame (base 0) and SplitFrames (base = offset of the body in `data`).
ErrorCode ParseBody(const uint8_t* body, size_t bodyLen, const Limits& limits, FrameInfo* out, AttrSink* attrs,
                    size_t base) {
  if (bodyLen > 0xffffffffu) return ErrorCode::FrameTooLarge;
  ErrorCode e = CheckLength(static_cast<uint32_t>(bodyLen), limits);
  if (e != ErrorCode::Ok) return e;
  FrameInfo info;
  if (body[0] != kWireVersion) return ErrorCode::BadVersion;
  info.kind = body[1];
  if (info.kind == kKindAddpPoll || info.kind == kKindAddpReply) {
    if (bodyLen != 6) return ErrorCode::BadAddp;
    info.token = Rd32(body + 2);
    *out = info;
    return ErrorCode::Ok;
  }
  if (info.kind != kKindMessage) return ErrorCode::BadKind;
  Cursor c{body + 2, body + bodyLen, limits.maxDepth < kMaxDepthCap ? limits.maxDepth : kMaxDepthCap, 0};
  if (!c.Has(4)) return ErrorCode::Truncated;
  info.type = Rd32(c.p);
  c.p += 4;
  if (!c.Has(2)) return ErrorCode::Truncated;
  uint32_t count = Rd16(c.p);
  c.p += 2;
  if (count > limits.maxAttributes) return ErrorCode::TooManyAttributes;
  bool seenSeq = false, seenRef = false;
  for (uint32_t i = 0; i < count; i++) {
    const uint8_t* start = c.p;
    if (!c.Has(2)) return ErrorCode::Truncated;
    uint16_t id = Rd16(c.p);
    c.p += 2;
    if (!c.Has(1)) return ErrorCode::Truncated;
    uint8_t vt = *c.p++;
    const uint8_t* data = c.p;
    e = SkipValue(c, vt, 0);
    if (e != ErrorCode::Ok) return e;
    // First occurrence wins (docs/protocol.md: convenience accessors return the first occurrence).
    if (id == kAttrEventSequenceNumber && !seenSeq) {
      seenSeq = true;
      if (vt == kTypeInt64) info.seq = static_cast<int64_t>(Rd64(data));
      else if (vt == kTypeInt32) info.seq = static_cast<int32_t>(Rd32(data));
    } else if (id == kAttrReferenceID && !seenRef) {
      seenRef = true;
      if (vt == kTypeInt32) info.ref = static_cast<int32_t>(Rd32(data));
    }
    if (attrs != nullptr) attrs->OnAttribute(id, vt, base + static_cast<size_t>(start - body));
  }
  if (c.p != c.end) return ErrorCode::TrailingBytes;
  info.attrCount = count;
  *out = info;
  return ErrorCode::Ok;
}

}  // namespace

const char* ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::Ok: return "OK";
    case ErrorCode::Incomplete: return "ERR_INCOMPLETE";
    case ErrorCode::FrameTooLarge: return "ERR_FRAME_TOO_LARGE";
    case ErrorCode::FrameTooSmall: return "ERR_FRAME_TOO_SMALL";
    case ErrorCode::BadVersion: return "ERR_BAD_VERSION";
    case ErrorCode::BadKind: return "ERR_BAD_KIND";
    case ErrorCode::BadValueType: return "ERR_BAD_VALUE_TYPE";
    case ErrorCode::Truncated: return "ERR_TRUNCATED";
    case ErrorCode::TrailingBytes: return "ERR_TRAILING_BYTES";
    case ErrorCode::DepthExceeded: return "ERR_DEPTH_EXCEEDED";
    case ErrorCode::InvalidUtf8: return "ERR_INVALID_UTF8";
    case ErrorCode::TooManyAttributes: return "ERR_TOO_MANY_ATTRIBUTES";
    case ErrorCode::BadAddp: return "ERR_BAD_ADDP";
  }
  return "ERR_UNKNOWN";
}

bool LimitsValid(const Limits& limits) {
  return limits.maxFrameSize >= 1 && limits.maxDepth >= 1 && limits.maxDepth <= kMaxDepthCap &&
         limits.maxAttributes >= 1;
}

ErrorCode CheckLength(uint32_t len, const Limits& limits) {
  if (len > limits.maxFrameSize) return ErrorCode::FrameTooLarge;
  if (len < 2) return ErrorCode::FrameTooSmall;
  return ErrorCode::Ok;
}

ErrorCode ParseFrame(const uint8_t* body, size_t bodyLen, const Limits& limits, FrameInfo* out, AttrSink* attrs) {
  FrameInfo scratch;
  return ParseBody(body, bodyLen, limits, out != nullptr ? out : &scratch, attrs, 0);
}

SplitResult SplitFrames(const uint8_t* data, size_t len, const Limits& limits, SplitSink* sink) {
  SplitResult r;
  size_t pos = 0;
  while (len - pos >= kLengthBytes) {
    uint32_t bodyLen = Rd32(data + pos);
    ErrorCode e = CheckLength(bodyLen, limits);
    if (e != ErrorCode::Ok) {
      r.error = e;
      r.errorOffset = pos;
      break;
    }
    if (len - pos - kLengthBytes < bodyLen) {
      r.nextFrameSize = kLengthBytes + bodyLen;
      break;
    }
    FrameRecord rec;
    rec.offset = pos;
    rec.length = bodyLen;
    e = ParseBody(data + pos + kLengthBytes, bodyLen, limits, &rec.info, sink, pos + kLengthBytes);
    if (e != ErrorCode::Ok) {
      r.error = e;
      r.errorOffset = pos;
      break;
    }
    if (sink != nullptr && !sink->OnFrame(rec)) {
      r.stopped = true;
      break;
    }
    r.frames++;
    pos += kLengthBytes + bodyLen;
  }
  r.consumed = pos;
  return r;
}

bool ValidUtf8(const uint8_t* s, size_t len) {
  size_t i = 0;
  while (i < len) {
    // ASCII fast path, 8 bytes at a time: the protocol's strings are almost always ASCII.
    if (len - i >= 8) {
      uint64_t w;
      std::memcpy(&w, s + i, 8);
      if ((w & 0x8080808080808080ull) == 0) {
        i += 8;
        continue;
      }
    }
    uint8_t b = s[i];
    if (b < 0x80) {
      i++;
      continue;
    }
    // RFC 3629 table 3-7: lead byte decides the length and the range of the first continuation byte.
    size_t n;
    uint8_t lo = 0x80, hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) {
      n = 1;
    } else if (b >= 0xe0 && b <= 0xef) {
      n = 2;
      if (b == 0xe0) lo = 0xa0;       // no overlongs
      else if (b == 0xed) hi = 0x9f;  // no surrogates
    } else if (b >= 0xf0 && b <= 0xf4) {
      n = 3;
      if (b == 0xf0) lo = 0x90;       // no overlongs
      else if (b == 0xf4) hi = 0x8f;  // nothing above U+10FFFF
    } else {
      return false;  // continuation byte as lead, C0/C1 overlong leads, F5..FF
    }
    if (len - i - 1 < n) return false;
    uint8_t c1 = s[i + 1];
    if (c1 < lo || c1 > hi) return false;
    for (size_t k = 2; k <= n; k++) {
      if ((s[i + k] & 0xc0) != 0x80) return false;
    }
    i += n + 1;
  }
  return true;
}

}  // namespace tsha
