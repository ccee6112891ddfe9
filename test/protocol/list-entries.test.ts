/**
 * The decoded size of a frame is bounded, not only its byte size (docs/protocol.md): at most
 * MAX_LIST_ENTRIES (65,535) key/value list entries per frame, every list at every depth counted together.
 * A list entry costs 3 to 5 bytes on the wire and 60 to 90 bytes of heap decoded, so a 1 MiB frame of tiny
 * nested lists used to cost ~20-30 MiB of heap to decode. Past the bound: ERR_TOO_MANY_ATTRIBUTES, the
 * same in the TS decoder and the C++ codec, and on both transports a connection closed as a protocol error.
 */
import { afterEach, describe, expect, it } from 'vitest';
import '../../lib/native/index.js';
import { nativeStatus } from '../../lib/native/index.js';
import { BatchDecoder } from '../../bench/codec-index/index.js';
import { FrameDecoder, MAX_LIST_ENTRIES, decodeFrames } from '../../lib/protocol/decoder.js';
import { MessageType, ProtocolError } from '../../lib/protocol/index.js';
import { createTransport } from '../../lib/transport/index.js';
import type { CloseInfo } from '../../lib/transport/types.js';
import { TestPeer } from '../helpers/peer.js';
import { Recorder, within } from '../transport/harness.js';

const u16 = (n: number): Buffer => Buffer.from([n >> 8, n & 0xff]);
const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

/** A message frame (EventUserEvent) with raw attribute bytes. */
function rawMessage(count: number, attrs: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from([1, 1]), u32(MessageType.EventUserEvent), u16(count), attrs]);
  return Buffer.concat([u32(body.length), body]);
}

/** List value (type byte included) of `n` entries with an empty key: each an Empty value, or `inner` (a list value). */
function listValue(n: number, inner?: Buffer): Buffer {
  const entry = inner ? Buffer.concat([u16(0), inner]) : Buffer.from([0, 0, 4]);
  return Buffer.concat([Buffer.from([3]), u16(n), Buffer.concat(Array.from({ length: n }, () => entry))]);
}

/** A frame whose attributes 1000.. are the given list values. */
const frameOf = (...lists: Buffer[]): Buffer => rawMessage(lists.length, Buffer.concat(lists.map((l, i) => Buffer.concat([u16(1000 + i), l]))));

const atLimit = frameOf(listValue(MAX_LIST_ENTRIES)); // one full list: 65,535 entries, ~192 KiB
const overByOne = frameOf(listValue(MAX_LIST_ENTRIES), listValue(1)); // 65,536 over two lists
// 300 lists of 300 entries: 300 + 90,000 entries in ~270 KiB, nested at depth 2 (far under maxFrameSize).
const nested = frameOf(listValue(300, listValue(300)));

const native = nativeStatus().loaded;

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
    return undefined;
  } catch (e) {
    expect(e).toBeInstanceOf(ProtocolError);
    return (e as ProtocolError).code;
  }
}

describe('list entries per frame (decoded-size bound)', () => {
  it('is 65,535, as many as one list can hold', () => {
    expect(MAX_LIST_ENTRIES).toBe(0xffff);
  });

  it('TS decoder: a frame at the bound decodes, one entry more is ERR_TOO_MANY_ATTRIBUTES, nested lists count together', () => {
    const [f] = decodeFrames(atLimit);
    expect(f!.kind === 1 && (f!.attributes[0]!.value as unknown[]).length).toBe(MAX_LIST_ENTRIES);
    expect(codeOf(() => decodeFrames(overByOne))).toBe('ERR_TOO_MANY_ATTRIBUTES');
    expect(codeOf(() => decodeFrames(nested))).toBe('ERR_TOO_MANY_ATTRIBUTES');
    const err = (() => {
      try {
        decodeFrames(nested);
      } catch (e) {
        return e as ProtocolError;
      }
    })()!;
    expect(err.message).toMatch(/more than 65535 list entries in one frame/);
    expect(err.offset).toBe(0);
    // The stream decoder too: the frames before the bad one are handed over, then the error.
    const got: unknown[] = [];
    const d = new FrameDecoder();
    expect(codeOf(() => d.write(Buffer.concat([atLimit, nested]), (fr) => got.push(fr)))).toBe('ERR_TOO_MANY_ATTRIBUTES');
    expect(got).toHaveLength(1);
  });

  it('the reviewed case: ~1 MiB of nested one-entry lists (~250k entries) is refused', () => {
    const big = frameOf(listValue(MAX_LIST_ENTRIES, listValue(1)), listValue(60_000, listValue(1)));
    expect(big.length).toBeGreaterThan(1000 * 1000);
    expect(big.length).toBeLessThanOrEqual(1024 * 1024);
    // Counted entry by entry: refused at the 65,536th entry, long before the end.
    expect(codeOf(() => decodeFrames(big))).toBe('ERR_TOO_MANY_ATTRIBUTES');
  });

  it.skipIf(!native)('C++ codec (addon index): the same bound, the same code and offset', () => {
    const d = new BatchDecoder(undefined, 'native');
    expect(d.decode(atLimit).batch.count).toBe(1);
    for (const bad of [overByOne, nested]) {
      const r = new BatchDecoder(undefined, 'native').decode(Buffer.concat([atLimit, bad]));
      expect(r.batch.count).toBe(1);
      expect(r.error).toBeInstanceOf(ProtocolError);
      expect(r.error!.code).toBe('ERR_TOO_MANY_ATTRIBUTES');
      expect(r.error!.offset).toBe(atLimit.length);
    }
  });

  describe.each((['node', 'native'] as const).filter((k) => k === 'node' || native))('%s transport', (kind) => {
    const cleanups: Array<() => Promise<unknown> | unknown> = [];
    afterEach(async () => {
      for (const c of cleanups.splice(0).reverse()) await c();
    });

    it('a frame past the bound closes the connection as a protocol error', async () => {
      const p = await TestPeer.start();
      cleanups.push(() => p.close());
      const conn = p.nextConnection();
      const t = createTransport({ host: '127.0.0.1', port: p.port, connectTimeoutMs: 2000, addp: false }, kind);
      cleanups.push(() => t.destroy());
      const rec = new Recorder(t);
      await t.connect();
      const pc = await conn;
      pc.sendRaw(atLimit);
      await rec.until(() => rec.frames.length >= 1, 5000, 'the frame at the bound');
      pc.sendRaw(nested);
      const info: CloseInfo = await within(rec.closed, 5000, 'close');
      expect(info.reason).toBe('protocol-error');
      expect(info.error).toBeInstanceOf(ProtocolError);
      expect(info.error!.code).toBe('ERR_TOO_MANY_ATTRIBUTES');
      expect(rec.frames).toHaveLength(1);
    });
  });
});
