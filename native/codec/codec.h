// tserver-ha codec core: validation and indexing of the wire format of docs/protocol.md.
//
// No Node-API, no exceptions, no allocation: every function works on caller memory and reports through
// small caller-provided sink objects, so the same code runs in the addon, on the I/O thread, in the C++
// unit test (native/test/) and under a fuzzer.
//
// Two entry points:
//   - ParseFrame: validate ONE complete frame body (the bytes after the 4-byte length prefix).
//   - SplitFrames: walk a byte range holding zero or more whole frames, possibly ending in a partial one
//     (what a socket read buffer holds). Each whole frame is validated and reported; the walk stops at a
//     partial frame, at the first bad frame, or when the sink refuses a frame.
//
// Error codes and their numbers are identical to lib/protocol/errors.ts (ProtocolErrno).
#ifndef TSHA_CODEC_CODEC_H_
#define TSHA_CODEC_CODEC_H_

#include <cstddef>
#include <cstdint>

namespace tsha {

/// docs/protocol.md "Error codes"; values equal the TS `ProtocolError.errno`.
enum class ErrorCode : uint8_t {
  Ok = 0,
  Incomplete = 1,         // input ended inside a frame (only meaningful for whole-buffer decoding)
  FrameTooLarge = 2,      // Length > maxFrameSize
  FrameTooSmall = 3,      // Length < 2
  BadVersion = 4,         // version byte != 1
  BadKind = 5,            // unknown frame kind
  BadValueType = 6,       // unknown value type byte (5 included)
  Truncated = 7,          // a field or length runs past the end of the frame
  TrailingBytes = 8,      // bytes left after the last attribute of a message
  DepthExceeded = 9,      // list nesting deeper than maxDepth
  InvalidUtf8 = 10,       // a string or key is not strict UTF-8 (RFC 3629)
  TooManyAttributes = 11, // more than maxAttributes top-level attributes, or more than kMaxListEntries
                          // list entries in the frame
  BadAddp = 12,           // ADDP payload not exactly 4 bytes
};

/// "ERR_TRUNCATED" etc. (the TS `ProtocolError.code`); "OK" for Ok, "ERR_UNKNOWN" for anything else.
const char* ErrorCodeName(ErrorCode code);

constexpr uint8_t kWireVersion = 1;
constexpr size_t kLengthBytes = 4;

/// Frame kinds.
constexpr uint8_t kKindMessage = 1;
constexpr uint8_t kKindAddpPoll = 2;
constexpr uint8_t kKindAddpReply = 3;

/// Value type bytes (Genesys kvlist numbering; 5 is not used).
constexpr uint8_t kTypeString = 0;
constexpr uint8_t kTypeInt32 = 1;
constexpr uint8_t kTypeBinary = 2;
constexpr uint8_t kTypeList = 3;
constexpr uint8_t kTypeEmpty = 4;
constexpr uint8_t kTypeInt64 = 6;
constexpr uint8_t kTypeFloat64 = 7;

/// Attribute ids the index extracts.
constexpr uint16_t kAttrReferenceID = 2;
constexpr uint16_t kAttrEventSequenceNumber = 148;

/// Largest maxDepth accepted. Validation recurses once per nesting level, so the depth must be bounded
/// independently of the frame size; 255 is also the deepest nesting the TS encoder writes.
constexpr uint32_t kMaxDepthCap = 255;

/// Most key/value list entries in one frame, all lists at every depth together (MAX_LIST_ENTRIES in
/// lib/protocol/decoder.ts): the frame size alone does not bound what a frame costs once decoded. Over it:
/// TooManyAttributes, checked as each entry starts (before its key).
constexpr uint32_t kMaxListEntries = 65535;

/// Decoder limits (docs/protocol.md). Every field must be >= 1; maxDepth above kMaxDepthCap is treated
/// as kMaxDepthCap (see LimitsValid).
struct Limits {
  uint32_t maxFrameSize = 1u << 20;
  uint32_t maxDepth = 8;
  uint32_t maxAttributes = 4096;
};

/// True when every limit is >= 1 and maxDepth <= kMaxDepthCap (what the JS layers enforce).
bool LimitsValid(const Limits& limits);

/// A limit given as a JS number: true, and *out set, when `v` is an integer in [1, 2^32 - 1]. The addon
/// reads limits with this, never with a bare cast (undefined behaviour out of range) or
/// napi_get_value_uint32 (which wraps modulo 2^32: 2^32 + 3 would become 3). The JS layers refuse such
/// limits first (resolveLimits in lib/protocol/decoder.ts); this is the addon's own guard.
inline bool LimitFromDouble(double v, uint32_t* out) {
  if (!(v >= 1.0 && v <= 4294967295.0)) return false;  // NaN fails too
  uint32_t u = static_cast<uint32_t>(v);
  if (static_cast<double>(u) != v) return false;  // not an integer
  *out = u;
  return true;
}

/// What ParseFrame learned about one valid frame.
struct FrameInfo {
  uint8_t kind = 0;        // kKindMessage / kKindAddpPoll / kKindAddpReply
  uint32_t type = 0;       // TMessageType id (messages), 0 for ADDP
  int64_t seq = -1;        // value of the FIRST EventSequenceNumber (148) attribute when it is int64 or
                           // int32; -1 when absent or of another type
  int64_t ref = -1;        // value of the FIRST ReferenceID (2) attribute when it is int32; -1 otherwise
  uint32_t token = 0;      // ADDP token (ADDP frames), 0 for messages
  uint32_t attrCount = 0;  // number of top-level attributes (messages)
};

/// Receives the top-level attributes of a message as they are validated, in wire order.
/// `offset` points at the attribute's AttrId (the value type byte is at offset + 2, the value data at
/// offset + 3). For ParseFrame it is relative to `body`; for SplitFrames, relative to `data`.
/// If parsing then fails, the attributes reported for the failed frame must be discarded.
class AttrSink {
 public:
  virtual ~AttrSink() = default;
  virtual void OnAttribute(uint16_t id, uint8_t type, size_t offset) = 0;
};

/// Validate the frame prefix value `len` (the body length) before anything else is read or allocated:
/// FrameTooLarge if len > maxFrameSize, FrameTooSmall if len < 2, else Ok.
ErrorCode CheckLength(uint32_t len, const Limits& limits);

/// Validate one complete frame body `body[0, bodyLen)` (without the length prefix) and fill `*out`.
/// `attrs` may be null. Returns the first error found, in the same order as the TS reference decoder
/// (lib/protocol/decoder.ts), so both report the same code for the same input. bodyLen is checked with
/// CheckLength first.
ErrorCode ParseFrame(const uint8_t* body, size_t bodyLen, const Limits& limits, FrameInfo* out, AttrSink* attrs);

/// One whole valid frame found by SplitFrames.
struct FrameRecord {
  size_t offset = 0;   // of the length prefix, relative to `data`
  uint32_t length = 0; // body length (the frame occupies kLengthBytes + length bytes)
  FrameInfo info;
};

/// Receives SplitFrames' output. OnAttribute (inherited) is called for each attribute of the frame being
/// parsed, then OnFrame once the frame is known valid.
class SplitSink : public AttrSink {
 public:
  void OnAttribute(uint16_t, uint8_t, size_t) override {}
  /// Return false to refuse this frame (e.g. the output is full): SplitFrames then stops BEFORE it
  /// (it is not counted in `frames` nor in `consumed`) and sets `stopped`.
  virtual bool OnFrame(const FrameRecord& frame) = 0;
};

/// Outcome of SplitFrames.
struct SplitResult {
  size_t consumed = 0;      // bytes of the whole frames accepted (the next frame starts here)
  size_t frames = 0;        // frames accepted
  ErrorCode error = ErrorCode::Ok;  // first bad frame, or Ok
  size_t errorOffset = 0;   // offset of the bad frame's length prefix (== consumed) when error != Ok
  size_t nextFrameSize = 0; // when stopped at a partial frame whose prefix is complete: its total size
                            // (kLengthBytes + Length), so a reader can size its buffer; else 0
  bool stopped = false;     // the sink refused a frame
};

/// Walk `data[0, len)`: for each whole frame, check its length (as soon as the 4 prefix bytes exist —
/// an oversized frame is refused before the rest of it arrives), validate it, and hand it to `sink`.
/// Stops at a partial frame (error Ok, consumed < len), at the first bad frame (error set; frames before
/// it were reported), or when the sink refuses a frame. A whole-buffer decoder maps "Ok but consumed <
/// len" to ErrorCode::Incomplete at offset `consumed`.
SplitResult SplitFrames(const uint8_t* data, size_t len, const Limits& limits, SplitSink* sink);

/// Strict UTF-8 check of `s[0, len)` per RFC 3629 (no overlongs, surrogates or values above U+10FFFF).
bool ValidUtf8(const uint8_t* s, size_t len);

}  // namespace tsha

#endif  // TSHA_CODEC_CODEC_H_
