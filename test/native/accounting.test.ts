/**
 * Byte accounting of the native I/O thread across hot-standby hold → release → close cycles
 * (docs/native-safety.md "The per-process budget"; docs/native-transport.md "Decisions").
 *
 * Every byte charged — to a connection's queue (maxQueuedBytes), to the process's `queuedBytes`, to the
 * hold windows' `heldBytes` — must be uncharged exactly once. The release path is the delicate one: held
 * frames leave the window's charge and are appended to a delivery block, which is uncharged from the
 * connection when it is handed to JS. A release that waits behind a block JS has not acknowledged yet is
 * the case that shows whether the connection was charged for it: if not, the connection reads on past
 * maxQueuedBytes, and when the release block is finally delivered its uncharge wipes the charge of
 * frames that are still undelivered.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MessageType, encodeMessage } from '../../lib/protocol/index.js';
import { createTransport } from '../../lib/transport/index.js';
import type { CloseInfo, ReleaseResult, Transport } from '../../lib/transport/types.js';
import '../../lib/native/index.js';
import { DEFAULT_NATIVE_MEMORY_LIMIT, nativeIoStats, setNativeMemoryLimit } from '../../lib/native/native-transport.js';
import { ChildPeer } from '../helpers/child-peer.js';
import { nativeUnavailable } from './helpers.js';

const skip = nativeUnavailable();
const required = process.env.TSERVER_HA_NATIVE === 'require';
if (skip !== undefined && required) throw new Error(`TSERVER_HA_NATIVE=require: ${skip}`);
/** ASan/UBSan builds run several times slower: fewer cycles, same assertions. */
const SLOW = process.env.TSERVER_HA_ASAN === '1';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Block this thread: JS drains nothing and acknowledges no block meanwhile. */
function blockFor(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Bytes charged per frame on top of its wire bytes: one index record of 8 doubles (io_host.h). */
const RECORD_BYTES = 64;
/** What one read may add before a connection pauses: 64 KiB, a partial frame and its index records. */
const ONE_READ = 192 * 1024;

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms (stats ${JSON.stringify(nativeIoStats())})`);
    await sleep(5);
  }
}

interface Probe {
  t: Transport;
  /** Sequence numbers seen, from frames events and release results. */
  seqs: number[];
  closes: CloseInfo[];
  bp: Array<{ paused: boolean; queuedBytes: number }>;
  /** Called with each batch's ReferenceIDs (request replies are never held). */
  onRef: ((ref: number) => void) | null;
}

async function open(port: number, maxQueuedBytes?: number): Promise<Probe> {
  const t = createTransport({ host: '127.0.0.1', port, addp: false, ...(maxQueuedBytes ? { maxQueuedBytes } : {}) }, 'native');
  const p: Probe = { t, seqs: [], closes: [], bp: [], onRef: null };
  t.on('frames', (b) => {
    for (let i = 0; i < b.count; i++) {
      if (b.type(i) === MessageType.EventRouteRequest) p.seqs.push(b.seq(i));
      else if (b.ref(i) >= 0) p.onRef?.(b.ref(i));
    }
  });
  t.on('close', (c) => p.closes.push(c));
  t.on('backpressure', (x) => p.bp.push(x));
  await t.connect();
  t.send(encodeMessage(MessageType.RequestRegisterClient, { ApplicationName: 'accounting', ReferenceID: 1 }));
  await sleep(50);
  return p;
}

function contiguous(seqs: number[]): { ok: boolean; min: number; max: number; n: number } {
  const s = [...seqs].sort((a, b) => a - b);
  let ok = s.length > 0;
  for (let i = 1; i < s.length; i++) if (s[i] !== s[i - 1]! + 1) ok = false;
  return { ok, min: s[0] ?? -1, max: s[s.length - 1] ?? -1, n: s.length };
}

describe.skipIf(skip !== undefined)(`native byte accounting${skip ? ` — SKIPPED: ${skip}` : ''}`, () => {
  const cleanups: Array<() => Promise<unknown> | unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
    setNativeMemoryLimit(DEFAULT_NATIVE_MEMORY_LIMIT);
  });

  it('hold → release → close cycles: a release is charged to its connection until JS takes it; stats return exactly to 0; the budget still holds', async () => {
    const p = await ChildPeer.start({ addpTimeoutMs: 0 });
    cleanups.push(() => p.kill());
    const frameCharge = p.frameBytes + RECORD_BYTES;
    const maxQueuedBytes = 1024 * 1024;
    const held = 4 * maxQueuedBytes; // each window holds more than the connection may queue
    const connections = SLOW ? 2 : 3;
    const cyclesPerConnection = SLOW ? 2 : 4;
    let ref = 100;

    for (let c = 0; c < connections; c++) {
      const x = await open(p.port, maxQueuedBytes);
      cleanups.push(() => x.t.destroy());
      for (let cycle = 0; cycle < cyclesPerConnection; cycle++) {
        // Quiet before each hold, so that no event read before it is still on its way to JS (those would
        // be put in front of the release result by the JS side and were charged in earlier blocks).
        p.stopStream();
        const { seq: quiet } = await p.stats();
        if (cycle > 0) await until(() => x.seqs.includes(quiet), 20_000, 'quiet before hold');
        x.t.hold({ maxFrames: 10_000_000, maxBytes: 1 << 30 });
        p.stream(0, 256);
        await until(() => nativeIoStats().heldBytes >= held, 20_000, 'window filled');
        // Release from inside a frames listener and keep JS blocked: the block being dispatched is not
        // acknowledged, so the release block waits behind it while the peer keeps streaming.
        const myRef = ++ref;
        let releasing: Promise<ReleaseResult> | null = null;
        let duringStall: ReturnType<typeof nativeIoStats> | null = null;
        const bpBefore = x.bp.length;
        x.onRef = (r) => {
          if (r !== myRef || releasing) return;
          releasing = x.t.release(0);
          blockFor(SLOW ? 1500 : 600);
          duringStall = nativeIoStats();
        };
        x.t.send(encodeMessage(MessageType.RequestQueryServer, { ReferenceID: myRef }));
        await until(() => releasing !== null, 10_000, 'reply that triggers the release');
        x.onRef = null;
        const r = await releasing!;
        for (let i = 0; i < r.batch.count; i++) x.seqs.push(r.batch.seq(i));
        expect(r.evictedUpTo).toBe(-1);
        const releaseCharge = r.batch.count * frameCharge;
        expect(releaseCharge).toBeGreaterThanOrEqual(held);
        // While the release block waited, the connection was charged for it (it is over maxQueuedBytes
        // on its own), so it read at most one more chunk before pausing. Uncharged, it would have read on
        // until maxQueuedBytes of newer frames were queued behind the release.
        const stall = duringStall!;
        if (process.env.ACCOUNTING_DEBUG) console.log(JSON.stringify({ c, cycle, releaseCharge, queued: stall.queuedBytes, beyondRelease: stall.queuedBytes - releaseCharge }));
        expect(stall.heldBytes).toBe(0);
        expect(stall.queuedBytes).toBeGreaterThanOrEqual(releaseCharge);
        expect(stall.queuedBytes).toBeLessThanOrEqual(releaseCharge + ONE_READ);
        // The pause is reported in the block after the release (delivered once JS acknowledged that one).
        await until(() => x.bp.slice(bpBefore).some((b) => b.paused), 10_000, 'pause reported');
        const pause = x.bp.slice(bpBefore).find((b) => b.paused);
        expect(pause, 'the connection paused behind its release').toBeDefined();
        expect(pause!.queuedBytes).toBeGreaterThanOrEqual(releaseCharge);
        // Drained: every byte uncharged, reading resumed.
        await until(() => nativeIoStats().queuedBytes < maxQueuedBytes, 20_000, 'drained after the release');
        await until(() => x.bp.length > 0 && !x.bp[x.bp.length - 1]!.paused, 20_000, 'resumed');
      }
      p.stopStream();
      const { seq } = await p.stats();
      await until(() => x.seqs.includes(seq), 20_000, 'every streamed event arrived');
      // Nothing lost, nothing twice, across all the hold/release cycles of this connection.
      const run = contiguous(x.seqs);
      expect(run.ok).toBe(true);
      expect(run.n).toBe(x.seqs.length);
      expect(run.max).toBe(seq);
      expect(x.closes).toEqual([]);
      // A last window left unreleased: closing drops it, and its charge with it.
      x.t.hold({ maxFrames: 1000, maxBytes: 1 << 20 });
      p.stream(0, 256);
      await until(() => nativeIoStats().heldBytes > 0, 10_000, 'last window');
      await x.t.close();
      p.stopStream();
      expect(x.closes.map((i) => i.reason)).toEqual(['local']);
      const s = nativeIoStats();
      expect([s.conns, s.queuedBytes, s.heldBytes]).toEqual([0, 0, 0]);
    }

    // After all that, the process budget still refuses past its limit.
    const cap = 2 * 1024 * 1024;
    setNativeMemoryLimit(cap);
    const y = await open(p.port); // its own bound (32 MiB) is far away: only the budget can pause it
    cleanups.push(() => y.t.destroy());
    p.stream(0, 256);
    await sleep(50);
    blockFor(SLOW ? 1500 : 800);
    const stalled = nativeIoStats();
    expect(stalled.peakBytes).toBeGreaterThanOrEqual(cap);
    expect(stalled.peakBytes).toBeLessThanOrEqual(cap + ONE_READ);
    await until(() => y.bp.some((b) => b.paused), 10_000, 'paused on the budget');
    p.stopStream();
    await y.t.close();
    const end = nativeIoStats();
    expect([end.conns, end.queuedBytes, end.heldBytes]).toEqual([0, 0, 0]);
    expect(end.peakBytes).toBeLessThanOrEqual(cap + ONE_READ);
  }, 180_000);
});
