/**
 * Regression tests for the request defects of the outside review (each fails on the code before the
 * fixes, 18d8df4): late and duplicate replies emitted as events, timed-out requests left in the queue,
 * idempotent re-sends in reverse order, registrations without a deadline, deadlines past 2³¹−1 ms.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startSimulation, type Simulation, type SimulationOptions } from '../../lib/sim/index.js';
import { TServerPair } from '../../lib/pair/pair.js';
import type { TServerPairOptions } from '../../lib/config.js';
import { AbortedError, ClosedError, ConfigError, RequestTimeoutError, ServerError, SwitchoverError } from '../../lib/errors.js';
import { MessageType } from '../../lib/protocol/ids.js';
import type { MessageFrame } from '../../lib/protocol/types.js';
import { TestPeer, type PeerConnection } from '../helpers/peer.js';
import { eventually, outcome, Recorder, within } from './defects-helpers.js';
import { sleep, until } from './harness.js';
import { transportsUnderTest } from './transports.js';

let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
  cleanups = [];
});

async function setup(simOpts: SimulationOptions, pairOpts: Partial<TServerPairOptions>): Promise<{ sim: Simulation; pair: TServerPair; rec: Recorder }> {
  const sim = await startSimulation(simOpts);
  cleanups.push(() => sim.stop());
  const pair = new TServerPair({
    name: 'Defects',
    primary: { host: sim.primary.host, port: sim.primary.port },
    backup: { host: sim.backup.host, port: sim.backup.port },
    mode: simOpts.mode ?? 'hot',
    dns: [...sim.routePoints, ...sim.agents],
    addp: { timeoutMs: 200 },
    retry: { minDelayMs: 50, maxDelayMs: 500 },
    breaker: { resetTimeoutMs: 500 },
    ...pairOpts,
  });
  pair.on('error', () => {});
  // Bounded: closing a pair whose server is silent must not hold the test up.
  cleanups.push(() => within(pair.close(), 5_000).then(() => undefined));
  const rec = new Recorder(pair);
  await pair.open();
  const hot = simOpts.mode !== 'warm';
  await until(() => {
    const st = pair.state;
    const up = (e: typeof st.endpoints.primary) => e.server === 'open' && e.link === 'up';
    return st.active === 'primary' && up(st.endpoints.primary) && (!hot || up(st.endpoints.backup));
  }, 15_000, () => `steady state: ${JSON.stringify(pair.state)}`);
  return { sim, pair, rec };
}

/** RequestRouteCall for a call the simulator does not know: answered by EventError 1201 (a reply with a ReferenceID). */
const routeUnknown = (pair: TServerPair, n: number, opts: { timeoutMs: number; idempotent?: boolean }) =>
  pair.request('RequestRouteCall', { ThisDN: '7000', ConnID: BigInt(900_000 + n), OtherDN: `req-${n}`, RouteType: 2 }, opts);

/** Late replies seen so far: the pair's counter, plus any that leaked out as `event` (code before the fix has no counter). */
const lateSeen = (pair: TServerPair, rec: Recorder) => ((pair.stats as { lateReplies?: number }).lateReplies ?? 0) + rec.events.filter((e) => e.ref).length;

describe.each(transportsUnderTest())('defect: a reply that arrives after its request settled is emitted as an event (%s transport)', (transport) => {
  it('late replies (server latency 500 ms, deadlines 100 ms) are dropped and counted, never emitted', async () => {
    const { sim, pair, rec } = await setup({ mode: 'hot', rate: 200 }, { transport });
    await until(() => rec.events.length > 20, 10_000, 'traffic');
    await sim.fault({ kind: 'latency', server: 'A', ms: 500 });
    const outcomes = await Promise.all(Array.from({ length: 20 }, (_, i) => routeUnknown(pair, i, { timeoutMs: 100 }).then(() => 'reply', (err: unknown) => err)));
    for (const o of outcomes) expect(o).toBeInstanceOf(RequestTimeoutError);
    // The replies come ~400 ms after their deadlines.
    await eventually(() => lateSeen(pair, rec) >= 20, 10_000);
    await sleep(100);
    const leaked = rec.events.filter((e) => e.ref);
    expect(leaked.length, 'events carrying a ReferenceID (replies emitted as events)').toBe(0);
    expect(pair.stats.lateReplies).toBe(20);
    expect(rec.events.length).toBeGreaterThan(20); // the event stream itself went on
  }, 60_000);

  it('duplicate replies: the second copy of each reply is dropped, not emitted', async () => {
    const { sim, pair, rec } = await setup({ mode: 'hot', rate: 200 }, { transport });
    await until(() => rec.events.length > 20, 10_000, 'traffic');
    await sim.fault({ kind: 'duplicate-replies', server: 'A' });
    const outcomes = await Promise.all(Array.from({ length: 20 }, (_, i) => routeUnknown(pair, i, { timeoutMs: 5_000 }).then(() => 'reply', (err: unknown) => err)));
    for (const o of outcomes) expect(o).toMatchObject({ code: 'ERR_SERVER', errorCode: 1201 });
    await eventually(() => lateSeen(pair, rec) >= 20, 10_000);
    await sleep(100);
    const leaked = rec.events.filter((e) => e.ref);
    expect(leaked.length, 'events carrying a ReferenceID (duplicate replies emitted as events)').toBe(0);
    expect(pair.stats.lateReplies).toBe(20);
  }, 60_000);
});

/** Size of the request queue inside the pair (the `internals` probe; before the fix: RequestBook.queue, an array). */
function internalQueue(pair: TServerPair): { queue: number; requeued: number; parked: number; live: number } {
  const probe = (pair as unknown as Record<symbol, (() => Record<string, number>) | undefined>)[Symbol.for('tserver-ha.internals')];
  if (typeof probe === 'function') {
    const i = probe.call(pair);
    return { queue: i.queue!, requeued: i.requeued!, parked: i.parked ?? 0, live: i.live! };
  }
  const book = (pair as unknown as { book: { queue: unknown[]; live: Set<unknown> } }).book;
  return { queue: book.queue.length, requeued: 0, parked: 0, live: book.live.size };
}

describe('defect: requests queued while no server is usable stay queued after they time out', () => {
  it('5 rounds of 1,000 requests with a 50 ms deadline, no usable server: all time out, and the queue is empty afterwards', async () => {
    const { sim, pair } = await setup({ mode: 'warm', rate: 0, autoPromote: false }, { transport: 'node' });
    await sim.fault({ kind: 'kill', server: 'primary' });
    await until(() => pair.state.active === null, 10_000, 'no usable server');
    for (let round = 0; round < 5; round++) {
      const outcomes = await Promise.all(Array.from({ length: 1000 }, () => pair.request('RequestQueryServer', {}, { timeoutMs: 50 }).then(() => 'reply', (err: unknown) => err)));
      expect(outcomes.filter((o) => !(o instanceof RequestTimeoutError))).toEqual([]);
      expect(pair.state.active).toBeNull();
    }
    expect(pair.state.queuedRequests).toBe(0);
    expect(internalQueue(pair)).toEqual({ queue: 0, requeued: 0, parked: 0, live: 0 });
  }, 60_000);
});

describe.each(transportsUnderTest())('defect: idempotent requests re-sent after a loss go out in reverse order (%s transport)', (transport) => {
  it('5 idempotent requests pending on a primary that dies are re-sent to the new primary in submission order', async () => {
    const { sim, pair } = await setup({ mode: 'hot', rate: 0, promotionDelayMs: 300 }, { transport });
    // The primary holds every request for 10 s: the five are written to it and still unanswered when it dies.
    await sim.fault({ kind: 'latency', server: 'A', ms: 10_000 });
    const order: number[] = [];
    const results = [1, 2, 3, 4, 5].map((n) =>
      routeUnknown(pair, n, { timeoutMs: 20_000, idempotent: true }).then(
        (r: MessageFrame) => (order.push(n), r),
        (err: unknown) => (order.push(n), err),
      ),
    );
    await until(() => pair.state.endpoints.primary.pendingRequests === 5, 10_000, 'five requests pending on the primary');
    await sim.fault({ kind: 'kill', server: 'A' });
    const outcomes = await Promise.all(results);
    // The switch does not know these calls: the repeat of each is answered 1201 by the new primary, which
    // cannot tell whether the first attempt ran — in doubt, said as such (SwitchoverError, the answer as cause).
    for (const o of outcomes) {
      expect(o).toBeInstanceOf(SwitchoverError);
      expect((o as SwitchoverError).cause).toBeInstanceOf(ServerError);
      expect(((o as SwitchoverError).cause as ServerError).errorCode).toBe(1201);
    }
    expect(pair.state.active).toBe('backup');
    expect(order).toEqual([1, 2, 3, 4, 5]);
  }, 60_000);
});

describe.each(transportsUnderTest())('defect: registerAddress()/unregisterAddress() never settle while a connected server does not answer (%s transport)', (transport) => {
  const requestTimeoutMs = 500;
  /** A warm pair whose only server went silent: connected (no ADDP, so it is not dropped), answering nothing. */
  async function silentPrimary(): Promise<TServerPair> {
    const { sim, pair } = await setup({ mode: 'warm', rate: 0, autoPromote: false }, { transport, addp: false, requestTimeoutMs });
    await sim.fault({ kind: 'silent', server: 'A' });
    return pair;
  }

  it('a silent primary: registerAddress() and unregisterAddress() reject with RequestTimeoutError by requestTimeoutMs', async () => {
    const pair = await silentPrimary();
    expect(outcome(await within(pair.registerAddress('9999'), requestTimeoutMs + 5_000))).toBeInstanceOf(RequestTimeoutError);
    expect(outcome(await within(pair.unregisterAddress('9999'), requestTimeoutMs + 5_000))).toBeInstanceOf(RequestTimeoutError);
    // Still connected: the deadline, not a lost connection, ended the wait.
    expect(pair.state.endpoints.primary.server).toBe('open');
  }, 60_000);

  it('a silent primary: a registration whose signal aborts rejects with AbortedError and leaves nothing pending', async () => {
    const pair = await silentPrimary();
    const ac = new AbortController();
    const pending = pair.registerAddress('9997', { signal: ac.signal });
    await sleep(50);
    expect(await within(pending, 20)).toBe('unsettled');
    ac.abort();
    expect(outcome(await within(pending, 5_000))).toBeInstanceOf(AbortedError);
    // Registrations go through the request book: one deadline, abort and failover rule for both.
    expect((pair as unknown as Record<symbol, () => Record<string, number>>)[Symbol.for('tserver-ha.internals')]!().live).toBe(0);
  }, 60_000);

  it('a silent primary: a registration pending when close() is called rejects with ClosedError', async () => {
    const pair = await silentPrimary();
    const pending = pair.registerAddress('9998');
    await sleep(50);
    const closing = pair.close();
    expect(outcome(await within(pending, 5_000))).toBeInstanceOf(ClosedError);
    await within(closing, 5_000);
  }, 60_000);
});

describe('defect: a request deadline above 2³¹−1 ms fires after ~1 ms', () => {
  it('timeoutMs 2³¹ is refused at once with ConfigError; 2³¹−1 is kept', async () => {
    const primary = await TestPeer.start();
    const backup = await TestPeer.start();
    cleanups.push(() => primary.close(), () => backup.close());
    // The server never answers RequestRouteCall: only the deadline (or close) can settle one.
    const reply = primary.reply.bind(primary);
    primary.reply = (c: PeerConnection, f: MessageFrame) => (f.type === MessageType.RequestRouteCall ? undefined : reply(c, f));
    const pair = new TServerPair({ name: 'Deadline', mode: 'warm', transport: 'node', addp: false, primary: { host: '127.0.0.1', port: primary.port }, backup: { host: '127.0.0.1', port: backup.port } });
    cleanups.push(() => pair.close());
    await pair.open();
    const attrs = { ThisDN: '7000', ConnID: 1n, OtherDN: '5000', RouteType: 2 };
    const over = outcome(await within(pair.request('RequestRouteCall', attrs, { timeoutMs: 2 ** 31 }), 2_000));
    expect(over).toBeInstanceOf(ConfigError);
    expect(over).toMatchObject({ code: 'ERR_INVALID_CONFIG' });
    const longest = pair.request('RequestRouteCall', attrs, { timeoutMs: 2 ** 31 - 1 });
    expect(await within(longest, 500)).toBe('unsettled');
    await pair.close();
    expect(outcome(await within(longest, 2_000))).toBeInstanceOf(ClosedError);
  }, 30_000);
});
