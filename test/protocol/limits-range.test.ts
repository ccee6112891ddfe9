/**
 * Codec limits are integers in [1, 2^32 - 1] (the addon holds them as uint32): anything else is refused
 * where limits are resolved (resolveLimits), which both transports turn into a ConfigError — before a
 * value can reach the addon, which used to wrap maxAttributes 2^32 + 3 to 3. The addon has its own guard.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../lib/errors.js';
import { NativeTransport, nativeStatus, requireNativeBinding } from '../../lib/native/index.js';
import { BatchDecoder } from '../../bench/codec-index/index.js';
import { DEFAULT_LIMITS } from '../../lib/protocol/constants.js';
import { resolveLimits } from '../../lib/protocol/decoder.js';
import { encodeMessage } from '../../lib/protocol/encoder.js';
import { NodeTransport } from '../../lib/transport/node-transport.js';

const native = nativeStatus().loaded;

const BAD: Array<[string, Record<string, unknown>]> = [
  ['maxAttributes 2^32 + 3 (wrapped to 3 by the addon before)', { maxAttributes: 2 ** 32 + 3 }],
  ['maxFrameSize 2^32', { maxFrameSize: 2 ** 32 }],
  ['maxDepth 2^32 + 1', { maxDepth: 2 ** 32 + 1 }],
  ['maxAttributes 2^53', { maxAttributes: 2 ** 53 }],
  ['a fraction', { maxAttributes: 1.5 }],
  ['zero', { maxFrameSize: 0 }],
  ['negative', { maxDepth: -1 }],
  ['NaN', { maxAttributes: NaN }],
  ['Infinity', { maxFrameSize: Infinity }],
  ['a numeric string', { maxAttributes: '10' }],
  ['a bigint', { maxAttributes: 10n }],
  ['maxDepth over its cap', { maxDepth: 256 }],
  ['an unknown limit', { maxEntries: 10 }],
];

describe('codec limits in range', () => {
  it.each(BAD)('resolveLimits refuses %s (RangeError)', (_name, limits) => {
    expect(() => resolveLimits(limits)).toThrow(RangeError);
    expect(() => new BatchDecoder(limits, 'ts')).toThrow(RangeError);
  });

  it.each(BAD)('the node transport refuses %s (ConfigError)', (_name, limits) => {
    expect(() => new NodeTransport({ host: '127.0.0.1', port: 1, limits })).toThrow(ConfigError);
  });

  it.skipIf(!native).each(BAD)('the native transport refuses %s (ConfigError)', (_name, limits) => {
    expect(() => new NativeTransport({ host: '127.0.0.1', port: 1, limits })).toThrow(ConfigError);
  });

  it('accepts the whole range, and undefined as the default', () => {
    expect(resolveLimits({ maxFrameSize: 2 ** 32 - 1, maxAttributes: 2 ** 32 - 1, maxDepth: 255 })).toEqual({
      maxFrameSize: 2 ** 32 - 1, maxAttributes: 2 ** 32 - 1, maxDepth: 255,
    });
    expect(resolveLimits({ maxFrameSize: 1, maxAttributes: 1, maxDepth: 1 })).toEqual({ maxFrameSize: 1, maxAttributes: 1, maxDepth: 1 });
    expect(resolveLimits({ maxDepth: undefined })).toEqual(DEFAULT_LIMITS);
    expect(() => new NodeTransport({ host: '127.0.0.1', port: 1, limits: { maxAttributes: 2 ** 32 - 1 } })).not.toThrow();
  });

  it.skipIf(!native)('the addon itself refuses a limit that would wrap (its own guard, behind resolveLimits)', () => {
    const b = requireNativeBinding();
    const frame = encodeMessage(1, [{ id: 1, type: 1, value: 1 }, { id: 2, type: 1, value: 2 }, { id: 3, type: 1, value: 3 }, { id: 4, type: 1, value: 4 }]);
    const idx = new Float64Array(8 + 8 * 4);
    const at = new Uint32Array(16);
    // 2^32 + 3 used to become maxAttributes 3, and this 4-attribute frame was refused as too many.
    expect(() => b.decode(frame, idx, at, 1 << 20, 8, 2 ** 32 + 3)).toThrow(/limits must be integers in \[1, 2\^32 - 1\]/);
    expect(() => b.decode(frame, idx, at, 2 ** 32 + 100, 8, 4096)).toThrow(TypeError);
    expect(() => b.decode(frame, idx, at, 1 << 20, 8.5, 4096)).toThrow(TypeError);
    expect(b.decode(frame, idx, at, 2 ** 32 - 1, 8, 2 ** 32 - 1)).toBe(1);
  });
});
