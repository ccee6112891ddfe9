/**
 * The native addon's JS side: loading (with pure-TS fallback) and the native transport. (The index decoders
 * the codec benchmark and the differential tests use — the addon's batch index and its TS twin — live in
 * bench/codec-index/: they are not on any path the package runs.)
 * @packageDocumentation
 */
export { nativeBinding, requireNativeBinding, nativeStatus, nativeMode, addonCandidates, NativeUnavailableError, type NativeBinding, type NativeStatus, type NativeMode } from './loader.js';
export { NativeTransport, nativeLiveConnections, nativeIoStats, setNativeMemoryLimit, DEFAULT_NATIVE_MEMORY_LIMIT, type NativeIoStats } from './native-transport.js';
export { NativeFrameBatch } from './native-frame-batch.js';
export { nativeTransportRegistered } from './register.js';
