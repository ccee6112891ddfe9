/**
 * decodeAttribute (the per-event path of TEvent.get) against the reference decoder: for random messages,
 * every attribute id gives the value of its first occurrence, an absent id gives undefined.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ValueType, LENGTH_BYTES } from '../../lib/protocol/constants.js';
import { decodeAttribute, decodeBody, resolveLimits } from '../../lib/protocol/decoder.js';
import { encodeMessage } from '../../lib/protocol/encoder.js';
import type { Attribute, KVPair, MessageFrame } from '../../lib/protocol/types.js';

const limits = resolveLimits();
const scalar = fc.oneof(
  fc.record({ type: fc.constant(ValueType.String), value: fc.string({ unit: 'binary', maxLength: 40 }) }),
  fc.record({ type: fc.constant(ValueType.Int32), value: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }) }),
  fc.record({ type: fc.constant(ValueType.Int64), value: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }) }),
  fc.record({ type: fc.constant(ValueType.Float64), value: fc.double({ noNaN: true }) }),
  fc.record({ type: fc.constant(ValueType.Empty), value: fc.constant(null) }),
  fc.record({ type: fc.constant(ValueType.Binary), value: fc.uint8Array({ maxLength: 20 }) }),
);
const list = fc.array(fc.record({ key: fc.string({ maxLength: 8 }), v: scalar }), { maxLength: 5 }).map(
  (xs) => ({ type: ValueType.List, value: xs.map((x) => ({ key: x.key, type: x.v.type, value: x.v.value }) as KVPair) }),
);
const attribute = fc.tuple(fc.integer({ min: 0, max: 40 }), fc.oneof(scalar, list)).map(([id, v]) => ({ id, ...v }) as Attribute);

describe('decodeAttribute', () => {
  it('agrees with the reference decoder on every attribute id of random messages', () => {
    fc.assert(
      fc.property(fc.array(attribute, { maxLength: 12 }), (attrs) => {
        const bytes = encodeMessage(71, attrs);
        const full = decodeBody(bytes, LENGTH_BYTES, bytes.length, limits) as MessageFrame;
        for (let id = 0; id <= 41; id++) {
          const first = full.attributes.find((a) => a.id === id);
          expect(decodeAttribute(bytes, LENGTH_BYTES, bytes.length, limits, id)).toEqual(first?.value);
        }
      }),
      { numRuns: 500, seed: 42 },
    );
  });
});
