import { describe, expect, it } from 'vitest';
import { nativeStatus, requireNativeBinding } from '../../lib/native/index.js';
import { IndexLayout as L, scanFrames } from '../../bench/codec-index/index.js';
import { encodeAddp, encodeMessage, resolveLimits } from '../../lib/protocol/index.js';

// The addon's decode() as a raw function: argument checking, output bounds, offsets of a Buffer that is
// a view into a larger ArrayBuffer. The TS twin (scanFrames) must write the very same index.
const run = nativeStatus().loaded || process.env.TSERVER_HA_NATIVE === 'require';

describe.skipIf(!run)('native decode()', () => {
  const frames = [encodeMessage(53, { ThisDN: '5001', ReferenceID: 4, EventSequenceNumber: 77 }), encodeAddp(3), encodeMessage(138, { ReferenceID: 5 })];
  const stream = Buffer.concat(frames);

  it('refuses wrong argument types and limits with a TypeError', () => {
    const b = requireNativeBinding();
    const idx = new Float64Array(64);
    const at = new Uint32Array(16);
    const call = (...args: unknown[]) => () => (b.decode as (...a: unknown[]) => number)(...args);
    expect(call(stream, idx, at, 1024, 8)).toThrow(TypeError);
    expect(call('x', idx, at, 1024, 8, 10)).toThrow(/input must be a Uint8Array/);
    expect(call(stream, new Float32Array(64), at, 1024, 8, 10)).toThrow(/index must be a Float64Array/);
    expect(call(stream, new Float64Array(7), at, 1024, 8, 10)).toThrow(/at least 8/);
    expect(call(stream, idx, new Int32Array(4), 1024, 8, 10)).toThrow(/attrs must be a Uint32Array/);
    expect(call(stream, idx, at, 1024, 256, 10)).toThrow(/maxDepth <= 255/);
    expect(call(stream, idx, at, 0, 8, 10)).toThrow(TypeError);
    expect(call(stream, idx, at, '1024', 8, 10)).toThrow(TypeError);
  });

  it('writes offsets relative to the view it was given, and the same index as the TS scanner', () => {
    const backing = Buffer.alloc(stream.length + 13);
    stream.copy(backing, 13);
    const view = backing.subarray(13);
    const lim = resolveLimits();
    const a = { idx: new Float64Array(L.HEADER_SIZE + 8 * L.STRIDE), at: new Uint32Array(16) };
    const t = { idx: new Float64Array(L.HEADER_SIZE + 8 * L.STRIDE), at: new Uint32Array(16) };
    expect(requireNativeBinding().decode(view, a.idx, a.at, lim.maxFrameSize, lim.maxDepth, lim.maxAttributes)).toBe(3);
    expect(scanFrames(view, t.idx, t.at, lim)).toBe(3);
    expect(a.idx).toEqual(t.idx);
    expect(a.at).toEqual(t.at);
    expect(Array.from(a.idx.subarray(0, L.HEADER_SIZE))).toEqual([3, 4, stream.length, 0, 0, 0, 0, 0]);
    const first = Array.from(a.idx.subarray(L.HEADER_SIZE, L.HEADER_SIZE + L.STRIDE));
    expect(first).toEqual([0, frames[0]!.length - 4, 1, 53, 77, 4, 0, 3]);
    expect(view.readUInt16BE(a.at[0]!)).toBe(20); // ThisDN
  });

  it('stops before a frame that does not fit the output and says so', () => {
    const lim = resolveLimits();
    const b = requireNativeBinding();
    // Room for one frame record only.
    const idx = new Float64Array(L.HEADER_SIZE + L.STRIDE);
    expect(b.decode(stream, idx, new Uint32Array(16), lim.maxFrameSize, lim.maxDepth, lim.maxAttributes)).toBe(1);
    expect([idx[L.H_FULL], idx[L.H_CONSUMED], idx[L.H_ERRNO]]).toEqual([1, frames[0]!.length, 0]);
    // Room for two attribute offsets: the first frame (3 attributes) is refused.
    const idx2 = new Float64Array(64);
    expect(b.decode(stream, idx2, new Uint32Array(2), lim.maxFrameSize, lim.maxDepth, lim.maxAttributes)).toBe(0);
    expect([idx2[L.H_FULL], idx2[L.H_CONSUMED], idx2[L.H_ATTRS]]).toEqual([1, 0, 0]);
  });
});
