// Entry point of the native transport's I/O thread for the addon (called once from addon.cc).
#ifndef TSHA_ADDON_IO_NAPI_H_
#define TSHA_ADDON_IO_NAPI_H_

#include <node_api.h>

namespace tsha {
namespace io {

/// Adds `exports.io` (start, open, write, close, hold, release, ack, ref). Owns its state through an env
/// cleanup hook, so it needs no instance-data slot of its own.
napi_value InitTransport(napi_env env, napi_value exports);

}  // namespace io
}  // namespace tsha

#endif  // TSHA_ADDON_IO_NAPI_H_
