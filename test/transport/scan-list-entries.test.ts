/**
 * The TS index scanners — scanBody (lib/transport/scan.ts, the node transport's hold window) and
 * scanFrames (bench/codec-index/ts-scanner.ts, the TS twin of the addon's index) — apply the decoders' bound of
 * MAX_LIST_ENTRIES (65,535) list entries per frame, every list at every depth together, with the same
 * code (ERR_TOO_MANY_ATTRIBUTES), at the same point (as each entry starts, before its key) and offset as
 * decodeBody and the C++ codec. So a held frame over the bound is refused when it arrives, not when the
 * window is released. The generated differential tests (test/protocol/differential.test.ts,
 * test/transport/scan.test.ts) use small frames that never reach the bound: the cases here do.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { nativeStatus } from '../../lib/native/index.js';
import { BatchDecoder, type IndexBackend } from '../../bench/codec-index/index.js';
import { LENGTH_BYTES, MessageType, ProtocolError, decodeFrames, encodeMessage, frameToJSON, resolveLimits } from '../../lib/protocol/index.js';
import { MAX_LIST_ENTRIES } from '../../lib/protocol/decoder.js';
import { createTransport } from '../../lib/transport/index.js';
import { scanBody, type ScanResult } from '../../lib/transport/scan.js';
import type { CloseInfo } from '../../lib/transport/types.js';
import { TestPeer } from '../helpers/peer.js';
import { Recorder, within } from './harness.js';

const native = nativeStatus().loaded;
const backends: IndexBackend[] = native ? ['ts', 'native'] : ['ts'];

const u16 = (n: number): Buffer => Buffer.from([n >> 8, n & 0xff]);
const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

/** A message frame with raw attribute bytes (`count` attributes). */
function rawMessage(count: number, attrs: Buffer, type: number = MessageType.EventUserEvent): Buffer {
  const body = Buffer.concat([Buffer.from([1, 1]), u32(type), u16(count), attrs]);
  return Buffer.concat([u32(body.length), body]);
}

/** List value (type byte included) of `n` entries with an empty key: each an Empty value, or `inner` (a list value). */
function listValue(n: number, inner?: Buffer): Buffer {
  const entry = inner ? Buffer.concat([u16(0), inner]) : Buffer.from([0, 0, 4]);
  return Buffer.concat([Buffer.from([3]), u16(n), Buffer.concat(Array.from({ length: n }, () => entry))]);
}

/** A switch event (EventSequenceNumber `seq` first, so it is held) whose further attributes are the given list values. */
const eventOf = (seq: number, ...lists: Buffer[]): Buffer =>
  rawMessage(1 + lists.length, Buffer.concat([
    u16(148), Buffer.from([1]), u32(seq),
    ...lists.map((l, i) => Buffer.concat([u16(1000 + i), l])),
  ]));

/** Outcome by the reference decoder: `ERR_x@offset` or the frames as JSON. */
function reference(buf: Buffer, limits = resolveLimits()): string {
  try {
    return JSON.stringify(decodeFrames(buf, limits).map(frameToJSON));
  } catch (e) {
    if (e instanceof ProtocolError) return `${e.code}@${e.offset}`;
    throw e;
  }
}

/** Outcome by scanBody, frame by frame (as the node transport's hold window reads them): an error, or 'ok'. */
function viaScanBody(buf: Buffer, limits = resolveLimits()): string {
  const out: ScanResult = { kind: 0, type: 0, seq: -1, ref: -1, token: 0 };
  let pos = 0;
  try {
    while (pos < buf.length) {
      const len = buf.readUInt32BE(pos);
      scanBody(buf, pos + LENGTH_BYTES, pos + LENGTH_BYTES + len, limits, pos, out);
      pos += LENGTH_BYTES + len;
    }
    return 'ok';
  } catch (e) {
    if (e instanceof ProtocolError) return `${e.code}@${e.offset}`;
    throw e;
  }
}

function viaIndex(backend: IndexBackend, buf: Buffer, limits = resolveLimits()): string {
  const r = new BatchDecoder(limits, backend).decode(buf);
  if (r.error) return `${r.error.code}@${r.error.offset}`;
  if (r.consumed < buf.length) return `ERR_INCOMPLETE@${r.consumed}`;
  return JSON.stringify(r.batch.frames().map(frameToJSON));
}

/** Every implementation gives the reference decoder's outcome on `buf`. */
function expectAgree(buf: Buffer, name: string, limits = resolveLimits()): string {
  const want = reference(buf, limits);
  expect(viaScanBody(buf, limits), `${name}: scanBody`).toBe(want.startsWith('ERR_') ? want : 'ok');
  for (const b of backends) expect(viaIndex(b, buf, limits), `${name}: ${b} index`).toBe(want);
  return want;
}

/** Deterministic PRNG (mulberry32) so a failure reproduces. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const good = eventOf(1);
const atLimit = eventOf(2, listValue(MAX_LIST_ENTRIES));
const overByOne = eventOf(3, listValue(MAX_LIST_ENTRIES - 1), listValue(2));
const nested = eventOf(4, listValue(300, listValue(300)));
const ack = encodeMessage(MessageType.EventACK, { ReferenceID: 7 });

describe('list entries per frame in the TS index scanners', () => {
  it('hand-made cases: at the bound accepted, one over refused, nested lists counted together — as the decoders', () => {
    expect(expectAgree(atLimit, 'at the bound')).toMatch(/^\[/);
    expect(expectAgree(overByOne, 'over by one')).toBe('ERR_TOO_MANY_ATTRIBUTES@0');
    expect(expectAgree(nested, 'nested')).toBe('ERR_TOO_MANY_ATTRIBUTES@0');
    // After good frames: the offset is the bad frame's.
    const after = Buffer.concat([good, atLimit, nested]);
    expect(expectAgree(after, 'after two good frames')).toBe(`ERR_TOO_MANY_ATTRIBUTES@${good.length + atLimit.length}`);
  });

  it('checked as each entry starts, before its key: what follows the 65,536th entry start decides nothing', () => {
    // A list claiming 65,535 entries then one more list whose single entry is cut, or has a bad key, or a
    // bad value type, or is nested too deep: the entry count wins over all of them, everywhere.
    const full = listValue(MAX_LIST_ENTRIES);
    const tails: Array<[string, Buffer]> = [
      ['cut before the key length', Buffer.concat([Buffer.from([3]), u16(1)])],
      ['invalid UTF-8 key', Buffer.concat([Buffer.from([3]), u16(1), u16(1), Buffer.from([0xff, 4])])],
      ['bad value type', Buffer.concat([Buffer.from([3]), u16(1), u16(0), Buffer.from([9])])],
      ['truncated string value', Buffer.concat([Buffer.from([3]), u16(1), u16(0), Buffer.from([0]), u32(1000)])],
    ];
    for (const [name, tail] of tails) {
      const f = rawMessage(2, Buffer.concat([u16(1000), full, u16(1001), tail]));
      expect(expectAgree(f, name)).toBe('ERR_TOO_MANY_ATTRIBUTES@0');
    }
    // Under the bound the same tails are their own errors, also agreed on.
    for (const [name, tail] of tails) {
      const f = rawMessage(2, Buffer.concat([u16(1000), listValue(10), u16(1001), tail]));
      expect(expectAgree(f, `${name} (under the bound)`)).not.toMatch(/TOO_MANY/);
    }
    // A list nested past maxDepth is refused for its depth before its entries are counted.
    const deep = rawMessage(1, Buffer.concat([u16(1000), listValue(1, listValue(1, listValue(MAX_LIST_ENTRIES)))]));
    expect(expectAgree(deep, 'too deep', resolveLimits({ maxDepth: 2 }))).toBe('ERR_DEPTH_EXCEEDED@0');
  });

  it('agrees on 150 generated frames near the bound (cuts, byte flips, nesting)', { timeout: 120_000 }, () => {
    const rand = rng(0x7e57);
    const codes = new Map<string, number>();
    for (let i = 0; i < 150; i++) {
      // Lists of random sizes, some nested, totalling around the bound.
      const target = MAX_LIST_ENTRIES - 40 + Math.floor(rand() * 80);
      const lists: Buffer[] = [];
      let total = 0;
      while (total < target) {
        const left = target - total;
        if (rand() < 0.3 && left > 20) {
          const outer = 1 + Math.floor(rand() * Math.min(50, left / 2));
          const inner = Math.max(0, Math.min(Math.floor((left - outer) / outer), 1 + Math.floor(rand() * 400)));
          lists.push(listValue(outer, listValue(inner)));
          total += outer * (1 + inner);
        } else {
          const n = Math.min(left, 1 + Math.floor(rand() * 20_000));
          lists.push(listValue(n));
          total += n;
        }
      }
      let f = eventOf(i, ...lists);
      const op = rand();
      if (op < 0.3) {
        // Cut the body short (length prefix patched): truncation near or past the bound.
        const cut = LENGTH_BYTES + 8 + Math.floor(rand() * (f.length - LENGTH_BYTES - 8));
        f = Buffer.from(f.subarray(0, cut));
        f.writeUInt32BE(cut - LENGTH_BYTES);
      } else if (op < 0.6) {
        f = Buffer.from(f);
        for (let k = 0; k < 2; k++) f[LENGTH_BYTES + 8 + Math.floor(rand() * (f.length - LENGTH_BYTES - 8))] = Math.floor(rand() * 256);
      }
      const want = expectAgree(Buffer.concat([good, f]), `case ${i} (${total} entries)`, resolveLimits({ maxFrameSize: 4 << 20 }));
      const code = want.startsWith('ERR_') ? want.slice(0, want.indexOf('@')) : 'ok';
      codes.set(code, (codes.get(code) ?? 0) + 1);
    }
    // Both sides of the bound are reached, and the bound itself is what refuses most of the over ones.
    expect(codes.get('ok') ?? 0).toBeGreaterThan(10);
    expect(codes.get('ERR_TOO_MANY_ATTRIBUTES') ?? 0).toBeGreaterThan(10);
  });

  describe.each((['node', 'native'] as const).filter((k) => k === 'node' || native))('%s transport, holding', (kind) => {
    const cleanups: Array<() => Promise<unknown> | unknown> = [];
    afterEach(async () => {
      for (const c of cleanups.splice(0).reverse()) await c();
    });

    it('a held frame over the bound is refused when it arrives, not at release', async () => {
      const p = await TestPeer.start();
      cleanups.push(() => p.close());
      const conn = p.nextConnection();
      const t = createTransport({ host: '127.0.0.1', port: p.port, connectTimeoutMs: 2000, addp: false }, kind);
      cleanups.push(() => t.destroy());
      const rec = new Recorder(t);
      await t.connect();
      const pc = await conn;
      t.hold({ maxFrames: 100, maxBytes: 64 << 20 });
      pc.sendRaw(atLimit); // held (a switch event at the bound)
      pc.sendRaw(ack); // passes the window: proves the held frame was read
      await rec.until(() => rec.frames.length >= 1, 5000, 'the reply after the held frame');
      pc.sendRaw(nested); // held too, were it valid
      const info: CloseInfo = await within(rec.closed, 5000, 'close while holding');
      expect(info.reason).toBe('protocol-error');
      expect(info.error).toBeInstanceOf(ProtocolError);
      expect(info.error!.code).toBe('ERR_TOO_MANY_ATTRIBUTES');
      // The node transport reports the stream offset of the bad frame (the addon's errors carry none).
      if (kind === 'node') expect((info.error as ProtocolError).offset).toBe(atLimit.length + ack.length);
      expect(rec.frames).toHaveLength(1);
    });
  });
});

