import type { CodecLimits } from '../../lib/protocol/constants.js';
import { resolveLimits, type ResolvedLimits } from '../../lib/protocol/decoder.js';
import { ProtocolError, protocolCodeOf } from '../../lib/protocol/errors.js';
import type { Frame } from '../../lib/protocol/types.js';
import { IndexLayout as L, IndexedFrameBatch } from './frame-view.js';
import { requireNativeBinding, type NativeBinding } from '../../lib/native/loader.js';
import { scanFrames } from './ts-scanner.js';

/** Which index builder a {@link BatchDecoder} uses: the addon, or its pure-TS twin. */
export type IndexBackend = 'native' | 'ts';

/** Result of {@link BatchDecoder.decode}. */
export interface BatchDecodeResult {
  /** The whole valid frames (ADDP included), as a lazy view. */
  batch: IndexedFrameBatch;
  /** Bytes of whole accepted frames; the next frame starts there. */
  consumed: number;
  /** The first bad frame (frames before it are in `batch`), or undefined. */
  error: ProtocolError | undefined;
  /** When the input ends in a partial frame whose length prefix is complete: that frame's total size. */
  nextFrameSize: number;
}

function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Decodes a whole batch of frames per call into an index + lazy view. The index arrays are reused
 * between calls (grown when too small), so a returned batch is valid until the next `decode` call on the
 * same decoder — materialize (`frame(i)`) what must outlive it.
 */
export class BatchDecoder {
  readonly limits: ResolvedLimits;
  readonly backend: IndexBackend;
  private readonly binding: NativeBinding | null;
  /** maxAttributes above 65535 means "no limit" (the count is a u16) and must fit the addon's u32. */
  private readonly maxAttributesU16: number;
  private index: Float64Array;
  private attrs: Uint32Array;

  /** @param backend `native` throws NativeUnavailableError when the addon is not loaded. */
  constructor(limits?: CodecLimits, backend: IndexBackend = 'native', initialFrames = 256) {
    this.limits = resolveLimits(limits);
    this.backend = backend;
    this.binding = backend === 'native' ? requireNativeBinding() : null;
    this.maxAttributesU16 = Math.min(this.limits.maxAttributes, 0xffff);
    this.index = new Float64Array(L.HEADER_SIZE + initialFrames * L.STRIDE);
    this.attrs = new Uint32Array(initialFrames * 16);
  }

  /** Validate and index every whole frame of `data` (a partial tail is not an error; see `consumed`). */
  decode(data: Uint8Array, receivedAt = 0): BatchDecodeResult {
    const buf = asBuffer(data);
    const lim = this.limits;
    for (;;) {
      if (this.binding !== null) {
        this.binding.decode(buf, this.index, this.attrs, lim.maxFrameSize, lim.maxDepth, this.maxAttributesU16);
      } else {
        scanFrames(buf, this.index, this.attrs, lim);
      }
      const ix = this.index;
      if (ix[L.H_FULL] === 1) {
        // Rare: grow what may have been too small, up to the bound for this input (a frame takes at
        // least 10 bytes, an attribute 3), and redo. The full array is below its bound, so this progresses.
        const frames = (ix.length - L.HEADER_SIZE) / L.STRIDE;
        const boundFrames = Math.ceil(buf.length / 10) + 1;
        const boundAttrs = Math.ceil(buf.length / 3) + 1;
        this.index = new Float64Array(L.HEADER_SIZE + Math.max(frames, Math.min(frames * 2, boundFrames)) * L.STRIDE);
        this.attrs = new Uint32Array(Math.max(this.attrs.length, Math.min(this.attrs.length * 2, boundAttrs)));
        continue;
      }
      const errno = ix[L.H_ERRNO]!;
      const errorOffset = ix[L.H_ERROR_OFFSET]!;
      return {
        batch: new IndexedFrameBatch(buf, ix, this.attrs, ix[L.H_FRAMES]!, receivedAt),
        consumed: ix[L.H_CONSUMED]!,
        error: errno === 0 ? undefined : new ProtocolError(protocolCodeOf(errno), `${this.backend} codec rejected the frame at offset ${errorOffset}`, errorOffset),
        nextFrameSize: ix[L.H_NEXT_FRAME_SIZE]!,
      };
    }
  }
}

/**
 * Decode a buffer that must hold whole frames only, like `decodeFrames` of lib/protocol, through an
 * index backend. Throws the first ProtocolError, or ERR_INCOMPLETE when the buffer ends inside a frame.
 */
export function decodeFramesIndexed(data: Uint8Array, limits?: CodecLimits, backend: IndexBackend = 'native'): Frame[] {
  const r = new BatchDecoder(limits, backend).decode(data);
  if (r.error) throw r.error;
  if (r.consumed < data.length) {
    throw new ProtocolError('ERR_INCOMPLETE', `${data.length - r.consumed} bytes of an unfinished frame`, r.consumed);
  }
  return r.batch.frames();
}
