// Standalone unit test of the codec core (no Node): runs the golden vectors from
// test/vectors/vectors.txt (generated with the JSON by test/vectors/generate.ts) through SplitFrames
// with whole-buffer semantics, plus ParseFrame and a few direct checks.
//
// Line format (tab-separated; '#' starts a comment line):
//   name  maxFrameSize,maxDepth,maxAttributes  hex  expect
// expect is `ok F1;F2;...` where each frame is `kind,type,seq,ref,token,attrCount,offset,length`,
// or `ERR_CODE offset` (offset of the bad frame's length prefix).
//
// Usage: codec_test [--leak-self-test] [vectors.txt]   (exit status 0 when every vector passes)
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "codec/codec.h"

using namespace tsha;

namespace {

int failures = 0;

void Fail(const std::string& name, const std::string& why) {
  std::fprintf(stderr, "FAIL %s: %s\n", name.c_str(), why.c_str());
  failures++;
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep)) out.push_back(cur);
  return out;
}

bool FromHex(const std::string& hex, std::vector<uint8_t>* out) {
  if (hex.size() % 2 != 0) return false;
  for (size_t i = 0; i < hex.size(); i += 2) {
    char* end = nullptr;
    std::string byte = hex.substr(i, 2);
    long v = std::strtol(byte.c_str(), &end, 16);
    if (*end != '\0') return false;
    out->push_back(static_cast<uint8_t>(v));
  }
  return true;
}

// Records frames and checks that attribute offsets are in wire order, inside their frame, and that each
// points at an AttrId/type pair equal to what OnAttribute was told.
class RecordingSink final : public SplitSink {
 public:
  explicit RecordingSink(const std::vector<uint8_t>& data) : data_(data) {}
  void OnAttribute(uint16_t id, uint8_t type, size_t offset) override {
    bool ok = offset + 3 <= data_.size() && ((data_[offset] << 8) | data_[offset + 1]) == id && data_[offset + 2] == type;
    if (!ok) badAttr = true;
    pending++;
  }
  bool OnFrame(const FrameRecord& f) override {
    if (f.info.kind == kKindMessage && pending != f.info.attrCount) badAttr = true;
    pending = 0;
    frames.push_back(f);
    return true;
  }
  std::vector<FrameRecord> frames;
  bool badAttr = false;
  size_t pending = 0;

 private:
  const std::vector<uint8_t>& data_;
};

std::string FrameString(const FrameRecord& f) {
  char buf[200];
  std::snprintf(buf, sizeof buf, "%u,%u,%lld,%lld,%u,%u,%zu,%u", f.info.kind, f.info.type,
                static_cast<long long>(f.info.seq), static_cast<long long>(f.info.ref), f.info.token, f.info.attrCount,
                f.offset, f.length);
  return buf;
}

void RunVector(const std::vector<std::string>& cols) {
  const std::string& name = cols[0];
  std::vector<std::string> lim = Split(cols[1], ',');
  Limits limits;
  limits.maxFrameSize = static_cast<uint32_t>(std::stoul(lim.at(0)));
  limits.maxDepth = static_cast<uint32_t>(std::stoul(lim.at(1)));
  limits.maxAttributes = static_cast<uint32_t>(std::stoul(lim.at(2)));
  std::vector<uint8_t> data;
  if (!FromHex(cols[2], &data)) return Fail(name, "bad hex in vector file");

  RecordingSink sink(data);
  SplitResult r = SplitFrames(data.data(), data.size(), limits, &sink);
  ErrorCode err = r.error;
  size_t errOffset = r.errorOffset;
  if (err == ErrorCode::Ok && r.consumed < data.size()) {
    err = ErrorCode::Incomplete;
    errOffset = r.consumed;
  }
  std::string got;
  if (err == ErrorCode::Ok) {
    got = "ok ";
    for (size_t i = 0; i < sink.frames.size(); i++) got += (i ? ";" : "") + FrameString(sink.frames[i]);
  } else {
    got = std::string(ErrorCodeName(err)) + " " + std::to_string(errOffset);
  }
  std::string want = cols[3];
  if (want == "ok") want = "ok ";
  if (got != want) return Fail(name, "expected [" + want + "] got [" + got + "]");
  if (sink.badAttr) return Fail(name, "attribute offsets inconsistent");

  // ParseFrame on each reported frame must agree with SplitFrames.
  for (const FrameRecord& f : sink.frames) {
    FrameInfo info;
    ErrorCode e = ParseFrame(data.data() + f.offset + kLengthBytes, f.length, limits, &info, nullptr);
    if (e != ErrorCode::Ok || info.seq != f.info.seq || info.type != f.info.type) return Fail(name, "ParseFrame disagrees");
  }
}

void DirectChecks() {
  Limits lim;
  if (CheckLength(1, lim) != ErrorCode::FrameTooSmall) Fail("direct", "CheckLength(1)");
  if (CheckLength(2, lim) != ErrorCode::Ok) Fail("direct", "CheckLength(2)");
  if (CheckLength(lim.maxFrameSize + 1, lim) != ErrorCode::FrameTooLarge) Fail("direct", "CheckLength(max+1)");
  // A partial frame whose prefix is complete reports the size it needs.
  const uint8_t partial[] = {0, 0, 0, 6, 1, 2, 0};
  SplitResult r = SplitFrames(partial, sizeof partial, lim, nullptr);
  if (r.error != ErrorCode::Ok || r.consumed != 0 || r.nextFrameSize != 10) Fail("direct", "partial frame");
  // A sink refusing a frame stops before it.
  struct Refuse final : SplitSink {
    bool OnFrame(const FrameRecord&) override { return false; }
  } refuse;
  const uint8_t addp[] = {0, 0, 0, 6, 1, 2, 0, 0, 0, 7};
  r = SplitFrames(addp, sizeof addp, lim, &refuse);
  if (!r.stopped || r.consumed != 0 || r.frames != 0) Fail("direct", "refused frame");
  // UTF-8 edges.
  const uint8_t maxCp[] = {0xf4, 0x8f, 0xbf, 0xbf}, over[] = {0xf4, 0x90, 0x80, 0x80}, sur[] = {0xed, 0xa0, 0x80};
  if (!ValidUtf8(maxCp, 4) || ValidUtf8(over, 4) || ValidUtf8(sur, 3)) Fail("direct", "utf8 edges");
  if (!LimitsValid(lim)) Fail("direct", "default limits valid");
  Limits deep;
  deep.maxDepth = kMaxDepthCap + 1;
  if (LimitsValid(deep)) Fail("direct", "maxDepth cap");
}

// `--leak-self-test`: leak one block on purpose, so native/test/leaks.mjs can prove that its leak
// checkers (LeakSanitizer, valgrind) would catch a leak rather than pass vacuously.
__attribute__((noinline)) void LeakOnPurpose() {
  auto* p = new std::string(100, 'x');
  std::printf("codec_test: leaking %zu bytes on purpose\n", p->size());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--leak-self-test") == 0) {
    LeakOnPurpose();
    argc--;
    argv++;
  }
  const char* path = argc > 1 ? argv[1] : "test/vectors/vectors.txt";
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "cannot open %s\n", path);
    return 2;
  }
  DirectChecks();
  std::string line;
  int count = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> cols = Split(line, '\t');
    if (cols.size() != 4) {
      Fail("file", "malformed line: " + line.substr(0, 60));
      continue;
    }
    RunVector(cols);
    count++;
  }
  if (count == 0) Fail("file", "no vectors");
  std::printf("codec_test: %d vectors, %d failures\n", count, failures);
  return failures == 0 ? 0 : 1;
}
