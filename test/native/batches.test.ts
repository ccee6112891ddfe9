/**
 * Native-specific delivery contract: frames cross in batches (one thread-safe-function call per block,
 * never per frame), batch bytes expire after the listener while the index stays readable, and the native
 * timestamps are on the monotonicMs() clock.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { monotonicMs } from '../../lib/clock.js';
import { MessageType, encodeMessage } from '../../lib/protocol/index.js';
import { NativeTransport } from '../../lib/native/index.js';
import type { CloseInfo, FrameBatch } from '../../lib/transport/types.js';
import { ChildPeer } from '../helpers/child-peer.js';
import { nativeUnavailable } from './helpers.js';

const skip = nativeUnavailable();
const required = process.env.TSERVER_HA_NATIVE === 'require';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe.skipIf(skip !== undefined && !required)(`native batches${skip ? ` — SKIPPED: ${skip}` : ''}`, () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function streaming(): Promise<{ peer: ChildPeer; t: NativeTransport }> {
    const peer = await ChildPeer.start();
    cleanups.push(() => peer.kill());
    const t = new NativeTransport({ host: '127.0.0.1', port: peer.port, addp: { timeoutMs: 1000 } });
    cleanups.push(() => t.destroy());
    await t.connect();
    t.send(encodeMessage(MessageType.RequestRegisterClient, { ApplicationName: 'batches', ReferenceID: 1 }));
    return { peer, t };
  }

  it('a burst crosses in few batches, not one call per frame', async () => {
    const { peer, t } = await streaming();
    let frames = 0;
    let batches = 0;
    t.on('frames', (b) => {
      batches++;
      frames += b.count;
    });
    await sleep(100);
    peer.stream(0, 256); // saturate
    await sleep(500);
    peer.stopStream();
    await sleep(200);
    expect(frames).toBeGreaterThan(20_000);
    expect(batches).toBeLessThan(frames / 20);
  }, 20_000);

  it('batch bytes expire after the listener (ERR_BATCH_EXPIRED); the index stays readable', async () => {
    const { peer, t } = await streaming();
    const kept: FrameBatch[] = [];
    const seqsInside: number[] = [];
    t.on('frames', (b) => {
      kept.push(b);
      for (let i = 0; i < b.count; i++) seqsInside.push(b.seq(i));
      expect(b.frame(0).type).toBe(b.type(0)); // materializing inside the listener works
    });
    peer.stream(5000, 16);
    await sleep(300);
    peer.stopStream();
    await sleep(100);
    expect(kept.length).toBeGreaterThan(0);
    const last = kept.at(-1)!;
    expect(() => last.frame(0)).toThrow(expect.objectContaining({ code: 'ERR_BATCH_EXPIRED' }));
    const seqsAfter = kept.flatMap((b) => Array.from({ length: b.count }, (_, i) => b.seq(i)));
    expect(seqsAfter).toEqual(seqsInside);
    expect(last.receivedAt).toBeGreaterThan(0);
  }, 20_000);

  it('timestamps are taken natively on the monotonicMs() clock, in order', async () => {
    const before = monotonicMs();
    const { peer, t } = await streaming();
    const closed = new Promise<CloseInfo>((r) => t.once('close', r));
    await sleep(100);
    await peer.kill(); // SIGKILL: the kernel resets/closes the socket
    const info = await closed;
    const after = monotonicMs();
    const ts = info.timestamps;
    expect(['peer-closed', 'peer-reset']).toContain(info.reason);
    expect(ts.connectStartAt).toBeGreaterThanOrEqual(before);
    expect(ts.connectedAt!).toBeGreaterThanOrEqual(ts.connectStartAt);
    expect(ts.firstByteAt!).toBeGreaterThanOrEqual(ts.connectedAt!);
    expect(ts.lossDetectedAt!).toBeGreaterThanOrEqual(ts.firstByteAt!);
    expect(ts.closedAt!).toBeGreaterThanOrEqual(ts.lossDetectedAt!);
    expect(ts.closedAt!).toBeLessThanOrEqual(after);
  }, 20_000);
});
