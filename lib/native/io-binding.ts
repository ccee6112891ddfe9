import { nativeBinding } from './loader.js';
import type { IoBinding } from './io-records.js';

/** `exports.io` of the loaded addon (native/addon/io_napi.cc), or null when the addon is unavailable. */
export function ioBinding(): IoBinding | null {
  const io = nativeBinding()?.io as IoBinding | undefined;
  return io && typeof io.start === 'function' ? io : null;
}
