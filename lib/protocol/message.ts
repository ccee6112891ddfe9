import { ValueType } from './constants.js';
import { attrName, messageName } from './ids.js';
import type { DecodedValue, KVPair, MessageFrame } from './types.js';

/** A plain value as applications see it: lists become objects (first occurrence of a key wins). */
export type PlainValue = string | number | bigint | Uint8Array | null | { [key: string]: PlainValue };

/** First value of attribute `id` in a message, or `undefined`. */
export function getAttr(frame: MessageFrame, id: number): DecodedValue | undefined {
  for (const a of frame.attributes) if (a.id === id) return a.value;
  return undefined;
}

/** Convert a key/value list to a plain object (first occurrence of a key wins, as in Genesys' lookup). */
export function listToObject(list: KVPair[]): { [key: string]: PlainValue } {
  const out: { [key: string]: PlainValue } = {};
  for (const p of list) {
    if (Object.hasOwn(out, p.key)) continue;
    out[p.key] = p.type === ValueType.List ? listToObject(p.value as KVPair[]) : (p.value as PlainValue);
  }
  return out;
}

/**
 * A message as a plain object: `{ Event: 'EventRouteRequest', ThisDN: '5001', UserData: {...}, ... }`.
 * Attribute names come from the Genesys table (unknown ids as `Attr<id>`); first occurrence wins.
 */
export function messageToObject(frame: MessageFrame): { Event: string; [attr: string]: PlainValue } {
  const out: { Event: string; [attr: string]: PlainValue } = { Event: messageName(frame.type) };
  for (const a of frame.attributes) {
    const name = attrName(a.id);
    if (Object.hasOwn(out, name)) continue;
    out[name] = a.type === ValueType.List ? listToObject(a.value as KVPair[]) : (a.value as PlainValue);
  }
  return out;
}
