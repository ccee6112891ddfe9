import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { nativeStatus } from '../../lib/native/index.js';
import { BatchDecoder, type IndexBackend } from '../../bench/codec-index/index.js';
import { FrameDecoder, ProtocolError, ValueType, decodeFrames, frameToJSON, type Frame } from '../../lib/protocol/index.js';
import { DEFAULT_LIMITS, fuzzHeader, parseFuzzInput, type FuzzLimits } from '../../scripts/fuzz-input.mjs';

// Differential replay of the fuzz corpus (native/fuzz/fuzz_codec.cc input format: 4 header bytes + a
// stream). Every input is decoded, under the default limits and under the limits its header selects, by
//   - the TS reference decoder, whole buffer (decodeFrames) and as a FrameDecoder stream cut in two at the
//     input's split point,
//   - the native addon (BatchDecoder 'native') and its TS twin scanner (BatchDecoder 'ts'), each also
//     with 1-frame output arrays (the output-full / grow / decode-again path),
// and all must agree on the frames before the first error (canonical JSON), the error code and offset
// (ERR_INCOMPLETE at `consumed` for a stream ending inside a frame), and the index's seq/ref.
// Always runs the committed seed corpus (test/fuzz-corpus/). `npm run fuzz` also replays the corpus its
// run generated: TSHA_FUZZ_CORPUS holds extra directories (path-delimiter separated), TSHA_FUZZ_REPORT a
// file to write a JSON summary to.

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SEED_DIR = join(root, 'test', 'fuzz-corpus');
const EXTRA_DIRS = (process.env.TSHA_FUZZ_CORPUS ?? '').split(delimiter).filter(Boolean);
const REPORT = process.env.TSHA_FUZZ_REPORT;
const mustLoad = process.env.TSERVER_HA_NATIVE === 'require';

/** What decoding a stream yields: frames before the first error, and that error (or undefined). */
interface Outcome { frames: unknown[]; error: string | undefined }

const errString = (e: unknown): string => {
  if (e instanceof ProtocolError) return `${e.code}@${e.offset}`;
  throw e;
};
const json = (fs: Frame[]): unknown[] => fs.map(frameToJSON);

/** TS FrameDecoder fed `cuts.length + 1` chunks, then end(). */
function streamed(stream: Uint8Array, limits: FuzzLimits, cuts: number[]): Outcome {
  const d = new FrameDecoder(limits);
  const frames: Frame[] = [];
  let from = 0;
  try {
    for (const to of [...cuts, stream.length]) {
      d.write(stream.subarray(from, to), (f) => frames.push(f));
      from = to;
    }
    d.end();
    return { frames: json(frames), error: undefined };
  } catch (e) {
    return { frames: json(frames), error: errString(e) };
  }
}

function wholeBuffer(stream: Uint8Array, limits: FuzzLimits): string {
  try {
    return JSON.stringify(json(decodeFrames(stream, limits)));
  } catch (e) {
    return errString(e);
  }
}

const decoders = new Map<string, BatchDecoder>();
/**
 * `tiny`: a fresh decoder with room for one frame and 16 attribute offsets, so any longer stream takes
 * the addon's output-full path (the sink refuses a frame, JS grows the arrays and decodes again).
 */
function indexed(backend: IndexBackend, stream: Uint8Array, limits: FuzzLimits, tiny = false): Outcome & { indexFields: string | undefined } {
  let d: BatchDecoder | undefined;
  if (tiny) {
    d = new BatchDecoder(limits, backend, 1);
  } else {
    const key = `${backend}:${limits.maxFrameSize},${limits.maxDepth},${limits.maxAttributes}`;
    d = decoders.get(key);
    if (!d) decoders.set(key, (d = new BatchDecoder(limits, backend)));
  }
  const r = d.decode(stream);
  const frames = r.batch.frames();
  let indexFields: string | undefined;
  frames.forEach((f, i) => {
    // The index's extracted fields must match the materialized frame (first occurrence wins).
    const b = r.batch;
    if (f.kind !== 1) {
      if (b.token(i) !== f.token || b.seq(i) !== -1 || b.ref(i) !== -1) indexFields ??= `frame ${i}: ADDP index fields`;
      return;
    }
    const s = f.attributes.find((a) => a.id === 148);
    const seq = s && (s.type === ValueType.Int32 || s.type === ValueType.Int64) ? Number(s.value) : -1;
    const rf = f.attributes.find((a) => a.id === 2);
    const ref = rf && rf.type === ValueType.Int32 ? (rf.value as number) : -1;
    if (b.seq(i) !== seq || b.ref(i) !== ref) indexFields ??= `frame ${i}: index seq/ref ${b.seq(i)}/${b.ref(i)}, frame ${seq}/${ref}`;
  });
  const error = r.error ? `${r.error.code}@${r.error.offset}` : r.consumed < stream.length ? `ERR_INCOMPLETE@${r.consumed}` : undefined;
  return { frames: json(frames), error, indexFields };
}

interface Mismatch { file: string; limits: FuzzLimits; check: string; want: unknown; got: unknown }
interface Summary {
  files: number; skipped: number; comparisons: number; accepted: number; rejected: number;
  native: boolean; errorCodes: Record<string, number>; mismatches: Mismatch[];
}

/** Replay every file of `dirs`; returns the counts and every disagreement (first 50 kept in detail). */
function replay(dirs: string[], native: boolean): Summary {
  const s: Summary = { files: 0, skipped: 0, comparisons: 0, accepted: 0, rejected: 0, native, errorCodes: {}, mismatches: [] };
  const mismatch = (m: Mismatch) => {
    if (s.mismatches.length < 50) s.mismatches.push(m);
  };
  for (const dir of dirs) {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (!statSync(path).isFile()) continue;
      s.files++;
      const input = parseFuzzInput(readFileSync(path));
      if (!input) {
        s.skipped++;
        continue;
      }
      const file = relative(root, path);
      const { stream, split } = input;
      const limitSets = [{ ...DEFAULT_LIMITS }];
      if (JSON.stringify(input.limits) !== JSON.stringify(DEFAULT_LIMITS)) limitSets.push(input.limits);
      for (const limits of limitSets) {
        s.comparisons++;
        const ref = streamed(stream, limits, []);
        if (ref.error) {
          s.rejected++;
          const code = ref.error.slice(0, ref.error.indexOf('@'));
          s.errorCodes[code] = (s.errorCodes[code] ?? 0) + 1;
        } else {
          s.accepted++;
        }
        const whole = wholeBuffer(stream, limits);
        const refWhole = ref.error ?? JSON.stringify(ref.frames);
        if (whole !== refWhole) mismatch({ file, limits, check: 'decodeFrames vs FrameDecoder', want: refWhole, got: whole });
        const halves = streamed(stream, limits, [split]);
        if (JSON.stringify(halves) !== JSON.stringify(ref)) mismatch({ file, limits, check: `FrameDecoder split at ${split}`, want: ref, got: halves });
        for (const backend of native ? (['ts', 'native'] as const) : (['ts'] as const)) {
          for (const tiny of [false, true]) {
            const { indexFields, ...got } = indexed(backend, stream, limits, tiny);
            const check = `BatchDecoder ${backend}${tiny ? ' (1-frame arrays)' : ''}`;
            if (JSON.stringify(got) !== JSON.stringify(ref)) mismatch({ file, limits, check, want: ref, got });
            if (indexFields) mismatch({ file, limits, check: `${check} index`, want: 'index = frame', got: indexFields });
          }
        }
      }
    }
  }
  return s;
}

describe('fuzz corpus: differential replay (TS reference vs native vs TS scanner)', () => {
  const native = nativeStatus().loaded || mustLoad;

  it('the input header round-trips the limits the harness can select', () => {
    for (const limits of [{}, { maxDepth: 2 }, { maxDepth: 255 }, { maxAttributes: 16 }, { maxFrameSize: 256 }, { maxDepth: 1, maxAttributes: 1, maxFrameSize: 2 }]) {
      const parsed = parseFuzzInput(Buffer.concat([fuzzHeader(limits, 0xff), Buffer.from('abc')]))!;
      expect(parsed.limits).toEqual({ ...DEFAULT_LIMITS, ...limits });
      expect(parsed.split).toBe(3); // (255 * 4) >> 8
      expect(Buffer.from(parsed.stream).toString()).toBe('abc');
    }
    expect(() => fuzzHeader({ maxFrameSize: 1000 })).toThrow(RangeError);
    expect(parseFuzzInput(Uint8Array.of(1, 2, 3))).toBeUndefined();
  });

  it('the committed seed corpus agrees everywhere and reaches every error code', { timeout: 60_000 }, () => {
    const s = replay([SEED_DIR], native);
    console.log(`seed corpus: ${s.files} files, ${s.comparisons} comparisons, native ${native ? 'on' : 'off'}`, s.errorCodes);
    expect(s.mismatches).toEqual([]);
    expect(s.files).toBeGreaterThanOrEqual(100);
    // A replay that only ever sees valid (or only invalid) input proves little.
    expect(s.accepted).toBeGreaterThan(s.comparisons * 0.3);
    expect(Object.keys(s.errorCodes).sort()).toEqual([
      'ERR_BAD_ADDP', 'ERR_BAD_KIND', 'ERR_BAD_VALUE_TYPE', 'ERR_BAD_VERSION', 'ERR_DEPTH_EXCEEDED', 'ERR_FRAME_TOO_LARGE',
      'ERR_FRAME_TOO_SMALL', 'ERR_INCOMPLETE', 'ERR_INVALID_UTF8', 'ERR_TOO_MANY_ATTRIBUTES', 'ERR_TRAILING_BYTES', 'ERR_TRUNCATED',
    ]);
  });

  it.runIf(EXTRA_DIRS.length > 0)(`the corpus of the last fuzz run agrees everywhere (${EXTRA_DIRS.join(', ')})`, { timeout: 600_000 }, () => {
    // Seeds again, so the report counts everything `npm run fuzz` replayed.
    const dirs = [SEED_DIR, ...EXTRA_DIRS.filter((d) => existsSync(d))];
    const s = replay(dirs, native);
    if (REPORT) writeFileSync(REPORT, JSON.stringify(s, null, 1));
    console.log(`fuzz corpus: ${s.files} files, ${s.comparisons} comparisons, ${s.mismatches.length} mismatches, native ${native ? 'on' : 'off'}`);
    expect(s.mismatches).toEqual([]);
    expect(s.files).toBeGreaterThan(100);
  });
});
