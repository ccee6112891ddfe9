/**
 * The native addon's JS side: loading (with pure-TS fallback), batch decoding into an index, and the
 * lazy frame view over it.
 * @packageDocumentation
 */
export { nativeBinding, requireNativeBinding, nativeStatus, nativeMode, addonCandidates, NativeUnavailableError, type NativeBinding, type NativeStatus, type NativeMode } from './loader.js';
export { IndexedFrameBatch, IndexLayout } from './frame-view.js';
export { BatchDecoder, decodeFramesIndexed, type BatchDecodeResult, type IndexBackend } from './batch-decoder.js';
export { scanFrames } from './ts-scanner.js';
export { NativeTransport, nativeLiveConnections, nativeIoStats, setNativeMemoryLimit, DEFAULT_NATIVE_MEMORY_LIMIT, type NativeIoStats } from './native-transport.js';
export { NativeFrameBatch } from './native-frame-batch.js';
export { nativeTransportRegistered } from './register.js';
