/**
 * Limits (docs/native-safety.md "Limits"): each documented limit, at its default where one exists, exceeded by a real peer
 * on loopback. Past a limit the connection ends with a typed error (or reading pauses, for byte budgets);
 * the process never crashes and another connection on the same peer keeps working.
 *
 * Limits already tested elsewhere are only referenced in the doc table (max frame size: conformance;
 * per-connection queue: stall.test.ts; pending requests: test/pair/requests.test.ts).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS } from '../../lib/protocol/constants.js';
import { Attr, MessageType, ProtocolError, encodeMessage, getAttr, int64 } from '../../lib/protocol/index.js';
import { createTransport } from '../../lib/transport/index.js';
import type { CloseInfo, Transport, TransportOptions } from '../../lib/transport/types.js';
import '../../lib/native/index.js';
import { DEFAULT_NATIVE_MEMORY_LIMIT, nativeIoStats, setNativeMemoryLimit } from '../../lib/native/native-transport.js';
import { ChildPeer } from '../helpers/child-peer.js';
import { TestPeer, type PeerConnection } from '../helpers/peer.js';
import { Recorder, within } from '../transport/harness.js';
import { liveTimeoutMs } from '../helpers/timing.js';
import { until } from '../helpers/wait.js';
import { blockUntilReadingPaused, nativeUnavailable } from './helpers.js';

const skip = nativeUnavailable();
const required = process.env.TSERVER_HA_NATIVE === 'require';
const nativeOk = skip === undefined;
if (!nativeOk && required) throw new Error(`TSERVER_HA_NATIVE=require: ${skip}`);

// ---- raw frames (docs/protocol.md), built by hand so they can break one rule at a time ----

const u16 = (n: number): Buffer => Buffer.from([n >> 8, n & 0xff]);
const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

/** A message frame with the given raw attribute bytes. */
function rawMessage(type: number, count: number, attrs: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from([1, 1]), u32(type), u16(count), attrs]);
  return Buffer.concat([u32(body.length), body]);
}

/** A list value nested `depth` lists deep (each list holds one pair 'a' → the next list; the last is empty). */
function nestedList(depth: number): Buffer {
  if (depth === 1) return Buffer.from([3, 0, 0]);
  return Buffer.concat([Buffer.from([3]), u16(1), u16(1), Buffer.from('a'), nestedList(depth - 1)]);
}

/** EventUserEvent with attribute 999 = `depth` nested lists. */
const deepFrame = (depth: number): Buffer => rawMessage(MessageType.EventUserEvent, 1, Buffer.concat([u16(999), nestedList(depth)]));

/** EventUserEvent with `n` int32 attributes. */
function manyAttrsFrame(n: number): Buffer {
  const one = (i: number): Buffer => Buffer.concat([u16(1000 + (i % 1000)), Buffer.from([1]), u32(i)]);
  return rawMessage(MessageType.EventUserEvent, n, Buffer.concat(Array.from({ length: n }, (_, i) => one(i))));
}

/** EventUserEvent whose one string attribute declares `declared` bytes and carries `actual`. */
function stringFrame(declared: number, actual: number): Buffer {
  return rawMessage(MessageType.EventUserEvent, 1, Buffer.concat([u16(999), Buffer.from([0]), u32(declared), Buffer.alloc(actual, 0x61)]));
}

interface LimitRow {
  limit: string;
  defaultValue: number;
  /** A frame right at the limit: accepted. */
  atLimit: () => Buffer;
  /** The same frame one step past it. */
  over: () => Buffer;
  code: string;
}

const ROWS: LimitRow[] = [
  { limit: 'maxDepth (list nesting)', defaultValue: 8, atLimit: () => deepFrame(8), over: () => deepFrame(9), code: 'ERR_DEPTH_EXCEEDED' },
  { limit: 'maxAttributes (per frame)', defaultValue: 4096, atLimit: () => manyAttrsFrame(4096), over: () => manyAttrsFrame(4097), code: 'ERR_TOO_MANY_ATTRIBUTES' },
  // Strings have no limit of their own: a string is bounded by its frame (maxFrameSize).
  { limit: 'string length (bounded by its frame)', defaultValue: DEFAULT_LIMITS.maxFrameSize, atLimit: () => stringFrame(64, 64), over: () => stringFrame(65, 64), code: 'ERR_TRUNCATED' },
];

const KINDS = (['node', 'native'] as const).filter((k) => k === 'node' || nativeOk);

describe('documented defaults', () => {
  it('codec limits and the process budget have the documented defaults', () => {
    expect(DEFAULT_LIMITS).toMatchObject({ maxFrameSize: 1024 * 1024, maxDepth: 8, maxAttributes: 4096 });
    expect(DEFAULT_NATIVE_MEMORY_LIMIT).toBe(256 * 1024 * 1024);
    if (nativeOk) expect(nativeIoStats().memoryLimit).toBe(DEFAULT_NATIVE_MEMORY_LIMIT);
    expect(() => setNativeMemoryLimit(0)).toThrow(/positive integer/);
    expect(() => setNativeMemoryLimit(1.5)).toThrow(/positive integer/);
  });
});

describe.each(KINDS)('codec limits at their defaults, exceeded by a real peer (%s transport)', (kind) => {
  const cleanups: Array<() => Promise<unknown> | unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function connected(p: TestPeer, o: Partial<TransportOptions> = {}): Promise<{ t: Transport; rec: Recorder; pc: PeerConnection }> {
    const conn = p.nextConnection();
    const t = createTransport({ host: '127.0.0.1', port: p.port, connectTimeoutMs: 2000, addp: false, ...o }, kind);
    cleanups.push(() => t.destroy());
    const rec = new Recorder(t);
    await t.connect();
    return { t, rec, pc: await conn };
  }

  it.each(ROWS)('$limit (default $defaultValue): at the limit accepted, past it $code, connection closed, another keeps working', async (row) => {
    const p = await TestPeer.start();
    cleanups.push(() => p.close());
    const bad = await connected(p);
    const good = await connected(p);
    bad.pc.sendRaw(row.atLimit());
    await bad.rec.until(() => bad.rec.frames.length >= 1, 5000, 'frame at the limit');
    expect(bad.rec.frames[0]!.type).toBe(MessageType.EventUserEvent);
    bad.pc.sendRaw(row.over());
    const info: CloseInfo = await within(bad.rec.closed, 5000, 'close');
    expect(info.reason).toBe('protocol-error');
    expect(info.error).toBeInstanceOf(ProtocolError);
    expect(info.error!.code).toBe(row.code);
    expect(bad.rec.frames).toHaveLength(1);
    expect(bad.t.connected).toBe(false);
    await within(bad.pc.ended, 5000, 'peer sees the bad connection end');
    // Same process, same peer: the other connection is untouched.
    good.t.send(encodeMessage(MessageType.RequestRegisterClient, { ApplicationName: 'limits', ReferenceID: 7 }));
    await good.rec.waitFrame((f) => getAttr(f, Attr.ReferenceID) === 7);
    expect(good.t.connected).toBe(true);
  });

  it('unsent bytes past maxQueuedBytes (peer not reading): queue-overflow; the same load to a reading peer is fine', async () => {
    const p = await TestPeer.start();
    cleanups.push(() => p.close());
    const maxQueuedBytes = 256 * 1024;
    const stuck = await connected(p, { maxQueuedBytes });
    const reading = await connected(p, { maxQueuedBytes });
    stuck.pc.silence(); // the socket stays open; the kernel buffers fill, then our queue grows
    const frame = encodeMessage(MessageType.RequestDistributeUserEvent, { 999: new Uint8Array(16 * 1024) });
    let sent = 0;
    const limit = 64 * 1024 * 1024; // far beyond what loopback kernel buffers absorb
    while (stuck.t.connected && sent * frame.length < limit) {
      for (let i = 0; i < 4; i++) {
        if (stuck.t.connected) stuck.t.send(frame);
        reading.t.send(frame);
        sent++;
      }
      // Paced by the reading peer, not by the clock: the next 64 KiB goes out once the reading peer has
      // everything but the last 64 KiB, so the reading connection never has more than ~128 KiB in flight
      // (half its bound), however slow the I/O thread or the peer is scheduled. The stuck connection gets
      // the same bytes and never drains: it must overflow. (A fixed 2 ms pace let the reading connection's
      // queue reach its bound too when the I/O thread was not scheduled for a few turns.)
      await reading.pc.until(() => reading.pc.received.length >= sent - 4 || undefined, 20_000, 'the reading peer keeps up');
    }
    const info = await within(stuck.rec.closed, 20_000, 'stuck connection closes');
    expect(info.reason).toBe('queue-overflow');
    expect(info.error!.code).toBe('ERR_QUEUE_OVERFLOW');
    await reading.pc.until(() => reading.pc.received.length >= sent || undefined, 20_000, 'all frames at the reading peer');
    expect(reading.rec.closes).toEqual([]);
    expect(reading.t.connected).toBe(true);
  }, 60_000);
});

describe.skipIf(!nativeOk)(`native per-process budget${skip ? ` — SKIPPED: ${skip}` : ''}`, () => {
  const cleanups: Array<() => Promise<unknown> | unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
    setNativeMemoryLimit(DEFAULT_NATIVE_MEMORY_LIMIT);
  });

  it('holds across 3 connections JS does not drain: reading pauses, resumes, everything arrives in order', async () => {
    // No peer ADDP: while we pause, its polls would wait behind unread data (DESIGN.md pitfall 3).
    const p = await ChildPeer.start({ addpTimeoutMs: 0 });
    cleanups.push(() => p.kill());
    const cap = 2 * 1024 * 1024;
    // One 64 KiB read per connection (plus its 64-byte index records) may overshoot the budget before that
    // connection pauses.
    const slack = 3 * 192 * 1024;
    setNativeMemoryLimit(cap);
    // Our ADDP runs throughout (paused reading must not look like a dead peer); its T grows with the
    // measured scheduling delay so that a peer slow to be scheduled is not one (500 ms when idle).
    const addpMs = await liveTimeoutMs(500, { capMs: 3000 });
    type Probe = { t: Transport; seqs: number[]; linked: boolean; closes: CloseInfo[]; bp: Array<{ paused: boolean; queuedBytes: number }> };
    const probes: Probe[] = [];
    for (let i = 0; i < 3; i++) {
      // Per-connection bound left at its default (32 MiB): only the process budget can pause these.
      const t = createTransport({ host: '127.0.0.1', port: p.port, addp: { timeoutMs: addpMs } }, 'native');
      cleanups.push(() => t.destroy());
      const probe: Probe = { t, seqs: [], linked: false, closes: [], bp: [] };
      t.on('frames', (b) => {
        for (let j = 0; j < b.count; j++) {
          if (b.type(j) === MessageType.EventRouteRequest) probe.seqs.push(b.seq(j));
          else if (b.type(j) === MessageType.EventLinkConnected) probe.linked = true;
        }
      });
      t.on('close', (c) => probe.closes.push(c));
      t.on('backpressure', (x) => probe.bp.push(x));
      await t.connect();
      t.send(encodeMessage(MessageType.RequestRegisterClient, { ApplicationName: `budget-${i}`, ReferenceID: 1 }));
      probes.push(probe);
    }
    // The peer streams to registered connections only: all three answered (so registered) before it starts.
    await until(() => probes.every((x) => x.linked), 10_000, 'all three registered');
    p.stream(0, 256); // as fast as the sockets take, the same events to all three
    // JS drains nothing until the I/O thread has stopped reading all three (the budget, not a fixed stall,
    // ends this). If the budget did not hold, the held bytes would run past cap + slack (given up at 4 × cap,
    // or stopped only by the 3 × 32 MiB per-connection bounds) and the peak check below fails; if a
    // connection never paused, this gives up after 30 s and `stall.paused` fails.
    const stall = blockUntilReadingPaused({ port: p.port, conns: 3, atLeast: cap, giveUpAbove: 4 * cap });
    const afterStall = nativeIoStats();
    if (process.env.LIMITS_DEBUG) console.log(JSON.stringify({ stall, afterStall }));
    // Keep streaming until each connection alone was offered more than the whole budget (a number of
    // events, not a speed: however long the machine takes).
    await until(async () => (await p.stats()).sent * p.frameBytes > 2 * cap, 30_000, 'the peer offered more than the budget');
    p.stopStream();
    const { sent } = await p.stats();
    await until(() => probes.every((x) => x.seqs.length >= sent), 30_000, () => `all ${sent} events at every connection (${probes.map((x) => x.seqs.length).join(', ')})`);

    // The budget was reached (so it is what bounded the stall) and held.
    expect(stall.paused).toBe(true);
    expect(afterStall.peakBytes).toBeGreaterThanOrEqual(cap);
    expect(afterStall.peakBytes).toBeLessThanOrEqual(cap + slack);
    expect(sent * p.frameBytes).toBeGreaterThan(2 * cap); // the peer offered far more than the budget
    for (const x of probes) {
      expect(x.closes).toEqual([]);
      expect(x.bp.some((b) => b.paused)).toBe(true);
      expect(x.bp.some((b) => !b.paused)).toBe(true);
      for (const b of x.bp) expect(b.queuedBytes).toBeLessThanOrEqual(cap + slack);
      expect(x.seqs.length).toBe(sent);
      expect(x.seqs.every((s, i) => s === i + 1)).toBe(true);
    }
    expect(nativeIoStats().peakBytes).toBeLessThanOrEqual(cap + slack); // held while catching up too
    const end = nativeIoStats();
    expect(end.queuedBytes).toBe(0);
    expect(end.heldBytes).toBe(0);
  }, 120_000);

  it('a hold window yields to the process budget: oldest evicted (evictedUpTo), the rest released in order', async () => {
    const p = await TestPeer.start();
    cleanups.push(() => p.close());
    const conn = p.nextConnection();
    const t = createTransport({ host: '127.0.0.1', port: p.port, addp: false }, 'native');
    cleanups.push(() => t.destroy());
    const rec = new Recorder(t);
    await t.connect();
    const pc = await conn;
    const cap = 256 * 1024;
    setNativeMemoryLimit(cap);
    // The window's own bounds are far away: only the process budget can evict.
    t.hold({ maxFrames: 1_000_000, maxBytes: 1 << 30 });
    const n = 20_000;
    const frames = Array.from({ length: n }, (_, i) =>
      encodeMessage(MessageType.EventRouteRequest, { ThisDN: '5001', ConnID: int64(0x1000n + BigInt(i + 1)), EventSequenceNumber: int64(i + 1) }));
    const total = frames.reduce((a, f) => a + f.length, 0);
    expect(total).toBeGreaterThan(2 * cap);
    pc.sendRaw(Buffer.concat(frames));
    pc.send(MessageType.EventACK, { ReferenceID: 1 }); // unsequenced: emitted, marks the end
    await rec.until(() => rec.frames.length >= 1, 10_000, 'marker');
    const held = nativeIoStats().heldBytes;
    expect(held).toBeGreaterThan(0);
    expect(held).toBeLessThanOrEqual(cap);
    const r = await t.release(0);
    const seqs = Array.from({ length: r.batch.count }, (_, i) => r.batch.seq(i));
    expect(r.evictedUpTo).toBeGreaterThan(0);
    expect(r.firstSeenSeq).toBe(1);
    expect(seqs[0]).toBe(r.evictedUpTo + 1);
    expect(seqs[seqs.length - 1]).toBe(n);
    expect(seqs.every((s, i) => s === seqs[0]! + i)).toBe(true);
    expect(nativeIoStats().heldBytes).toBe(0);
    expect(t.connected).toBe(true);
  }, 30_000);
});
