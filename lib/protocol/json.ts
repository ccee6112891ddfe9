import { FrameKind, ValueType } from './constants.js';
import type { Attribute, DecodedValue, Frame, KVPair } from './types.js';

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

const TYPE_NAMES: Record<number, TypeName> = {
  [ValueType.String]: 'string', [ValueType.Int32]: 'int32', [ValueType.Binary]: 'binary', [ValueType.List]: 'list',
  [ValueType.Empty]: 'empty', [ValueType.Int64]: 'int64', [ValueType.Float64]: 'float64',
};
const TYPE_IDS = Object.fromEntries(Object.entries(TYPE_NAMES).map(([k, v]) => [v, Number(k)])) as Record<TypeName, ValueType>;

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
    case 'list': return (v as PairJSON[]).map((p) => ({ key: p.key, type: TYPE_IDS[p.type], value: valueFromJSON(p.type, p.value) }));
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
  return attrs.map((a) => ({ id: a.id, type: TYPE_IDS[a.type], value: valueFromJSON(a.type, a.value) }));
}
