import type { FrameKind, ValueType } from './constants.js';

/** A decoded value: string, int32/float64 → number, int64 → bigint, binary → Uint8Array, list, empty → null. */
export type DecodedValue = string | number | bigint | Uint8Array | KVPair[] | null;

/**
 * One entry of a key/value list (UserData, Extensions, Reasons). Keys may repeat; order is kept. A key is
 * any UTF-8 string the sender chose (`__proto__` and `constructor` included): it is data, held in the
 * `key` field, never used as a property name of a prototype-bearing object (see `listToRecord`).
 */
export interface KVPair {
  key: string;
  type: ValueType;
  value: DecodedValue;
}

/** One top-level attribute of a message, keyed by Genesys TAttribute id. */
export interface Attribute {
  id: number;
  type: ValueType;
  value: DecodedValue;
}

/** A decoded T-Server message frame. */
export interface MessageFrame {
  kind: typeof FrameKind.Message;
  /** Genesys TMessageType id. */
  type: number;
  attributes: Attribute[];
}

/** A decoded ADDP poll or reply. */
export interface AddpFrame {
  kind: typeof FrameKind.AddpPoll | typeof FrameKind.AddpReply;
  token: number;
}

/** Any decoded frame. */
export type Frame = MessageFrame | AddpFrame;
