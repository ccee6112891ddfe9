/**
 * The wire protocol of docs/protocol.md: ids, the reference codec, error codes.
 * @packageDocumentation
 */
export * from './constants.js';
export * from './ids.js';
export * from './errors.js';
export * from './types.js';
export { FrameDecoder, decodeFrames, decodeBody, resolveLimits, checkLength, MAX_DEPTH_CAP, type ResolvedLimits } from './decoder.js';
export { encodeMessage, encodeAddp, toAttributes, toTyped, int32, int64, float64, type EncodableValue, type AttributeInput, type TypedValue } from './encoder.js';
export { getAttr, listToObject, messageToObject, type PlainValue } from './message.js';
export { frameToJSON, attributesFromJSON, type FrameJSON, type AttributeJSON, type PairJSON, type ValueJSON, type TypeName } from './json.js';
