import { FrameKind, ValueType } from './constants.js';
import { attrName, messageName } from './ids.js';
import type { Attribute, DecodedValue, Frame, KVPair, MessageFrame } from './types.js';

/** A plain value as applications see it: lists become objects (first occurrence of a key wins). */
export type PlainValue = string | number | bigint | Uint8Array | null | { [key: string]: PlainValue };

/** A key/value list as an object: null prototype, every key an own data property ({@link listToRecord}). */
export type KVRecord = { [key: string]: PlainValue };

/** JSON-safe canonical form of a frame, used by golden vectors and differential tests. */
export type FrameJSON =
  | { kind: 'message'; type: number; attributes: AttributeJSON[] }
  | { kind: 'addp-poll' | 'addp-reply'; token: number };
/** Canonical attribute. */
export interface AttributeJSON { id: number; type: TypeName; value: ValueJSON }
/** Canonical list entry. */
export interface PairJSON { key: string; type: TypeName; value: ValueJSON }
/** int64 as a decimal string, binary as hex, float64 non-finite as "NaN"/"Infinity"/"-Infinity", -0 as "-0". */
export type ValueJSON = string | number | null | PairJSON[];
/** Value type names in canonical form. */
export type TypeName = 'string' | 'int32' | 'binary' | 'list' | 'empty' | 'int64' | 'float64';

// Null-prototype tables: a type name read from JSON ('constructor', '__proto__') must not find an
// inherited member.
const TYPE_NAMES: Record<number, TypeName> = Object.assign(Object.create(null) as Record<number, TypeName>, {
  [ValueType.String]: 'string', [ValueType.Int32]: 'int32', [ValueType.Binary]: 'binary', [ValueType.List]: 'list',
  [ValueType.Empty]: 'empty', [ValueType.Int64]: 'int64', [ValueType.Float64]: 'float64',
});
const TYPE_IDS = Object.assign(
  Object.create(null) as Record<TypeName, ValueType>,
  Object.fromEntries(Object.entries(TYPE_NAMES).map(([k, v]) => [v, Number(k)])),
);

function typeId(name: unknown): ValueType {
  const id = typeof name === 'string' ? TYPE_IDS[name as TypeName] : undefined;
  if (id === undefined) throw new TypeError(`unknown value type name ${JSON.stringify(name)}`);
  return id;
}

function valueToJSON(type: ValueType, v: DecodedValue): ValueJSON {
  switch (type) {
    case ValueType.Int64: return (v as bigint).toString();
    case ValueType.Binary: return Buffer.from(v as Uint8Array).toString('hex');
    case ValueType.List: return (v as KVPair[]).map((p) => ({ key: p.key, type: TYPE_NAMES[p.type]!, value: valueToJSON(p.type, p.value) }));
    case ValueType.Float64: {
      const n = v as number;
      if (!Number.isFinite(n)) return String(n);
      return Object.is(n, -0) ? '-0' : n;
    }
    default: return v as string | number | null;
  }
}

function valueFromJSON(type: TypeName, v: ValueJSON): DecodedValue {
  switch (type) {
    case 'int64': return BigInt(v as string);
    case 'binary': return new Uint8Array(Buffer.from(v as string, 'hex'));
    case 'list': return (v as PairJSON[]).map((p) => ({ key: p.key, type: typeId(p.type), value: valueFromJSON(p.type, p.value) }));
    case 'float64': return typeof v === 'string' ? Number(v === '-0' ? -0 : v) : (v as number);
    default: return v as string | number | null;
  }
}

/** Canonical JSON of a decoded frame. */
export function frameToJSON(f: Frame): FrameJSON {
  if (f.kind !== FrameKind.Message) return { kind: f.kind === FrameKind.AddpPoll ? 'addp-poll' : 'addp-reply', token: f.token };
  return {
    kind: 'message',
    type: f.type,
    attributes: f.attributes.map((a) => ({ id: a.id, type: TYPE_NAMES[a.type]!, value: valueToJSON(a.type, a.value) })),
  };
}

/** Attributes from canonical JSON (for encoding golden vectors). */
export function attributesFromJSON(attrs: AttributeJSON[]): Attribute[] {
  return attrs.map((a) => ({ id: a.id, type: typeId(a.type), value: valueFromJSON(a.type, a.value) }));
}

/**
 * A key/value list as an object keyed by the list's keys: first occurrence of a key wins (Genesys'
 * lookup), nested lists converted the same way.
 *
 * Keys come from the wire — from other clients' attached data, through the T-Server — so any string is a
 * key, `__proto__`, `constructor` and `toString` included. The object has a **null prototype**
 * (`Object.create(null)`) and every key is an own data property: nothing is inherited, so no key can set
 * the prototype or shadow a built-in, and `'toString' in ud` is true only when the list has that key. A
 * null-prototype object (rather than a Map) keeps `ud.CustomerSegment`, destructuring, `Object.keys`,
 * `JSON.stringify` and `util.inspect` working; what it does not have is `Object.prototype`'s methods —
 * `String(ud)` and `` `${ud}` `` throw a TypeError whatever the keys are (use `JSON.stringify` or
 * `util.inspect`), and `Object.hasOwn(ud, k)` replaces `ud.hasOwnProperty(k)`.
 */
export function listToRecord(list: readonly KVPair[]): KVRecord {
  const out = Object.create(null) as KVRecord;
  for (const p of list) {
    if (Object.hasOwn(out, p.key)) continue;
    // Plain assignment is safe here: with no prototype there is no `__proto__` accessor to reach.
    out[p.key] = p.type === ValueType.List ? listToRecord(p.value as KVPair[]) : (p.value as PlainValue);
  }
  return out;
}

/** A decoded value as applications see it: lists become {@link listToRecord} objects, others unchanged. */
export function plainValue(type: ValueType, v: DecodedValue): PlainValue {
  return type === ValueType.List ? listToRecord(v as KVPair[]) : (v as PlainValue);
}

/**
 * A message as an object, `{ Event: 'EventRouteRequest', ThisDN: '5001', UserData: {...}, ... }`, with a
 * null prototype like {@link listToRecord}'s. Attribute names come from the Genesys table (unknown ids as
 * `Attr<id>`); first occurrence wins.
 */
export function messageToRecord(frame: MessageFrame): { Event: string; [attr: string]: PlainValue } {
  const out = Object.create(null) as { Event: string; [attr: string]: PlainValue };
  out.Event = messageName(frame.type);
  for (const a of frame.attributes) {
    const name = attrName(a.id);
    if (Object.hasOwn(out, name)) continue;
    out[name] = plainValue(a.type, a.value);
  }
  return out;
}
