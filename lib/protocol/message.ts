import { listToRecord, messageToRecord, type PlainValue } from './json.js';
import type { DecodedValue, KVPair, MessageFrame } from './types.js';

export type { PlainValue };

/** First value of attribute `id` in a message, or `undefined`. */
export function getAttr(frame: MessageFrame, id: number): DecodedValue | undefined {
  for (const a of frame.attributes) if (a.id === id) return a.value;
  return undefined;
}

/**
 * Convert a key/value list to an object (first occurrence of a key wins, as in Genesys' lookup). The same
 * as `listToRecord`: the object and every nested list have a **null prototype**, and every key — `__proto__`,
 * `constructor`, `toString` included — is an own data property (docs/security.md, "Attached data").
 */
export function listToObject(list: readonly KVPair[]): { [key: string]: PlainValue } {
  return listToRecord(list);
}

/**
 * A message as an object: `{ Event: 'EventRouteRequest', ThisDN: '5001', UserData: {...}, ... }`, with a
 * null prototype at every level (as `messageToRecord`). Attribute names come from the Genesys table
 * (unknown ids as `Attr<id>`); first occurrence wins.
 */
export function messageToObject(frame: MessageFrame): { Event: string; [attr: string]: PlainValue } {
  return messageToRecord(frame);
}
