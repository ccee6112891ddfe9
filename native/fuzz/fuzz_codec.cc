// libFuzzer harness for the codec core (native/codec/), built and run by `npm run fuzz` (scripts/fuzz.mjs)
// with clang-14 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all. Not part of the addon.
//
// Input format (shared with the TS replay, test/protocol/fuzz-input.ts — keep both in sync):
//   byte 0  maxDepth selector       >= 0x80: default (8), 0x7f: kMaxDepthCap (255), else 1 + b % 16
//   byte 1  maxAttributes selector  >= 0x80: default (4096), else 1 + b % 16
//   byte 2  maxFrameSize selector   >= 0x80: default (1 MiB), else 2 + 2 * b   (2..256)
//   byte 3  split selector: split point, chunk sizes and the frame a sink refuses
//   4..     the byte stream (zero or more frames, possibly ending inside one)
//
// For the default limits AND the selected ones, every input is checked for:
//   1. no crash, no undefined behaviour, no leak (the sanitizers);
//   2. whole-buffer invariants: frames tile the stream from offset 0, consumed <= size, an error sits at
//      `consumed`, a stop at a partial frame is really partial (and nextFrameSize is its size), every
//      reported frame re-validates alone with ParseFrame to the same info, every attribute offset lies in
//      its frame and points at the id/type it was reported with, and a bad frame fails alone with the
//      same code (CheckLength for the prefix, ParseFrame for the body); the same walk without a sink
//      ends at the same place; ErrorCodeName knows the code;
//   3. streaming property: the stream fed as two halves split at a point derived from the input, and fed
//      in small chunks of input-derived sizes, through an incremental reader (keep the unconsumed tail,
//      append the next chunk, split again) yields exactly the whole-buffer frame list, error and error
//      offset;
//   4. resume property: a sink that refuses the k-th frame (what the addon does when its output arrays
//      are full) and a second call from `consumed` yield the same frames as one call;
//   5. ValidUtf8 (fast paths included) agrees with a plain code-point-by-code-point reference over the
//      whole stream and over the suffix that starts at the split point;
//   6. the stream taken as ONE frame body: ParseFrame agrees with SplitFrames on it behind a correct
//      length prefix (same error code, or the same single frame).
// A violation calls Fail(), which prints what differed and aborts, so libFuzzer writes the crash input.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "codec/codec.h"

using namespace tsha;

namespace {

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "fuzz_codec: property violated: %s\n", what);
  std::abort();
}

#define CHECK(cond) \
  do {              \
    if (!(cond)) Fail(#cond); \
  } while (0)

struct Attr {
  uint16_t id;
  uint8_t type;
  size_t offset;  // absolute, in the stream
  bool operator==(const Attr& o) const { return id == o.id && type == o.type && offset == o.offset; }
};

struct Frame {
  FrameRecord rec;  // offset absolute
  std::vector<Attr> attrs;
  bool operator==(const Frame& o) const {
    const FrameInfo &a = rec.info, &b = o.rec.info;
    return rec.offset == o.rec.offset && rec.length == o.rec.length && a.kind == b.kind && a.type == b.type &&
           a.seq == b.seq && a.ref == b.ref && a.token == b.token && a.attrCount == b.attrCount && attrs == o.attrs;
  }
};

/// What decoding a whole stream yields: the canonical form both ways of feeding it must agree on.
struct Outcome {
  std::vector<Frame> frames;
  ErrorCode error = ErrorCode::Ok;
  size_t errorOffset = 0;
  size_t consumed = 0;
  size_t nextFrameSize = 0;  // only when ending at a partial frame
  bool operator==(const Outcome& o) const {
    return frames == o.frames && error == o.error && errorOffset == o.errorOffset && consumed == o.consumed &&
           nextFrameSize == o.nextFrameSize;
  }
};

/// Collects frames with absolute offsets (`base` = offset of `data` in the stream); refuses the frame
/// number `refuseAt` (counting from 0 within this call), if set.
class Collect final : public SplitSink {
 public:
  Collect(const uint8_t* data, size_t len, size_t base, std::vector<Frame>* out, size_t refuseAt = SIZE_MAX)
      : data_(data), len_(len), base_(base), out_(out), refuseAt_(refuseAt) {}

  void OnAttribute(uint16_t id, uint8_t type, size_t offset) override {
    CHECK(offset <= len_ && len_ - offset >= 3);
    CHECK(((data_[offset] << 8) | data_[offset + 1]) == id && data_[offset + 2] == type);
    CHECK(pending_.empty() || pending_.back().offset < base_ + offset);  // wire order
    pending_.push_back(Attr{id, type, base_ + offset});
  }

  bool OnFrame(const FrameRecord& f) override {
    if (seen_++ == refuseAt_) {
      pending_.clear();
      return false;
    }
    Frame fr;
    fr.rec = f;
    fr.rec.offset += base_;
    for (const Attr& a : pending_) {
      // Inside the frame body, after the 8-byte message header.
      CHECK(a.offset >= fr.rec.offset + kLengthBytes + 8);
      CHECK(a.offset + 3 <= fr.rec.offset + kLengthBytes + f.length);
    }
    CHECK(f.info.kind == kKindMessage ? pending_.size() == f.info.attrCount : pending_.empty());
    fr.attrs.swap(pending_);
    out_->push_back(std::move(fr));
    return true;
  }

  /// Attributes of a frame that then failed validation are discarded (codec.h contract).
  void DropPending() { pending_.clear(); }

 private:
  const uint8_t* data_;
  size_t len_;
  size_t base_;
  std::vector<Frame>* out_;
  size_t refuseAt_;
  size_t seen_ = 0;
  std::vector<Attr> pending_;
};

/// SplitFrames over an exact-size heap copy, so ASan sees any read past the end (a vector's spare
/// capacity would hide it).
SplitResult SplitExact(const uint8_t* data, size_t len, const Limits& lim, Collect* sink) {
  std::unique_ptr<uint8_t[]> copy(new uint8_t[len]);
  if (len > 0) std::memcpy(copy.get(), data, len);
  return SplitFrames(copy.get(), len, lim, sink);
}

Outcome Whole(const uint8_t* data, size_t len, const Limits& lim) {
  Outcome o;
  Collect sink(data, len, 0, &o.frames);
  SplitResult r = SplitExact(data, len, lim, &sink);
  sink.DropPending();
  CHECK(!r.stopped);
  CHECK(r.consumed <= len);
  CHECK(r.frames == o.frames.size());
  o.error = r.error;
  o.consumed = r.consumed;
  if (r.error != ErrorCode::Ok) {
    CHECK(r.errorOffset == r.consumed);
    CHECK(r.nextFrameSize == 0);
    o.errorOffset = r.errorOffset;
  } else {
    o.nextFrameSize = r.nextFrameSize;
  }
  return o;
}

uint32_t Rd32(const uint8_t* p) {
  return (static_cast<uint32_t>(p[0]) << 24) | (static_cast<uint32_t>(p[1]) << 16) | (static_cast<uint32_t>(p[2]) << 8) | p[3];
}

/// Property 2: what the whole-buffer outcome claims, re-derived from the bytes.
void CheckWhole(const uint8_t* data, size_t len, const Limits& lim, const Outcome& o) {
  size_t pos = 0;
  for (const Frame& f : o.frames) {
    CHECK(f.rec.offset == pos);
    CHECK(len - pos >= kLengthBytes && Rd32(data + pos) == f.rec.length);
    CHECK(len - pos - kLengthBytes >= f.rec.length);
    std::unique_ptr<uint8_t[]> body(new uint8_t[f.rec.length]);
    std::memcpy(body.get(), data + pos + kLengthBytes, f.rec.length);
    FrameInfo info;
    CHECK(ParseFrame(body.get(), f.rec.length, lim, &info, nullptr) == ErrorCode::Ok);
    CHECK(info.kind == f.rec.info.kind && info.type == f.rec.info.type && info.seq == f.rec.info.seq &&
          info.ref == f.rec.info.ref && info.token == f.rec.info.token && info.attrCount == f.rec.info.attrCount);
    pos += kLengthBytes + f.rec.length;
  }
  CHECK(pos == o.consumed);
  if (o.error != ErrorCode::Ok) {
    // The bad frame fails on its own with the same code.
    CHECK(len - pos >= kLengthBytes);
    uint32_t n = Rd32(data + pos);
    ErrorCode e = CheckLength(n, lim);
    if (e == ErrorCode::Ok) {
      CHECK(len - pos - kLengthBytes >= n);
      std::unique_ptr<uint8_t[]> body(new uint8_t[n]);
      std::memcpy(body.get(), data + pos + kLengthBytes, n);
      e = ParseFrame(body.get(), n, lim, nullptr, nullptr);
    }
    CHECK(e == o.error);
  } else if (len - pos >= kLengthBytes) {
    // Stopped at a partial frame whose prefix is complete (and acceptable).
    uint32_t n = Rd32(data + pos);
    CHECK(CheckLength(n, lim) == ErrorCode::Ok);
    CHECK(len - pos - kLengthBytes < n);
    CHECK(o.nextFrameSize == kLengthBytes + static_cast<size_t>(n));
  } else {
    CHECK(o.nextFrameSize == 0);
  }
}

/// An incremental reader as a socket loop would run it: `cuts` are the chunk boundaries. With
/// `waitForWhole`, like the addon's reader, it does not re-split while the buffer is still shorter than
/// the pending frame's nextFrameSize (except on the last chunk); this keeps small-chunk feeding linear.
Outcome Streamed(const uint8_t* data, size_t len, const Limits& lim, const std::vector<size_t>& cuts,
                 bool waitForWhole) {
  Outcome o;
  std::vector<uint8_t> buf;  // unconsumed tail + new chunk
  size_t base = 0;           // stream offset of buf[0]
  size_t from = 0;
  for (size_t k = 0; k <= cuts.size(); k++) {
    size_t to = k < cuts.size() ? cuts[k] : len;
    buf.insert(buf.end(), data + from, data + to);
    from = to;
    if (waitForWhole && k < cuts.size() && buf.size() < o.nextFrameSize) continue;
    Collect sink(buf.data(), buf.size(), base, &o.frames);
    SplitResult r = SplitExact(buf.data(), buf.size(), lim, &sink);
    sink.DropPending();
    CHECK(!r.stopped);
    if (r.error != ErrorCode::Ok) {
      o.error = r.error;
      o.errorOffset = base + r.errorOffset;
      o.consumed = base + r.consumed;
      o.nextFrameSize = 0;
      return o;
    }
    buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(r.consumed));
    base += r.consumed;
    o.nextFrameSize = r.nextFrameSize;
  }
  o.consumed = base;
  return o;
}

/// Property 4: refuse frame `k`, then resume from `consumed`.
Outcome Resumed(const uint8_t* data, size_t len, const Limits& lim, size_t k) {
  Outcome o;
  Collect first(data, len, 0, &o.frames, k);
  SplitResult r = SplitExact(data, len, lim, &first);
  first.DropPending();
  if (!r.stopped) {
    // Fewer than k + 1 frames: one call was the whole story.
    o.error = r.error;
    o.errorOffset = r.error != ErrorCode::Ok ? r.errorOffset : 0;
    o.consumed = r.consumed;
    o.nextFrameSize = r.error == ErrorCode::Ok ? r.nextFrameSize : 0;
    return o;
  }
  CHECK(r.error == ErrorCode::Ok && r.frames == k && r.consumed <= len);
  Collect rest(data + r.consumed, len - r.consumed, r.consumed, &o.frames);
  SplitResult r2 = SplitExact(data + r.consumed, len - r.consumed, lim, &rest);
  rest.DropPending();
  CHECK(!r2.stopped);
  o.error = r2.error;
  o.errorOffset = r2.error != ErrorCode::Ok ? r.consumed + r2.errorOffset : 0;
  o.consumed = r.consumed + r2.consumed;
  o.nextFrameSize = r2.error == ErrorCode::Ok ? r2.nextFrameSize : 0;
  return o;
}

/// RFC 3629 by the book: decode each sequence to a code point, then reject overlongs, surrogates and
/// values above U+10FFFF. Deliberately unlike the codec's table-driven validator.
bool ReferenceUtf8(const uint8_t* s, size_t len) {
  size_t i = 0;
  while (i < len) {
    uint8_t b = s[i];
    size_t n;
    uint32_t cp;
    if (b < 0x80) {
      i++;
      continue;
    } else if ((b & 0xe0) == 0xc0) {
      n = 1, cp = b & 0x1f;
    } else if ((b & 0xf0) == 0xe0) {
      n = 2, cp = b & 0x0f;
    } else if ((b & 0xf8) == 0xf0) {
      n = 3, cp = b & 0x07;
    } else {
      return false;
    }
    if (len - i <= n) return false;
    for (size_t k = 1; k <= n; k++) {
      if ((s[i + k] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    static const uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n + 1;
  }
  return true;
}

void CheckUtf8(const uint8_t* s, size_t len) {
  std::unique_ptr<uint8_t[]> copy(new uint8_t[len]);
  if (len > 0) std::memcpy(copy.get(), s, len);
  if (ValidUtf8(copy.get(), len) != ReferenceUtf8(s, len)) Fail("ValidUtf8 disagrees with the reference validator");
}

void CheckLimits(const uint8_t* data, size_t len, const Limits& lim, uint8_t sel) {
  Outcome whole = Whole(data, len, lim);
  CheckWhole(data, len, lim, whole);
  const char* name = ErrorCodeName(whole.error);
  CHECK(std::strcmp(name, "ERR_UNKNOWN") != 0 && (whole.error == ErrorCode::Ok) == (std::strcmp(name, "OK") == 0));

  // Without a sink (a caller that only wants to know where the whole frames end).
  {
    std::unique_ptr<uint8_t[]> copy(new uint8_t[len]);
    if (len > 0) std::memcpy(copy.get(), data, len);
    SplitResult r = SplitFrames(copy.get(), len, lim, nullptr);
    CHECK(r.frames == whole.frames.size() && r.consumed == whole.consumed && r.error == whole.error && !r.stopped);
  }

  // Two halves at an input-derived point (sel spreads it over [0, len]).
  size_t split = (static_cast<size_t>(sel) * (len + 1)) >> 8;
  if (!(Streamed(data, len, lim, {split}, false) == whole)) Fail("stream split in two halves differs from the whole buffer");

  // Small chunks: sizes 1..8 from a tiny LCG seeded by the selector and the length.
  std::vector<size_t> cuts;
  uint32_t x = sel * 2654435761u + static_cast<uint32_t>(len);
  for (size_t at = 0;;) {
    x = x * 1103515245u + 12345u;
    at += 1 + ((x >> 16) & 7);
    if (at >= len) break;
    cuts.push_back(at);
  }
  if (!(Streamed(data, len, lim, cuts, true) == whole)) Fail("stream fed in small chunks differs from the whole buffer");

  size_t k = whole.frames.empty() ? 0 : sel % (whole.frames.size() + 1);
  if (!(Resumed(data, len, lim, k) == whole)) Fail("refuse-and-resume differs from one call");
}

/// Property 6: the stream taken as ONE frame body: ParseFrame on it agrees with SplitFrames on the same
/// bytes behind a correct length prefix (same error, or one frame with the same info).
void CheckAsOneBody(const uint8_t* data, size_t len, const Limits& lim) {
  std::unique_ptr<uint8_t[]> body(new uint8_t[len]);
  if (len > 0) std::memcpy(body.get(), data, len);
  FrameInfo info;
  ErrorCode e = ParseFrame(body.get(), len, lim, &info, nullptr);
  std::vector<uint8_t> framed = {static_cast<uint8_t>(len >> 24), static_cast<uint8_t>(len >> 16),
                                 static_cast<uint8_t>(len >> 8), static_cast<uint8_t>(len)};
  framed.insert(framed.end(), data, data + len);
  Outcome o = Whole(framed.data(), framed.size(), lim);
  CHECK(o.error == e);
  if (e == ErrorCode::Ok) {
    CHECK(o.frames.size() == 1 && o.consumed == framed.size());
    const FrameInfo& f = o.frames[0].rec.info;
    CHECK(f.kind == info.kind && f.type == info.type && f.seq == info.seq && f.ref == info.ref && f.token == info.token &&
          f.attrCount == info.attrCount);
  } else {
    CHECK(o.frames.empty() && o.consumed == 0);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  Limits small;
  small.maxDepth = data[0] >= 0x80 ? Limits{}.maxDepth : data[0] == 0x7f ? kMaxDepthCap : 1u + data[0] % 16u;
  small.maxAttributes = data[1] >= 0x80 ? Limits{}.maxAttributes : 1u + data[1] % 16u;
  small.maxFrameSize = data[2] >= 0x80 ? Limits{}.maxFrameSize : 2u + 2u * data[2];
  uint8_t sel = data[3];
  CHECK(LimitsValid(small));
  const uint8_t* stream = data + 4;
  size_t len = size - 4;

  CheckLimits(stream, len, Limits{}, sel);
  CheckLimits(stream, len, small, sel);
  CheckAsOneBody(stream, len, Limits{});
  CheckAsOneBody(stream, len, small);
  CheckUtf8(stream, len);
  size_t split = (static_cast<size_t>(sel) * (len + 1)) >> 8;
  CheckUtf8(stream + split, len - split);
  return 0;
}
