/**
 * Registers the native transport with lib/transport when the addon (with its I/O thread) is loaded.
 * Imported for its side effect by lib/native/index.ts.
 */
import { registerTransport } from '../transport/index.js';
import { ioBinding } from './io-binding.js';
import { NativeTransport } from './native-transport.js';

/** Whether the native transport could be registered (the addon loaded and exports `io`). */
export const nativeTransportRegistered: boolean = (() => {
  try {
    if (ioBinding() === null) return false;
  } catch {
    // TSERVER_HA_NATIVE=require with no addon, or a bad TSERVER_HA_NATIVE value: importing must not
    // throw. The first use throws instead: resolving a transport kind (a TServerPair constructor,
    // createTransport()) calls the loader's assertNativeRequirement(); nativeStatus() gives the reason.
    return false;
  }
  registerTransport('native', (o) => new NativeTransport(o));
  return true;
})();
