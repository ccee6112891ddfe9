import { describe, expect, it } from 'vitest';
import { Attr, FrameDecoder, MessageType, ProtocolError, decodeFrames, encodeAddp, encodeMessage, frameToJSON, int64, messageToObject, type Frame } from '../../lib/protocol/index.js';

const routeRequest = () =>
  encodeMessage(MessageType.EventRouteRequest, {
    ThisDN: '7001',
    ConnID: 0x0102030405060708n,
    ANI: '+15551234567',
    DNIS: '8005550100',
    EventSequenceNumber: 42,
    UserData: { segment: 'gold', attempts: 3, score: 0.5, nested: { lang: 'fr-CA', é: 'ü' } },
  });

describe('TS codec', () => {
  it('round-trips a message with every value type', () => {
    const buf = encodeMessage(1234, { 1: 'x', 2: 5, 3: new Uint8Array([1, 2]), 4: null, 5: int64(-1), 6: 1.5, 7: [] });
    const [f] = decodeFrames(buf) as [Frame];
    expect(frameToJSON(f)).toEqual({
      kind: 'message',
      type: 1234,
      attributes: [
        { id: 1, type: 'string', value: 'x' },
        { id: 2, type: 'int32', value: 5 },
        { id: 3, type: 'binary', value: '0102' },
        { id: 4, type: 'empty', value: null },
        { id: 5, type: 'int64', value: '-1' },
        { id: 6, type: 'float64', value: 1.5 },
        { id: 7, type: 'list', value: [] },
      ],
    });
  });

  it('gives Genesys-named plain objects and types long attributes as int64', () => {
    const [f] = decodeFrames(routeRequest());
    if (f?.kind !== 1) throw new Error('expected a message');
    const o = messageToObject(f);
    expect(o.Event).toBe('EventRouteRequest');
    expect(o.ConnID).toBe(0x0102030405060708n);
    expect(o.EventSequenceNumber).toBe(42n);
    expect(o.UserData).toEqual({ segment: 'gold', attempts: 3, score: 0.5, nested: { lang: 'fr-CA', é: 'ü' } });
    expect(f.attributes.find((a) => a.id === Attr.ThisDN)?.value).toBe('7001');
  });

  it('decodes the same frames at every split point of a multi-frame stream', () => {
    const stream = Buffer.concat([routeRequest(), encodeAddp(7), encodeMessage(MessageType.EventACK, { ReferenceID: 9 }), encodeAddp(8, true), routeRequest()]);
    const whole = decodeFrames(stream).map(frameToJSON);
    expect(whole).toHaveLength(5);
    for (let cut = 0; cut <= stream.length; cut++) {
      const d = new FrameDecoder();
      const got: Frame[] = [];
      d.write(stream.subarray(0, cut), (f) => got.push(f));
      d.write(stream.subarray(cut), (f) => got.push(f));
      d.end();
      expect(got.map(frameToJSON)).toEqual(whole);
    }
  });

  it('refuses an oversized frame from its length prefix alone', () => {
    const d = new FrameDecoder({ maxFrameSize: 100 });
    const hdr = Buffer.from([0, 0, 0, 101]);
    expect(() => d.write(hdr, () => {})).toThrow(ProtocolError);
    try {
      d.write(Buffer.alloc(0), () => {});
    } catch (e) {
      expect((e as ProtocolError).code).toBe('ERR_FRAME_TOO_LARGE');
    }
  });

  it('delivers the frames before a bad one, then stays failed', () => {
    const bad = Buffer.from([0, 0, 0, 2, 1, 9]);
    const d = new FrameDecoder();
    const got: Frame[] = [];
    expect(() => d.write(Buffer.concat([encodeAddp(1), bad, encodeAddp(2)]), (f) => got.push(f))).toThrow(/ERR_BAD_KIND/);
    expect(got).toHaveLength(1);
    expect(() => d.write(encodeAddp(3), (f) => got.push(f))).toThrow(/ERR_BAD_KIND/);
  });
});
