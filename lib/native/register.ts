/**
 * Registers the native transport with lib/transport when the addon (with its I/O thread) is loaded.
 * Imported for its side effect by lib/native/index.ts.
 */
import { registerTransport } from '../transport/index.js';
import { ioBinding } from './io-binding.js';
import { NativeTransport } from './native-transport.js';

/** Whether the native transport could be registered (the addon loaded and exports `io`). */
export const nativeTransportRegistered: boolean = (() => {
  if (ioBinding() === null) return false;
  registerTransport('native', (o) => new NativeTransport(o));
  return true;
})();
