/**
 * Key/value list keys come from the wire — other clients' attached data, relayed by the T-Server — so any
 * string is a key. Every path that turns a list into an object must give a null-prototype object whose
 * keys are all own data properties: `__proto__` must not become the prototype, `constructor`/`toString`/
 * `hasOwnProperty` must not shadow anything, and nothing may leak onto Object.prototype.
 * Paths: listToRecord/messageToRecord, TEvent.get and TEvent.attributes (decoded and raw-bytes events),
 * and the decoders' KVPair form (TS decoder, indexed frame views on the TS and native index, JSON form).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nativeStatus } from '../../lib/native/index.js';
import { decodeFramesIndexed, type IndexBackend } from '../../bench/codec-index/index.js';
import { TEvent } from '../../lib/pair/tevent.js';
import { ValueType } from '../../lib/protocol/constants.js';
import { decodeFrames, resolveLimits } from '../../lib/protocol/decoder.js';
import { encodeMessage } from '../../lib/protocol/encoder.js';
import { Attr } from '../../lib/protocol/ids.js';
import { attributesFromJSON, frameToJSON, listToRecord, messageToRecord, type KVRecord } from '../../lib/protocol/json.js';
import type { PlainValue } from '../../lib/protocol/message.js';
import type { KVPair, MessageFrame } from '../../lib/protocol/types.js';
import { NodeFrameBatch } from '../../lib/transport/frame-batch.js';
import type { RawFrameBatch } from '../../lib/transport/types.js';

const HOSTILE = [
  '__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', 'isPrototypeOf', 'toJSON',
  '__defineGetter__', '__lookupGetter__', 'propertyIsEnumerable', 'toLocaleString', 'then', 'length', '0', '',
] as const;
const key = fc.oneof(fc.constantFrom(...HOSTILE), fc.string({ unit: 'grapheme', maxLength: 8 }));
const scalar = fc.oneof(
  fc.record({ type: fc.constant(ValueType.String), value: fc.string({ maxLength: 8 }) }),
  fc.record({ type: fc.constant(ValueType.Int32), value: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }) }),
  fc.record({ type: fc.constant(ValueType.Empty), value: fc.constant(null) }),
);
type Value = { type: ValueType; value: KVPair['value'] };
const { entries } = fc.letrec<{ entries: KVPair[]; list: Value }>((tie) => ({
  entries: fc.array(fc.record({ key, v: fc.oneof({ depthSize: 'small', maxDepth: 3 }, scalar as fc.Arbitrary<Value>, tie('list')) }), { maxLength: 8 }).map(
    (xs) => xs.map((x): KVPair => ({ key: x.key, type: x.v.type, value: x.v.value })),
  ),
  list: tie('entries').map((value): Value => ({ type: ValueType.List, value })),
}));

const protoNames = Object.getOwnPropertyNames(Object.prototype).sort();

/** `rec` is exactly `list` as a record: null prototype at every level, first occurrence of a key wins. */
function expectRecord(rec: unknown, list: readonly KVPair[]): void {
  expect(typeof rec).toBe('object');
  expect(Object.getPrototypeOf(rec)).toBe(null);
  const first = new Map<string, KVPair>();
  for (const p of list) if (!first.has(p.key)) first.set(p.key, p);
  expect(Reflect.ownKeys(rec as object).sort()).toEqual([...first.keys()].sort());
  for (const [k, p] of first) {
    const d = Object.getOwnPropertyDescriptor(rec, k);
    expect(d, `own data property ${JSON.stringify(k)}`).toBeDefined();
    expect('value' in d!).toBe(true); // data, not an accessor
    if (p.type === ValueType.List) expectRecord(d!.value, p.value as KVPair[]);
    else expect(d!.value).toEqual(p.value);
  }
  // Nothing inherited: a key the list does not have reads as undefined, whatever its name.
  for (const k of HOSTILE) if (!first.has(k)) expect((rec as Record<string, unknown>)[k]).toBeUndefined();
}

/** The KVPair form keeps every entry, in order, keys as data. */
function expectPairs(got: unknown, list: readonly KVPair[]): void {
  expect(Array.isArray(got)).toBe(true);
  const g = got as KVPair[];
  expect(g.map((p) => p.key)).toEqual(list.map((p) => p.key));
  g.forEach((p, i) => {
    expect(Object.getPrototypeOf(p)).toBe(Object.prototype); // a { key, type, value } literal, not keyed by the wire
    if (p.type === ValueType.List) expectPairs(p.value, list[i]!.value as KVPair[]);
    else expect(p.value).toEqual(list[i]!.value);
  });
}

function message(ud: KVPair[], ext: KVPair[]): Buffer {
  return encodeMessage(71, [
    { id: Attr.ThisDN, type: ValueType.String, value: '5001' },
    { id: Attr.UserData, type: ValueType.List, value: ud },
    { id: Attr.Extensions, type: ValueType.List, value: ext },
  ]);
}

/** A one-frame raw batch over `bytes`, as the native transport hands them (attributes read from the bytes). */
function rawBatch(bytes: Buffer): RawFrameBatch {
  const limits = resolveLimits();
  return {
    count: 1, receivedAt: 0,
    type: () => 71, seq: () => -1, ref: () => -1,
    frame: () => decodeFrames(bytes)[0] as MessageFrame,
    retain: () => ({ bytes, base: 0, limits }),
    offset: () => 0,
    length: () => bytes.length,
  };
}

const backends: IndexBackend[] = nativeStatus().loaded ? ['ts', 'native'] : ['ts'];

describe('hostile list keys', () => {
  it('listToRecord: any key is own data of a null-prototype object, at every depth', () => {
    fc.assert(
      fc.property(entries, (list) => {
        expectRecord(listToRecord(list), list);
        expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(protoNames);
      }),
      { numRuns: 500 },
    );
  });

  it('the decoders keep keys as data (TS decoder, frame views, JSON form)', () => {
    fc.assert(
      fc.property(entries, (list) => {
        const bytes = message(list, []);
        const ts = decodeFrames(bytes)[0] as MessageFrame;
        expectPairs(ts.attributes[1]!.value, list);
        for (const b of backends) expectPairs((decodeFramesIndexed(bytes, undefined, b)[0] as MessageFrame).attributes[1]!.value, list);
        const json = frameToJSON(ts);
        if (json.kind !== 'message') throw new Error('not a message');
        expectPairs(attributesFromJSON(JSON.parse(JSON.stringify(json.attributes)))[1]!.value, list);
      }),
      { numRuns: 300 },
    );
  });

  it('TEvent.get and TEvent.attributes, decoded and raw events', () => {
    fc.assert(
      fc.property(entries, entries, (ud, ext) => {
        const bytes = message(ud, ext);
        const decoded = new TEvent(new NodeFrameBatch([decodeFrames(bytes)[0] as MessageFrame], 0), 0, 'primary', -1, '');
        const raw = new TEvent(rawBatch(bytes), 0, 'primary', -1, '');
        for (const e of [decoded, raw]) {
          expectRecord(e.get('UserData'), ud);
          expectRecord(e.get(Attr.Extensions), ext);
        }
        // A fresh raw event for attributes (the first one decoded its message already).
        for (const e of [decoded, raw, new TEvent(rawBatch(bytes), 0, 'primary', -1, '')]) {
          const a = e.attributes;
          expect(Object.getPrototypeOf(a)).toBe(null);
          expect(a.Event).toBe('EventRouteRequest');
          expect(a.ThisDN).toBe('5001');
          expectRecord(a.UserData, ud);
          expectRecord(a.Extensions, ext);
        }
        expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(protoNames);
      }),
      { numRuns: 200 },
    );
  });

  it('the reviewed cases: __proto__ as a list, constructor/hasOwnProperty/toString as strings', () => {
    const ud: KVPair[] = [
      { key: '__proto__', type: ValueType.List, value: [{ key: 'isAdmin', type: ValueType.Int32, value: 1 }] },
      { key: 'constructor', type: ValueType.String, value: 'x' },
      { key: 'hasOwnProperty', type: ValueType.String, value: 'x' },
      { key: 'toString', type: ValueType.String, value: 'x' },
    ];
    const e = new TEvent(rawBatch(message(ud, [])), 0, 'primary', -1, '');
    const got = e.get('UserData')!;
    expect(Object.getPrototypeOf(got)).toBe(null);
    expect((got as Record<string, unknown>).isAdmin).toBeUndefined();
    expect(Object.getPrototypeOf(got.__proto__ as object)).toBe(null);
    expect((got.__proto__ as KVRecord).isAdmin).toBe(1);
    expect(got.toString).toBe('x');
    expect(Object.hasOwn(got, 'hasOwnProperty')).toBe(true);
    // A null-prototype object converts to a string the same way whatever its keys: by inspect or JSON.
    expect(JSON.stringify(got)).toBe('{"__proto__":{"isAdmin":1},"constructor":"x","hasOwnProperty":"x","toString":"x"}');
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
    const m = messageToRecord(decodeFrames(message(ud, []))[0] as MessageFrame);
    expect(Object.getPrototypeOf(m)).toBe(null);
    expect(Object.getPrototypeOf(m.UserData as Record<string, PlainValue>)).toBe(null);
  });

  it('a hostile type name in the JSON form is refused, not looked up on Object.prototype', () => {
    for (const type of ['constructor', '__proto__', 'toString']) {
      expect(() => attributesFromJSON([{ id: 1, type: type as 'string', value: 'x' }])).toThrow(/unknown value type name/);
      expect(() => attributesFromJSON([{ id: 1, type: 'list', value: [{ key: 'k', type: type as 'string', value: 'x' }] }])).toThrow(/unknown value type name/);
    }
  });
});
