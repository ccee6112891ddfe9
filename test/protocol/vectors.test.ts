import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { nativeStatus, requireNativeBinding } from '../../lib/native/index.js';
import { BatchDecoder, decodeFramesIndexed, type IndexBackend } from '../../bench/codec-index/index.js';
import { FrameDecoder, ProtocolError, decodeFrames, frameToJSON, type CodecLimits, type Frame, type FrameJSON } from '../../lib/protocol/index.js';

interface Vector {
  name: string;
  hex: string;
  limits?: CodecLimits;
  expect: { frames: FrameJSON[] } | { error: string; offset: number; framesBefore: number };
}

const vectors = JSON.parse(readFileSync(new URL('../vectors/vectors.json', import.meta.url), 'utf8')) as Vector[];
const mustLoad = process.env.TSERVER_HA_NATIVE === 'require';
const nativeLoaded = nativeStatus().loaded;

function outcome(fn: () => Frame[]): unknown {
  try {
    return { frames: fn().map(frameToJSON) };
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw err;
    return { error: err.code, offset: err.offset };
  }
}
const wanted = (v: Vector) => ('error' in v.expect ? { error: v.expect.error, offset: v.expect.offset } : v.expect);

/** seq/ref as docs/protocol.md and codec.h define them: first occurrence, integer types only. */
function infoOf(f: FrameJSON): { seq: number; ref: number } {
  if (f.kind !== 'message') return { seq: -1, ref: -1 };
  const s = f.attributes.find((a) => a.id === 148);
  const r = f.attributes.find((a) => a.id === 2);
  return {
    seq: s && (s.type === 'int32' || s.type === 'int64') ? Number(s.value) : -1,
    ref: r?.type === 'int32' ? (r.value as number) : -1,
  };
}

describe('golden vectors', () => {
  it('cover at least 25 valid and 25 invalid inputs', () => {
    expect(vectors.filter((v) => 'frames' in v.expect).length).toBeGreaterThanOrEqual(25);
    expect(vectors.filter((v) => 'error' in v.expect).length).toBeGreaterThanOrEqual(25);
  });

  it('the native addon loads when TSERVER_HA_NATIVE=require', () => {
    if (!mustLoad) return;
    expect(() => requireNativeBinding()).not.toThrow();
    expect(nativeStatus().loaded).toBe(true);
  });

  describe('TS reference decoder', () => {
    it.each(vectors.map((v) => [v.name, v] as const))('%s', (_name, v) => {
      const buf = Buffer.from(v.hex, 'hex');
      expect(outcome(() => decodeFrames(buf, v.limits))).toEqual(wanted(v));
      // Streaming: the same frames are handed over before the error, byte by byte as well as whole.
      for (const chunk of [buf.length || 1, 1]) {
        const d = new FrameDecoder(v.limits);
        const got: Frame[] = [];
        let err: unknown;
        try {
          for (let i = 0; i < buf.length; i += chunk) d.write(buf.subarray(i, i + chunk), (f) => got.push(f));
          d.end();
        } catch (e) {
          err = e;
        }
        if ('frames' in v.expect) {
          expect(err).toBeUndefined();
          expect(got.map(frameToJSON)).toEqual(v.expect.frames);
        } else {
          expect((err as ProtocolError).code).toBe(v.expect.error);
          expect(got).toHaveLength(v.expect.framesBefore);
        }
      }
    });
  });

  const backends: [IndexBackend, boolean][] = [['ts', false], ['native', !nativeLoaded && !mustLoad]];
  for (const [backend, skip] of backends) {
    describe.skipIf(skip)(`index decoder (${backend})`, () => {
      it.each(vectors.map((v) => [v.name, v] as const))('%s', (_name, v) => {
        const buf = Buffer.from(v.hex, 'hex');
        expect(outcome(() => decodeFramesIndexed(buf, v.limits, backend))).toEqual(wanted(v));
        // Tiny initial index arrays force the grow-and-retry path.
        const r = new BatchDecoder(v.limits, backend, 1).decode(buf);
        if ('frames' in v.expect) {
          expect(r.error).toBeUndefined();
          expect(r.consumed).toBe(buf.length);
          expect(r.batch.count).toBe(v.expect.frames.length);
          v.expect.frames.forEach((f, i) => {
            const { seq, ref } = infoOf(f);
            expect([r.batch.kind(i), r.batch.seq(i), r.batch.ref(i)]).toEqual([f.kind === 'message' ? 1 : f.kind === 'addp-poll' ? 2 : 3, seq, ref]);
            if (f.kind === 'message') {
              expect(r.batch.type(i)).toBe(f.type);
              expect(r.batch.attrCount(i)).toBe(f.attributes.length);
              // The by-id path returns the first occurrence, like getAttr.
              for (const a of f.attributes) {
                const first = f.attributes.find((x) => x.id === a.id)!;
                const j = r.batch.findAttr(i, a.id);
                expect(r.batch.attrId(i, j)).toBe(a.id);
                const one = frameToJSON({ kind: 1, type: 0, attributes: [{ id: a.id, type: r.batch.attrType(i, j), value: r.batch.get(i, a.id)! }] });
                expect(one.kind === 'message' && one.attributes[0]).toEqual(first);
              }
            } else {
              expect(r.batch.token(i)).toBe(f.token);
            }
          });
        } else if (v.expect.error === 'ERR_INCOMPLETE') {
          expect(r.error).toBeUndefined();
          expect(r.consumed).toBe(v.expect.offset);
          expect(r.batch.count).toBe(v.expect.framesBefore);
        } else {
          expect(r.error?.code).toBe(v.expect.error);
          expect(r.error?.offset).toBe(v.expect.offset);
          expect(r.consumed).toBe(v.expect.offset);
          expect(r.batch.count).toBe(v.expect.framesBefore);
        }
      });

      it('stops at a partial frame at every cut of a multi-frame stream and reports its size', () => {
        const v = vectors.find((x) => x.name === 'multi-frame stream')!;
        const buf = Buffer.from(v.hex, 'hex');
        const ends: number[] = [];
        for (let off = 0; off < buf.length; off += 4 + buf.readUInt32BE(off)) ends.push(off + 4 + buf.readUInt32BE(off));
        const dec = new BatchDecoder(undefined, backend);
        for (let cut = 0; cut <= buf.length; cut++) {
          const r = dec.decode(buf.subarray(0, cut));
          const whole = ends.filter((e) => e <= cut);
          expect(r.error).toBeUndefined();
          expect(r.batch.count).toBe(whole.length);
          expect(r.consumed).toBe(whole.at(-1) ?? 0);
          const next = ends[whole.length];
          expect(r.nextFrameSize).toBe(next !== undefined && cut - r.consumed >= 4 ? next - r.consumed : 0);
        }
      });
    });
  }
});
