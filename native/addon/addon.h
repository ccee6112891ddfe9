// The addon object: one instance per Node environment (main thread or worker), held as Node-API instance
// data by Napi::Addon — no static JS references anywhere, so workers and unloads are safe.
//
// To add a subsystem (e.g. the I/O-thread transport): write native/addon/<name>.cc with an
// `void Init<Name>(Napi::Env env, Napi::Object exports, TshaAddon* addon)` and call it from the TshaAddon
// constructor in addon.cc. Both builds compile every .cc in this directory.
#ifndef TSHA_ADDON_ADDON_H_
#define TSHA_ADDON_ADDON_H_

#include <napi.h>

namespace tsha {

class TshaAddon : public Napi::Addon<TshaAddon> {
 public:
  TshaAddon(Napi::Env env, Napi::Object exports);
};

/// Adds `decode` and the index layout constants to `exports` (decode.cc).
void InitDecode(Napi::Env env, Napi::Object exports);

}  // namespace tsha

#endif  // TSHA_ADDON_ADDON_H_
