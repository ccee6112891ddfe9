import { describe, expect, it } from 'vitest';
import {
  Attr, LENGTH_BYTES, MessageType, ProtocolError, decodeBody, encodeAddp, encodeMessage, float64, getAttr, int32, int64, resolveLimits,
  type MessageFrame,
} from '../../lib/protocol/index.js';
import { scanBody, type ScanResult } from '../../lib/transport/scan.js';

const limits = resolveLimits({ maxDepth: 3, maxAttributes: 16 });

/** Outcome of decoding with the reference decoder: error code, or kind + seq. */
function viaDecoder(buf: Buffer): string {
  try {
    const f = decodeBody(buf, LENGTH_BYTES, buf.length, limits, 0);
    if (f.kind !== 1) return `kind ${f.kind} token ${f.token}`;
    const s = getAttr(f as MessageFrame, Attr.EventSequenceNumber);
    const seq = typeof s === 'bigint' ? Number(s) : typeof s === 'number' ? s : -1;
    return `kind 1 type ${f.type} seq ${seq}`;
  } catch (e) {
    if (e instanceof ProtocolError) return `${e.code} @${e.offset}`;
    throw e;
  }
}

function viaScan(buf: Buffer): string {
  const out: ScanResult = { kind: 0, type: 0, seq: -1, token: 0 };
  try {
    const r = scanBody(buf, LENGTH_BYTES, buf.length, limits, 0, out);
    return r.kind === 1 ? `kind 1 type ${r.type} seq ${r.seq}` : `kind ${r.kind} token ${r.token}`;
  } catch (e) {
    if (e instanceof ProtocolError) return `${e.code} @${e.offset}`;
    throw e;
  }
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

const seeds: Buffer[] = [
  encodeMessage(MessageType.EventRouteRequest, {
    ThisDN: '5001', ConnID: int64(77n), ANI: 'é+1555', UserData: { a: 'b', n: 1, nested: { x: [{ key: 'k', type: 4, value: null }] } },
    EventSequenceNumber: int64(123456789n), TimeinSecs: 1, 999: new Uint8Array([1, 2, 3]), 998: float64(1.5),
  }),
  encodeMessage(MessageType.EventACK, { ReferenceID: 4, EventSequenceNumber: int32(-1), 148: int64(9n) } as never),
  encodeMessage(MessageType.EventError, { ReferenceID: 4, ErrorMessage: 'x', EventSequenceNumber: 'not a number' } as never),
  encodeAddp(0xdeadbeef),
  encodeAddp(1, true),
];

describe('scanBody (hold-window validation) agrees with decodeBody', () => {
  it('on valid frames', () => {
    for (const s of seeds) expect(viaScan(s)).toBe(viaDecoder(s));
    expect(viaScan(seeds[0]!)).toBe(`kind 1 type ${MessageType.EventRouteRequest} seq 123456789`);
  });

  it('on 20 000 mutated frames (byte flips, truncations, insertions)', () => {
    const rand = rng(12345);
    let errors = 0;
    for (let i = 0; i < 20_000; i++) {
      const base = seeds[i % seeds.length]!;
      let body = Buffer.from(base.subarray(LENGTH_BYTES));
      const op = rand();
      if (op < 0.6) {
        for (let k = 0, n = 1 + Math.floor(rand() * 3); k < n; k++) body[Math.floor(rand() * body.length)] = Math.floor(rand() * 256);
      } else if (op < 0.8) {
        body = body.subarray(0, 2 + Math.floor(rand() * (body.length - 2)));
      } else {
        const at = Math.floor(rand() * body.length);
        body = Buffer.concat([body.subarray(0, at), Buffer.from([Math.floor(rand() * 256)]), body.subarray(at)]);
      }
      const frame = Buffer.concat([Buffer.alloc(LENGTH_BYTES), body]);
      frame.writeUInt32BE(body.length);
      const expected = viaDecoder(frame);
      if (expected.startsWith('ERR_')) errors++;
      expect(viaScan(frame), `case ${i}`).toBe(expected);
    }
    expect(errors).toBeGreaterThan(5000); // the mutations really exercise the error paths
  });
});
