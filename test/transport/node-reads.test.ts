import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../lib/protocol/errors.js';
import { MessageType, encodeMessage } from '../../lib/protocol/index.js';
import { NodeTransport, type CloseInfo, type FrameBatch } from '../../lib/transport/index.js';

/**
 * The node transport's read path: frames that straddle reads (any number of them) are gathered without
 * concatenating whole reads. Driven through `onData` directly with a stream cut at every kind of boundary.
 */
interface Driven {
  t: NodeTransport;
  feed(chunk: Buffer): void;
  seqs: number[];
  closes: CloseInfo[];
}

function drive(hold = false): Driven {
  const t = new NodeTransport({ host: 'h', port: 1, addp: false });
  const inner = t as unknown as { state: string; onData(c: Buffer): void };
  inner.state = 'open';
  if (hold) t.hold({ maxFrames: 1_000_000, maxBytes: 2 ** 30 });
  const seqs: number[] = [];
  const closes: CloseInfo[] = [];
  t.on('frames', (b: FrameBatch) => {
    for (let i = 0; i < b.count; i++) seqs.push(b.seq(i));
  });
  t.on('close', (c) => closes.push(c));
  return { t, feed: (c) => inner.onData(c), seqs, closes };
}

function stream(n: number): { bytes: Buffer; ends: number[] } {
  const frames: Buffer[] = [];
  const ends: number[] = [];
  let at = 0;
  for (let i = 1; i <= n; i++) {
    const f = encodeMessage(MessageType.EventRouteRequest, {
      ThisDN: '7000', ConnID: BigInt(i), EventSequenceNumber: BigInt(i), UserData: { pad: 'x'.repeat((i * 37) % 900) },
    });
    frames.push(Buffer.from(f));
    at += f.length;
    ends.push(at);
  }
  return { bytes: Buffer.concat(frames), ends };
}

function cut(bytes: Buffer, sizes: () => number): Buffer[] {
  const out: Buffer[] = [];
  for (let p = 0; p < bytes.length;) {
    const n = Math.max(1, sizes());
    out.push(Buffer.from(bytes.subarray(p, p + n)));
    p += n;
  }
  return out;
}

describe('node transport reads', () => {
  const { bytes } = stream(300);
  let seed = 12345;
  const rnd = (max: number) => () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return 1 + (seed % max);
  };
  const cuts: Array<[string, () => number]> = [
    ['one byte at a time', () => 1],
    ['3 bytes (length prefixes split)', () => 3],
    ['random up to 64', rnd(64)],
    ['random up to 2000 (frames spanning several reads)', rnd(2000)],
    ['64 KiB', () => 65536],
  ];
  for (const [name, sizes] of cuts) {
    it(`every frame once, in order: ${name}`, () => {
      const d = drive();
      for (const c of cut(bytes, sizes)) d.feed(c);
      expect(d.seqs).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
      expect(d.closes).toEqual([]);
    });
  }

  it('hot standby: straddling held frames are held and released intact', async () => {
    const d = drive(true);
    for (const c of cut(bytes, rnd(500))) d.feed(c);
    expect(d.seqs).toEqual([]);
    const r = await d.t.release(0);
    const got: number[] = [];
    for (let i = 0; i < r.batch.count; i++) {
      got.push(r.batch.seq(i));
      expect(r.batch.frame(i).type).toBe(MessageType.EventRouteRequest); // decodes from the held bytes
    }
    expect(got).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
  });

  it('an oversized length split across reads is refused at its stream offset, before its body', () => {
    const { bytes: good, ends } = stream(3);
    const bad = Buffer.alloc(4);
    bad.writeUInt32BE(0x7fffffff);
    const d = drive();
    d.feed(Buffer.concat([good, bad.subarray(0, 1)]));
    d.feed(bad.subarray(1, 2));
    expect(d.closes).toEqual([]);
    d.feed(bad.subarray(2));
    expect(d.seqs).toEqual([1, 2, 3]);
    expect(d.closes).toHaveLength(1);
    expect(d.closes[0]!.reason).toBe('protocol-error');
    const err = d.closes[0]!.error as ProtocolError;
    expect(err).toBeInstanceOf(ProtocolError);
    expect(err.code).toBe('ERR_FRAME_TOO_LARGE');
    expect(err.offset).toBe(ends[2]);
  });
});
