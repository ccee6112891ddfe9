// Module entry. Each subsystem registers its exports here; see addon.h.
#include "addon.h"
#include "io_napi.h"


namespace tsha {

TshaAddon::TshaAddon(Napi::Env env, Napi::Object exports) {
  InitDecode(env, exports);
  // The I/O-thread transport (io_napi.cc): owns its state through an env cleanup hook.
  io::InitTransport(env, exports);
}

}  // namespace tsha

using tsha::TshaAddon;
NODE_API_NAMED_ADDON(tserver_ha, TshaAddon)
