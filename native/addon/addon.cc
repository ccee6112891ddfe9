// Module entry. Each subsystem registers its exports here; see addon.h.
#include "addon.h"

// Not used yet: proves both builds see libuv (the I/O-thread transport needs it).
#include <uv.h>

namespace tsha {

TshaAddon::TshaAddon(Napi::Env env, Napi::Object exports) {
  InitDecode(env, exports);
  // Further subsystems: InitTransport(env, exports, this);
}

}  // namespace tsha

using tsha::TshaAddon;
NODE_API_NAMED_ADDON(tserver_ha, TshaAddon)
