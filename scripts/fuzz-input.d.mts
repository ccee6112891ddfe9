/** Limits as the fuzz harness selects them (every field set). */
export interface FuzzLimits { maxFrameSize: number; maxDepth: number; maxAttributes: number }
/** Codec defaults (docs/protocol.md). */
export declare const DEFAULT_LIMITS: Readonly<FuzzLimits>;
/** Deepest maxDepth the codecs accept (kMaxDepthCap). */
export declare const MAX_DEPTH_CAP: 255;
/** Bytes before the stream. */
export declare const HEADER_BYTES: 4;
/** Split a fuzz input into limits, split point and stream; `undefined` for inputs shorter than the header. */
export declare function parseFuzzInput(input: Uint8Array): { limits: FuzzLimits; split: number; stream: Uint8Array } | undefined;
/** The header that selects `limits` and the split selector `sel`. */
export declare function fuzzHeader(limits?: Partial<FuzzLimits>, sel?: number): Uint8Array;
