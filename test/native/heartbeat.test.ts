/**
 * Heartbeats on the I/O thread: an answered ADDP poll crosses to JS (a Heartbeat record, the transport's
 * `heartbeat` event) only while the transport has `heartbeat` listeners; the facts (round trip, when, how
 * many) are kept on the thread either way and read on demand (`heartbeatStats()`). An idle connection
 * without listeners therefore wakes the main thread for nothing. Also: the I/O-interface calls behind it
 * refuse bad arguments without touching the thread.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createTransport } from '../../lib/transport/index.js';
import type { Transport } from '../../lib/transport/types.js';
import '../../lib/native/index.js';
import { ioBinding } from '../../lib/native/io-binding.js';
import { TestPeer } from '../helpers/peer.js';
import { liveTimeoutMs } from '../helpers/timing.js';
import { nativeUnavailable } from './helpers.js';

const skip = nativeUnavailable();
if (skip !== undefined && process.env.TSERVER_HA_NATIVE === 'require') throw new Error(`TSERVER_HA_NATIVE=require: ${skip}`);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe.skipIf(skip !== undefined)(`native heartbeats on demand${skip ? ` — SKIPPED: ${skip}` : ''}`, () => {
  const cleanups: Array<() => Promise<unknown> | unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function open(T: number): Promise<{ t: Transport; records: () => number }> {
    const p = await TestPeer.start();
    cleanups.push(() => p.close());
    const t = createTransport({ host: '127.0.0.1', port: p.port, addp: { timeoutMs: T } }, 'native');
    cleanups.push(() => t.destroy());
    // Count what the hub routes to this transport, listeners or not.
    let n = 0;
    const hb = (t as unknown as { onHeartbeat: (rtt: number, at: number) => void });
    const original = hb.onHeartbeat.bind(t);
    hb.onHeartbeat = (rtt, at) => {
      n++;
      original(rtt, at);
    };
    await t.connect();
    return { t, records: () => n };
  }

  it('no listener: polls are answered and counted on the thread, no record reaches JS; a listener gets them, removing it stops them', async () => {
    const T = await liveTimeoutMs(200);
    const { t, records } = await open(T);
    // Several seconds of answered polls (sampled records would be one a second).
    await sleep(Math.max(2500, 6 * T));
    const before = t.heartbeatStats!();
    expect(before).toBeDefined();
    expect(before!.answered).toBeGreaterThanOrEqual(2);
    expect(records()).toBe(0);

    const events: Array<[number, number]> = [];
    const listener = (rtt: number, at: number) => events.push([rtt, at]);
    t.on('heartbeat', listener);
    const deadline = Date.now() + 5000 + 10 * T;
    while (events.length < 2 && Date.now() < deadline) await sleep(20);
    expect(events.length).toBeGreaterThanOrEqual(2);
    expect(records()).toBe(events.length);
    // Sampled: at most one a second per connection.
    expect(events[1]![1] - events[0]![1]).toBeGreaterThanOrEqual(999);

    t.off('heartbeat', listener);
    await sleep(200); // a record already on its way may still arrive
    const settled = records();
    await sleep(Math.max(2500, 6 * T));
    expect(records()).toBe(settled);
    expect(t.heartbeatStats!()!.answered).toBeGreaterThan(before!.answered);
  }, 30_000);

  it('a listener added before connect() is applied to the connection from the start', async () => {
    const T = await liveTimeoutMs(200);
    const p = await TestPeer.start();
    cleanups.push(() => p.close());
    const t = createTransport({ host: '127.0.0.1', port: p.port, addp: { timeoutMs: T } }, 'native');
    cleanups.push(() => t.destroy());
    const events: number[] = [];
    t.on('heartbeat', (rtt) => events.push(rtt));
    await t.connect();
    const deadline = Date.now() + 5000 + 10 * T;
    while (events.length < 1 && Date.now() < deadline) await sleep(20);
    expect(events.length).toBeGreaterThanOrEqual(1);
    expect(events[0]).toBeGreaterThanOrEqual(0);
  }, 20_000);

  it('io.heartbeat / io.heartbeats refuse bad arguments and unknown ids harmlessly', () => {
    const io = ioBinding()!;
    expect(() => io.heartbeat!(1, new Float64Array(2))).toThrow(/Float64Array\(3\)/);
    expect(() => io.heartbeat!(1, new Uint8Array(24) as unknown as Float64Array)).toThrow();
    expect(() => io.heartbeat!(-1 as number, new Float64Array(3))).not.toThrow();
    expect(io.heartbeat!(0xfffffff0, new Float64Array(3))).toBe(false);
    expect(() => (io.heartbeats as unknown as (a: unknown, b: unknown) => void)('x', true)).toThrow();
    expect(() => io.heartbeats!(0xfffffff0, true)).not.toThrow(); // unknown id: ignored on the thread
  });
});
