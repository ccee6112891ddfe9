// libFuzzer harness for the codec core (not part of the addon build):
//   clang++-14 -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -I native \
//     native/test/fuzz_codec.cc native/codec/codec.cc -o build/fuzz_codec
//   build/fuzz_codec -max_total_time=60 .fuzz/corpus
// The first 3 input bytes pick small limits so the depth/attribute/size checks are reachable; the rest is
// the stream. Checks invariants on top of ASan/UBSan: SplitFrames never reads or reports past the input,
// every reported frame re-validates alone with ParseFrame, and attribute offsets lie inside their frame.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "codec/codec.h"

using namespace tsha;

namespace {
struct Sink final : SplitSink {
  size_t len = 0;
  std::vector<size_t> pending;
  std::vector<FrameRecord> frames;
  void OnAttribute(uint16_t, uint8_t, size_t offset) override {
    if (offset + 3 > len) std::abort();
    pending.push_back(offset);
  }
  bool OnFrame(const FrameRecord& f) override {
    for (size_t o : pending) {
      if (o < f.offset + kLengthBytes || o + 3 > f.offset + kLengthBytes + f.length) std::abort();
    }
    if (pending.size() != f.info.attrCount) std::abort();
    pending.clear();
    frames.push_back(f);
    return true;
  }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  Limits lim;
  lim.maxDepth = 1 + data[0] % 10;
  lim.maxAttributes = data[1] < 128 ? 1 + data[1] % 8 : 4096;
  lim.maxFrameSize = data[2] < 128 ? 2 + data[2] : 1u << 20;
  data += 3;
  size -= 3;
  Sink sink;
  sink.len = size;
  SplitResult r = SplitFrames(data, size, lim, &sink);
  if (r.consumed > size || r.frames != sink.frames.size()) std::abort();
  if (r.error != ErrorCode::Ok && r.errorOffset != r.consumed) std::abort();
  for (const FrameRecord& f : sink.frames) {
    FrameInfo info;
    if (ParseFrame(data + f.offset + kLengthBytes, f.length, lim, &info, nullptr) != ErrorCode::Ok) std::abort();
    if (info.seq != f.info.seq || info.ref != f.info.ref || info.type != f.info.type) std::abort();
  }
  return 0;
}
