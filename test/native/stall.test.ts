/**
 * What the I/O thread buys: a blocked JS thread (Atomics.wait, standing in for a GC pause or a busy
 * routing strategy) causes no ADDP failure on either side, and a consumer that does not drain is bounded
 * by maxQueuedBytes (reading pauses, is reported, resumes; nothing is lost). The peer runs in its own
 * process and enforces ADDP itself, so "no false disconnect" is checked from both ends.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createTransport } from '../../lib/transport/index.js';
import type { CloseInfo, Transport, TransportOptions } from '../../lib/transport/types.js';
import { MessageType, encodeMessage } from '../../lib/protocol/index.js';
import '../../lib/native/index.js';
import { ChildPeer } from '../helpers/child-peer.js';
import { nativeUnavailable } from './helpers.js';

const skip = nativeUnavailable();
const required = process.env.TSERVER_HA_NATIVE === 'require';

/** Block this thread; nothing on the event loop runs meanwhile. */
function blockFor(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Probe {
  t: Transport;
  seqs: number[];
  closes: CloseInfo[];
  backpressure: Array<{ paused: boolean; queuedBytes: number }>;
}

async function open(kind: 'native' | 'node', port: number, o: Partial<TransportOptions>): Promise<Probe> {
  const t = createTransport({ host: '127.0.0.1', port, ...o }, kind);
  const p: Probe = { t, seqs: [], closes: [], backpressure: [] };
  t.on('frames', (b) => {
    for (let i = 0; i < b.count; i++) if (b.type(i) === MessageType.EventRouteRequest) p.seqs.push(b.seq(i));
  });
  t.on('close', (c) => p.closes.push(c));
  t.on('backpressure', (x) => p.backpressure.push(x));
  await t.connect();
  t.send(encodeMessage(MessageType.RequestRegisterClient, { ApplicationName: 'stall', ReferenceID: 1 }));
  await sleep(100);
  return p;
}

function gapFree(seqs: number[]): boolean {
  for (let i = 1; i < seqs.length; i++) if (seqs[i] !== seqs[i - 1]! + 1) return false;
  return true;
}

describe.skipIf(skip !== undefined && !required)(`native transport under a blocked JS thread${skip ? ` — SKIPPED: ${skip}` : ''}`, () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function peer(addpTimeoutMs: number): Promise<ChildPeer> {
    const p = await ChildPeer.start({ addpTimeoutMs });
    cleanups.push(() => p.kill());
    return p;
  }

  it('ADDP 200 ms on both sides, JS blocked 2 × 2 s with events streaming: no disconnect, nothing lost', async () => {
    const p = await peer(200);
    const probe = await open('native', p.port, { addp: { timeoutMs: 200 } });
    cleanups.push(() => probe.t.destroy());
    p.stream(2000, 16);
    await sleep(200);
    blockFor(2000);
    await sleep(100);
    blockFor(2000);
    await sleep(300);
    p.stopStream();
    const stats = await p.stats();
    await sleep(300);
    expect(probe.closes).toEqual([]);
    expect(probe.t.connected).toBe(true);
    expect(stats.addpDrops).toBe(0);       // the peer heard our polls and replies throughout
    expect(stats.connections).toBe(1);
    expect(probe.seqs.length).toBeGreaterThan(4000); // ~2000/s over > 4 s, delivered after each stall
    expect(gapFree(probe.seqs)).toBe(true);
  }, 30_000);

  it('control: the node transport under the same stall loses the connection (so the test above can fail)', async () => {
    const p = await peer(200);
    const probe = await open('node', p.port, { addp: { timeoutMs: 200 } });
    cleanups.push(() => probe.t.destroy());
    blockFor(2000);
    await sleep(500);
    const stats = await p.stats();
    expect(probe.closes.length + stats.addpDrops).toBeGreaterThanOrEqual(1);
  }, 30_000);

  it('a consumer that does not drain: reading pauses at maxQueuedBytes, is reported, resumes; nothing lost', async () => {
    // No ADDP on the peer: while we pause, its polls wait behind unread data (DESIGN.md pitfall 3). Ours
    // runs (200 ms) and must not fire: unread kernel bytes count as proof of life.
    const p = await peer(0);
    const maxQueuedBytes = 512 * 1024;
    const probe = await open('native', p.port, { addp: { timeoutMs: 200 }, maxQueuedBytes });
    cleanups.push(() => probe.t.destroy());
    const rssBefore = process.memoryUsage().rss;
    p.stream(0, 256); // as fast as the socket takes
    await sleep(100);
    blockFor(1500);
    const rssAfterStall = process.memoryUsage().rss;
    await sleep(300);
    p.stopStream();
    const { sent } = await p.stats();
    const deadline = Date.now() + 20_000;
    while (probe.seqs.length < sent && Date.now() < deadline) await sleep(20);
    expect(probe.closes).toEqual([]);
    const paused = probe.backpressure.filter((b) => b.paused);
    expect(paused.length).toBeGreaterThanOrEqual(1);
    expect(probe.backpressure.some((b) => !b.paused)).toBe(true);
    // The bound holds (one 64 KiB read and its index records may overshoot it before the pause).
    for (const b of paused) expect(b.queuedBytes).toBeLessThanOrEqual(maxQueuedBytes + 256 * 1024);
    expect(rssAfterStall - rssBefore).toBeLessThan(64 * 1024 * 1024);
    expect(probe.seqs.length).toBe(sent);
    expect(gapFree(probe.seqs)).toBe(true);
  }, 60_000);
});
