// The input format of the codec fuzz harness (native/fuzz/fuzz_codec.cc), shared by the seed corpus
// generator, the TS differential replay (test/protocol/fuzz-corpus.test.ts) and `npm run fuzz`.
// Keep in sync with LLVMFuzzerTestOneInput: 4 header bytes pick limits and a split point, the rest is the
// byte stream.

/** Codec defaults (docs/protocol.md). */
export const DEFAULT_LIMITS = Object.freeze({ maxFrameSize: 1048576, maxDepth: 8, maxAttributes: 4096 });

/** Deepest maxDepth the codecs accept (kMaxDepthCap). */
export const MAX_DEPTH_CAP = 255;

/** Bytes before the stream. */
export const HEADER_BYTES = 4;

/**
 * Split a fuzz input into limits, split point and stream. Inputs shorter than the header are skipped by
 * the harness: `undefined`.
 * @param {Uint8Array} input
 */
export function parseFuzzInput(input) {
  if (input.length < HEADER_BYTES) return undefined;
  const [b0, b1, b2, sel] = input;
  const limits = {
    maxDepth: b0 >= 0x80 ? DEFAULT_LIMITS.maxDepth : b0 === 0x7f ? MAX_DEPTH_CAP : 1 + (b0 % 16),
    maxAttributes: b1 >= 0x80 ? DEFAULT_LIMITS.maxAttributes : 1 + (b1 % 16),
    maxFrameSize: b2 >= 0x80 ? DEFAULT_LIMITS.maxFrameSize : 2 + 2 * b2,
  };
  const stream = input.subarray(HEADER_BYTES);
  // (sel * (len + 1)) >> 8, as in the harness: a point in [0, len].
  const split = Math.floor((sel * (stream.length + 1)) / 256);
  return { limits, split, stream };
}

/**
 * The header that selects `limits` (each field either its default or a value the harness can express)
 * and the split selector `sel`. Throws RangeError for a limit the harness cannot select.
 * @param {{ maxDepth?: number, maxAttributes?: number, maxFrameSize?: number }} [limits]
 * @param {number} [sel]
 */
export function fuzzHeader(limits = {}, sel = 0x80) {
  const pick = (name, v, encode) => {
    if (v === undefined || v === DEFAULT_LIMITS[name]) return 0xff;
    const b = encode(v);
    if (!(Number.isInteger(b) && b >= 0 && b < 0x80)) throw new RangeError(`fuzz header cannot select ${name}=${v}`);
    return b;
  };
  return Uint8Array.from([
    pick('maxDepth', limits.maxDepth, (v) => (v === MAX_DEPTH_CAP ? 0x7f : v >= 1 && v <= 15 ? v - 1 : -1)),
    pick('maxAttributes', limits.maxAttributes, (v) => (v >= 1 && v <= 16 ? v - 1 : -1)),
    pick('maxFrameSize', limits.maxFrameSize, (v) => (v >= 2 && v <= 256 && v % 2 === 0 ? (v - 2) / 2 : -1)),
    sel & 0xff,
  ]);
}
