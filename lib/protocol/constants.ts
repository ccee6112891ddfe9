/** Wire constants of docs/protocol.md; mirrored in native/codec/codec.h. */

/** Format version carried in every frame. */
export const WIRE_VERSION = 1;
/** Bytes of the length prefix. */
export const LENGTH_BYTES = 4;

/** Frame kinds. */
export const FrameKind = { Message: 1, AddpPoll: 2, AddpReply: 3 } as const;
/** A frame kind number. */
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

/** Value type bytes (Genesys kvlist numbering). */
export const ValueType = {
  String: 0,
  Int32: 1,
  Binary: 2,
  List: 3,
  Empty: 4,
  Int64: 6,
  Float64: 7,
} as const;
/** A value type number. */
export type ValueType = (typeof ValueType)[keyof typeof ValueType];

/** Default decoder limits (docs/protocol.md). */
export const DEFAULT_LIMITS = {
  /** Largest accepted `Length`, in bytes. */
  maxFrameSize: 1024 * 1024,
  /** Deepest list nesting (a list directly under an attribute is depth 1). */
  maxDepth: 8,
  /** Most top-level attributes in one message. */
  maxAttributes: 4096,
} as const;

/** Decoder limits; every field optional, defaults from {@link DEFAULT_LIMITS}. */
export interface CodecLimits {
  maxFrameSize?: number;
  maxDepth?: number;
  maxAttributes?: number;
}
