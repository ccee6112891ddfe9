/**
 * listToObject / messageToObject (the public protocol exports, also used for the Extensions of
 * EventServerConnected and EventLink* payloads) build the same null-prototype records as
 * listToRecord / messageToRecord: a `__proto__` key stays data (docs/security.md, "Attached data").
 */
import { describe, expect, it } from 'vitest';
import { linkEvent } from '../../lib/pair/events.js';
import { ServerEvents } from '../../lib/pair/server-events.js';
import { ValueType } from '../../lib/protocol/constants.js';
import { decodeFrames } from '../../lib/protocol/decoder.js';
import { encodeMessage } from '../../lib/protocol/encoder.js';
import { Attr, MessageType } from '../../lib/protocol/ids.js';
import { listToObject, messageToObject, type KVPair, type MessageFrame } from '../../lib/protocol/index.js';
import { listToRecord, messageToRecord } from '../../lib/protocol/json.js';

const hostile: KVPair[] = [
  { key: '__proto__', type: ValueType.List, value: [{ key: 'isAdmin', type: ValueType.Int32, value: 1 }] },
  { key: 'constructor', type: ValueType.String, value: 'x' },
  { key: 'toString', type: ValueType.String, value: 'y' },
  { key: '__proto__', type: ValueType.String, value: 'second occurrence, ignored' },
];

function expectHostileRecord(o: Record<string, unknown>): void {
  expect(Object.getPrototypeOf(o)).toBe(null);
  expect(Object.keys(o)).toEqual(['__proto__', 'constructor', 'toString']);
  const proto = Object.getOwnPropertyDescriptor(o, '__proto__');
  expect(proto && 'value' in proto).toBe(true); // an own data property, not the accessor
  expect(Object.getPrototypeOf(proto!.value)).toBe(null);
  expect(proto!.value).toEqual({ isAdmin: 1 });
  expect(o.isAdmin).toBeUndefined(); // the list did not become the prototype
  expect(o.constructor).toBe('x');
  expect(o.toString).toBe('y');
  expect(({} as Record<string, unknown>).isAdmin).toBeUndefined(); // nothing written to Object.prototype
}

const frameWith = (ext: KVPair[]): MessageFrame =>
  decodeFrames(encodeMessage(MessageType.EventLinkConnected, [
    { id: Attr.ApplicationName, type: ValueType.String, value: 'A' },
    { id: Attr.UserData, type: ValueType.List, value: hostile },
    { id: Attr.Extensions, type: ValueType.List, value: ext },
  ]))[0] as MessageFrame;

describe('listToObject / messageToObject', () => {
  it('listToObject: a __proto__ key stays data of a null-prototype object, first occurrence wins', () => {
    const o = listToObject(hostile);
    expectHostileRecord(o);
    expect(o).toEqual(listToRecord(hostile));
    expect(JSON.stringify(o)).toBe('{"__proto__":{"isAdmin":1},"constructor":"x","toString":"y"}');
  });

  it('messageToObject: null prototype at every level, the same as messageToRecord', () => {
    const f = frameWith(hostile);
    const m = messageToObject(f);
    expect(Object.getPrototypeOf(m)).toBe(null);
    expect(m.Event).toBe('EventLinkConnected');
    expectHostileRecord(m.UserData as Record<string, unknown>);
    expectHostileRecord(m.Extensions as Record<string, unknown>);
    expect(m).toEqual(messageToRecord(f));
  });

  it('Extensions of EventLinkConnected and EventServerConnected payloads are null-prototype records', () => {
    const link = linkEvent('SW', 'primary', true, frameWith(hostile), 0);
    expectHostileRecord(link.Extensions as Record<string, unknown>);
    const published: unknown[] = [];
    const se = new ServerEvents('SW', (_name, payload) => published.push(payload));
    se.connected('primary', { role: 'primary', extensions: hostile } as never, 0);
    const connected = published[0] as { Event: string; Extensions: Record<string, unknown> };
    expect(connected.Event).toBe('EventServerConnected');
    expectHostileRecord(connected.Extensions);
  });
});
