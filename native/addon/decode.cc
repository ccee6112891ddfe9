// `decode(input, index, attrs, maxFrameSize, maxDepth, maxAttributes) -> frames`
//
// Splits and validates a whole batch of frames in one call and writes an index into caller-owned typed
// arrays (layout in decode.h). No JS object is created per frame or per attribute: JS reads the index and
// materializes lazily (lib/native/frame-view.ts). Written against the plain C Node-API: it is the hot
// path, and the C API lets us fail with a TypeError without C++ exceptions.
#include <napi.h>

#include "addon.h"
#include "codec/codec.h"
#include "decode.h"

namespace tsha {
namespace {

namespace L = index_layout;

// Writes records and attribute offsets straight into the JS typed arrays.
class IndexSink final : public SplitSink {
 public:
  IndexSink(double* index, size_t maxFrames, uint32_t* attrs, size_t maxAttrs)
      : index_(index), maxFrames_(maxFrames), attrs_(attrs), maxAttrs_(maxAttrs) {}

  void OnAttribute(uint16_t, uint8_t, size_t offset) override {
    if (nAttrs_ < maxAttrs_) attrs_[nAttrs_] = static_cast<uint32_t>(offset);
    nAttrs_++;  // may exceed maxAttrs_: OnFrame then refuses the frame
  }

  bool OnFrame(const FrameRecord& f) override {
    if (nFrames_ >= maxFrames_ || nAttrs_ > maxAttrs_) {
      full_ = true;
      return false;
    }
    double* r = index_ + L::kHeaderSize + nFrames_ * L::kStride;
    r[L::kROffset] = static_cast<double>(f.offset);
    r[L::kRLength] = f.length;
    r[L::kRKind] = f.info.kind;
    r[L::kRType] = f.info.kind == kKindMessage ? f.info.type : f.info.token;
    r[L::kRSeq] = static_cast<double>(f.info.seq);
    r[L::kRRef] = static_cast<double>(f.info.ref);
    r[L::kRAttrStart] = static_cast<double>(frameAttrStart_);
    r[L::kRAttrCount] = f.info.attrCount;
    nFrames_++;
    frameAttrStart_ = nAttrs_;
    return true;
  }

  // Attributes of a refused or failed frame are dropped.
  size_t attrsKept() const { return frameAttrStart_; }
  size_t frames() const { return nFrames_; }
  bool full() const { return full_; }

 private:
  double* index_;
  size_t maxFrames_;
  uint32_t* attrs_;
  size_t maxAttrs_;
  size_t nFrames_ = 0;
  size_t nAttrs_ = 0;
  size_t frameAttrStart_ = 0;
  bool full_ = false;
};

bool TypedArrayArg(napi_env env, napi_value v, napi_typedarray_type want, void** data, size_t* length) {
  // napi_get_typedarray_info fails (napi_invalid_arg) for anything that is not a typed array.
  napi_typedarray_type type;
  if (napi_get_typedarray_info(env, v, &type, length, data, nullptr, nullptr) != napi_ok) return false;
  return type == want;
}

napi_value Fail(napi_env env, const char* msg) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return nullptr;
}

napi_value Decode(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok) return nullptr;
  if (argc < 6) return Fail(env, "decode(input, index, attrs, maxFrameSize, maxDepth, maxAttributes): 6 arguments");
  void* in = nullptr;
  void* idx = nullptr;
  void* at = nullptr;
  size_t inLen = 0, idxLen = 0, atLen = 0;
  if (!TypedArrayArg(env, argv[0], napi_uint8_array, &in, &inLen)) return Fail(env, "decode: input must be a Uint8Array");
  if (!TypedArrayArg(env, argv[1], napi_float64_array, &idx, &idxLen) || idxLen < L::kHeaderSize) {
    return Fail(env, "decode: index must be a Float64Array of at least 8 elements");
  }
  if (!TypedArrayArg(env, argv[2], napi_uint32_array, &at, &atLen)) return Fail(env, "decode: attrs must be a Uint32Array");
  Limits limits;
  // As doubles, range-checked: napi_get_value_uint32 would wrap 2^32 + 3 to 3.
  double lim[3];
  if (napi_get_value_double(env, argv[3], &lim[0]) != napi_ok || napi_get_value_double(env, argv[4], &lim[1]) != napi_ok ||
      napi_get_value_double(env, argv[5], &lim[2]) != napi_ok || !LimitFromDouble(lim[0], &limits.maxFrameSize) ||
      !LimitFromDouble(lim[1], &limits.maxDepth) || !LimitFromDouble(lim[2], &limits.maxAttributes) || !LimitsValid(limits)) {
    return Fail(env, "decode: limits must be integers in [1, 2^32 - 1] (maxDepth <= 255)");
  }
  double* index = static_cast<double*>(idx);
  // Attribute offsets are u32: inputs of 4 GiB or more are refused (reads are far smaller).
  if (inLen > 0xffffffffu) return Fail(env, "decode: input larger than 4 GiB");

  IndexSink sink(index, (idxLen - L::kHeaderSize) / L::kStride, static_cast<uint32_t*>(at), atLen);
  SplitResult r = SplitFrames(static_cast<const uint8_t*>(in), inLen, limits, &sink);
  index[L::kHFrames] = static_cast<double>(sink.frames());
  index[L::kHAttrs] = static_cast<double>(sink.attrsKept());
  index[L::kHConsumed] = static_cast<double>(r.consumed);
  index[L::kHErrno] = static_cast<double>(r.error);
  index[L::kHErrorOffset] = static_cast<double>(r.errorOffset);
  index[L::kHNextFrameSize] = static_cast<double>(r.nextFrameSize);
  index[L::kHFull] = sink.full() ? 1 : 0;
  index[7] = 0;
  napi_value out;
  napi_create_uint32(env, static_cast<uint32_t>(sink.frames()), &out);
  return out;
}

}  // namespace

void InitDecode(Napi::Env env, Napi::Object exports) {
  napi_value fn;
  NAPI_THROW_IF_FAILED_VOID(env, napi_create_function(env, "decode", NAPI_AUTO_LENGTH, Decode, nullptr, &fn));
  exports.Set("decode", Napi::Value(env, fn));
  Napi::Object layout = Napi::Object::New(env);
  layout.Set("headerSize", static_cast<double>(L::kHeaderSize));
  layout.Set("stride", static_cast<double>(L::kStride));
  layout.Set("wireVersion", static_cast<double>(kWireVersion));
  exports.Set("indexLayout", layout);
}

}  // namespace tsha
