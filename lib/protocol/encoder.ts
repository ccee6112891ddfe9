import { FrameKind, LENGTH_BYTES, ValueType, WIRE_VERSION } from './constants.js';
import { Attr, attrId, type AttrName } from './ids.js';
import type { Attribute, DecodedValue, KVPair } from './types.js';

/** A value with its wire type forced (see {@link int32}, {@link int64}, {@link float64}). */
export interface TypedValue {
  readonly type: ValueType;
  readonly value: DecodedValue;
}

/**
 * What the encoder accepts for a value. Plain values are typed by inference: string → string,
 * integer number in int32 range → int32 (int64 for attributes that Genesys carries as Long),
 * other number → float64, bigint → int64, Uint8Array → binary, null → empty,
 * object or KVPair[] → list.
 */
export type EncodableValue =
  | string
  | number
  | bigint
  | Uint8Array
  | null
  | TypedValue
  | KVPair[]
  | { readonly [key: string]: EncodableValue };

/** Attributes given by name or id: `{ ThisDN: '5001', 148: 7n }`. */
export type AttributeInput = { readonly [name in AttrName]?: EncodableValue } & { readonly [id: number]: EncodableValue };

/** Attributes that Genesys carries as 64-bit: a plain number given for one of them is sent as int64. */
const INT64_ATTRS = new Set<number>([Attr.ConnID, Attr.SessionID, Attr.EventSequenceNumber]);

/** Force int32. */
export const int32 = (value: number): TypedValue => ({ type: ValueType.Int32, value });
/** Force int64. */
export const int64 = (value: bigint | number): TypedValue => ({ type: ValueType.Int64, value: BigInt(value) });
/** Force float64. */
export const float64 = (value: number): TypedValue => ({ type: ValueType.Float64, value });

function isTyped(v: unknown): v is TypedValue {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) &&
    Object.keys(v).length === 2 && 'type' in v && 'value' in v && typeof (v as TypedValue).type === 'number';
}

/** Infer a typed value from an encodable one. */
export function toTyped(v: EncodableValue, int64Hint = false): TypedValue {
  if (v === null) return { type: ValueType.Empty, value: null };
  switch (typeof v) {
    case 'string':
      return { type: ValueType.String, value: v };
    case 'bigint':
      return { type: ValueType.Int64, value: v };
    case 'number':
      if (Number.isInteger(v)) {
        if (int64Hint) return { type: ValueType.Int64, value: BigInt(v) };
        if (v >= -0x80000000 && v <= 0x7fffffff) return { type: ValueType.Int32, value: v };
      }
      return { type: ValueType.Float64, value: v };
  }
  if (v instanceof Uint8Array) return { type: ValueType.Binary, value: v };
  if (Array.isArray(v)) return { type: ValueType.List, value: v };
  if (isTyped(v)) return v;
  if (typeof v === 'object') {
    return {
      type: ValueType.List,
      value: Object.entries(v).map(([key, inner]) => {
        const t = toTyped(inner);
        return { key, type: t.type, value: t.value };
      }),
    };
  }
  throw new TypeError(`cannot encode value of type ${typeof v}`);
}

/** Turn `{ ThisDN: '5001', ... }` into an attribute list (insertion order kept). */
export function toAttributes(input: AttributeInput | readonly Attribute[]): Attribute[] {
  if (Array.isArray(input)) return input as Attribute[];
  const out: Attribute[] = [];
  for (const [k, v] of Object.entries(input)) {
    if (v === undefined) continue;
    const id = /^\d+$/.test(k) ? Number(k) : attrId(k as AttrName);
    const t = toTyped(v as EncodableValue, INT64_ATTRS.has(id));
    out.push({ id, type: t.type, value: t.value });
  }
  return out;
}

const utf8 = new TextEncoder();

/** Growable output; sized exactly by a first pass so encoding allocates once. */
class Writer {
  pos = 0;
  constructor(readonly buf: Buffer) {}
  u8(v: number) { this.buf[this.pos++] = v; }
  u16(v: number) { this.buf.writeUInt16BE(v, this.pos); this.pos += 2; }
  u32(v: number) { this.buf.writeUInt32BE(v, this.pos); this.pos += 4; }
  bytes(b: Uint8Array) { this.buf.set(b, this.pos); this.pos += b.length; }
}

function checkedU16(n: number, what: string): number {
  if (n > 0xffff) throw new RangeError(`${what} ${n} does not fit in 16 bits`);
  return n;
}

function valueSize(type: ValueType, value: DecodedValue, depth: number): number {
  switch (type) {
    case ValueType.String:
      return 4 + Buffer.byteLength(value as string, 'utf8');
    case ValueType.Int32:
      return 4;
    case ValueType.Binary:
      return 4 + (value as Uint8Array).length;
    case ValueType.List: {
      if (depth >= 255) throw new RangeError('list nesting too deep to encode');
      let n = 2;
      for (const p of value as KVPair[]) n += 2 + Buffer.byteLength(p.key, 'utf8') + 1 + valueSize(p.type, p.value, depth + 1);
      return n;
    }
    case ValueType.Empty:
      return 0;
    case ValueType.Int64:
    case ValueType.Float64:
      return 8;
    default:
      throw new RangeError(`unknown value type ${type as number}`);
  }
}

function writeValue(w: Writer, type: ValueType, value: DecodedValue): void {
  w.u8(type);
  switch (type) {
    case ValueType.String: {
      const b = utf8.encode(value as string);
      w.u32(b.length);
      w.bytes(b);
      return;
    }
    case ValueType.Int32:
      if (!Number.isInteger(value) || (value as number) < -0x80000000 || (value as number) > 0x7fffffff) {
        throw new RangeError(`int32 value out of range: ${String(value)}`);
      }
      w.buf.writeInt32BE(value as number, w.pos);
      w.pos += 4;
      return;
    case ValueType.Binary:
      w.u32((value as Uint8Array).length);
      w.bytes(value as Uint8Array);
      return;
    case ValueType.List: {
      const list = value as KVPair[];
      w.u16(checkedU16(list.length, 'list count'));
      for (const p of list) {
        const k = utf8.encode(p.key);
        w.u16(checkedU16(k.length, 'key length'));
        w.bytes(k);
        writeValue(w, p.type, p.value);
      }
      return;
    }
    case ValueType.Empty:
      return;
    case ValueType.Int64:
      w.buf.writeBigInt64BE(BigInt(value as bigint), w.pos);
      w.pos += 8;
      return;
    case ValueType.Float64:
      w.buf.writeDoubleBE(value as number, w.pos);
      w.pos += 8;
      return;
  }
}

/**
 * Encode one message frame (length prefix included).
 * @param type Genesys TMessageType id
 */
export function encodeMessage(type: number, attributes: AttributeInput | readonly Attribute[]): Buffer {
  const attrs = toAttributes(attributes);
  checkedU16(attrs.length, 'attribute count');
  if (!Number.isInteger(type) || type < 0 || type > 0xffffffff) throw new RangeError(`message type ${type} does not fit in 32 bits`);
  let body = 2 + 4 + 2;
  for (const a of attrs) body += 2 + 1 + valueSize(a.type, a.value, 0);
  const w = new Writer(Buffer.allocUnsafe(LENGTH_BYTES + body));
  w.u32(body);
  w.u8(WIRE_VERSION);
  w.u8(FrameKind.Message);
  w.u32(type);
  w.u16(attrs.length);
  for (const a of attrs) {
    w.u16(checkedU16(a.id, 'attribute id'));
    writeValue(w, a.type, a.value);
  }
  return w.buf;
}

/** Encode an ADDP poll (`reply` false) or reply frame. */
export function encodeAddp(token: number, reply = false): Buffer {
  const b = Buffer.allocUnsafe(10);
  b.writeUInt32BE(6, 0);
  b[4] = WIRE_VERSION;
  b[5] = reply ? FrameKind.AddpReply : FrameKind.AddpPoll;
  b.writeUInt32BE(token >>> 0, 6);
  return b;
}
