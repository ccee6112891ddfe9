/**
 * The codec core's batch index, as the codec benchmark (bench/codec.ts) and the differential tests
 * (test/protocol/) read it: the addon's `decodeBatch` binding and its pure-TS twin, producing the same
 * Float64Array index, and a lazy frame view over it. Not on any path the package runs (the native transport
 * delivers its own records: lib/native/native-transport.ts), so it lives beside the benchmark, not in lib/.
 */
export { IndexedFrameBatch, IndexLayout } from './frame-view.js';
export { BatchDecoder, decodeFramesIndexed, type BatchDecodeResult, type IndexBackend } from './batch-decoder.js';
export { scanFrames } from './ts-scanner.js';
