/**
 * Regression tests for the listener, handshake and write-path defects of the outside review (each fails on
 * the code before the fixes, 18d8df4, except where noted): a throwing listener, a timed-out handshake's
 * error code, an `events()` consumer that stops reading, and a write that closes its connection inside
 * the dispatch of queued requests.
 */
import diagnostics from 'node:diagnostics_channel';
import { afterEach, describe, expect, it } from 'vitest';
import { startSimulation, type Simulation } from '../../lib/sim/index.js';
import { TServerPair } from '../../lib/pair/pair.js';
import type { TServerPairOptions } from '../../lib/config.js';
import { HandshakeError, RequestTimeoutError, SwitchoverError, TServerHaError } from '../../lib/errors.js';
import { Attr, MessageType } from '../../lib/protocol/ids.js';
import { getAttr } from '../../lib/protocol/message.js';
import type { MessageFrame } from '../../lib/protocol/types.js';
import type { AttributeInput } from '../../lib/protocol/encoder.js';
import { NodeTransport } from '../../lib/transport/node-transport.js';
import type { TransportOptions } from '../../lib/transport/types.js';
import { TestPeer } from '../helpers/peer.js';
import { eventually, lastDelivered, Recorder, within } from './defects-helpers.js';
import { sleep, until } from './harness.js';
import { transportsUnderTest } from './transports.js';

let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
  cleanups = [];
});

/** A hot pair on a simulator without generated traffic: events come only from `sim.emit(n)`. */
async function hotPair(pairOpts: Partial<TServerPairOptions>): Promise<{ sim: Simulation; pair: TServerPair; rec: Recorder }> {
  const sim = await startSimulation({ mode: 'hot', rate: 0 });
  cleanups.push(() => sim.stop());
  const pair = new TServerPair({
    name: 'Defects',
    primary: { host: sim.primary.host, port: sim.primary.port },
    backup: { host: sim.backup.host, port: sim.backup.port },
    mode: 'hot',
    dns: [...sim.routePoints, ...sim.agents],
    ...pairOpts,
  });
  cleanups.push(() => pair.close());
  const rec = new Recorder(pair);
  await pair.open();
  await until(() => pair.state.active === 'primary' && pair.state.endpoints.backup.link === 'up', 15_000, 'steady state');
  return { sim, pair, rec };
}

/** Emit `n` switch events and wait until the pair delivered the last of them. */
async function emitAndDeliver(sim: Simulation, rec: Recorder, n: number): Promise<void> {
  const { seq } = await sim.emit(n);
  await until(() => lastDelivered(sim, rec) >= seq, 15_000, () => `delivery up to switch seq ${seq} (at ${lastDelivered(sim, rec)})`);
}

describe('defect: a throwing `event` listener makes events() skip that event', () => {
  it('a listener that throws on every event: an events() consumer and a later listener still see every event, in order; the exceptions arrive as ListenerError', async () => {
    const { sim, pair, rec } = await hotPair({ transport: 'node' });
    const errors: unknown[] = [];
    pair.on('error', (err) => errors.push(err));
    let thrown = 0;
    pair.on('event', () => {
      thrown++;
      throw new Error('listener failed');
    });
    const ac = new AbortController();
    const iterated: number[] = [];
    const consumer = (async () => {
      for await (const r of pair.events({ signal: ac.signal })) if (r.type === 'event') iterated.push(r.data.seq);
    })();
    const later: number[] = [];
    pair.on('event', (e) => later.push(e.seq));
    await sleep(50);
    const from = rec.events.length;
    await emitAndDeliver(sim, rec, 300);
    const first = rec.events.slice(from).map((e) => e.seq);
    expect(first.length).toBeGreaterThanOrEqual(300);
    await eventually(() => iterated.length >= first.length, 5_000);
    expect(iterated, 'what the events() consumer saw').toEqual(first);
    expect(later, 'what the listener registered after the throwing one saw').toEqual(first);
    expect(thrown).toBe(first.length);
    expect(errors.length).toBe(thrown);
    for (const err of errors) expect(err).toMatchObject({ name: 'ListenerError', code: 'ERR_LISTENER', event: 'event' });
    ac.abort();
    await consumer;
  }, 60_000);
});

describe('suspected: events() buffers without bound for a slow consumer', () => {
  it('events({ maxBuffered: 100 }) whose consumer stops reading ends with EventsOverflowError; other listeners and iterators keep receiving', async () => {
    const { sim, pair, rec } = await hotPair({ transport: 'node' });
    const ac = new AbortController();
    cleanups.push(async () => ac.abort());
    const slow = pair.events({ maxBuffered: 100, signal: ac.signal });
    const firstRead = slow.next();
    const start = rec.events.length;
    const fast: number[] = [];
    const fastDone = (async () => {
      for await (const r of pair.events({ signal: ac.signal })) if (r.type === 'event') fast.push(r.data.seq);
    })();
    await emitAndDeliver(sim, rec, 10);
    expect((await firstRead).done).toBe(false);
    // The slow consumer stops reading; 500 more events.
    const from = rec.events.length;
    await emitAndDeliver(sim, rec, 500);
    const drained: unknown[] = [];
    let end: unknown = 'unsettled';
    for (;;) {
      const r = await within(slow.next(), 2_000);
      if (r === 'unsettled') break;
      if ('error' in r) {
        end = r.error;
        break;
      }
      if (r.value.done) {
        end = 'done';
        break;
      }
      drained.push(r.value.value);
    }
    expect(end, `after ${drained.length} buffered events`).toBeInstanceOf(TServerHaError);
    expect(end).toMatchObject({ name: 'EventsOverflowError', code: 'ERR_EVENTS_OVERFLOW', maxBuffered: 100 });
    expect(drained.length).toBeLessThanOrEqual(100);
    // Everyone else got all of it: the synchronous listener and a second, reading iterator.
    const all = rec.events.slice(from).map((e) => e.seq);
    expect(all.length).toBeGreaterThanOrEqual(500);
    await emitAndDeliver(sim, rec, 10);
    await eventually(() => fast.length >= rec.events.length - start, 5_000);
    expect(fast).toEqual(rec.events.slice(start).map((e) => e.seq));
    ac.abort();
    await fastDone;
  }, 60_000);
});

describe.each(transportsUnderTest())('defect: a handshake that times out is reported as ERR_TRANSPORT_CLOSED (%s transport)', (transport) => {
  it.each([
    ['without ADDP (the handshake deadline ends it)', false],
    ['with the default ADDP (the heartbeat ends it first: was reported as ERR_ADDP_TIMEOUT)', undefined],
  ] as const)('a server that accepts and never answers RequestRegisterClient, %s: each failed attempt is a HandshakeError (ERR_HANDSHAKE)', async (_what, addp) => {
    // Accepts TCP, then says nothing — not even to ADDP polls.
    const primary = await TestPeer.start({ autoReply: false, silent: true });
    const backup = await TestPeer.start({ autoReply: false, silent: true });
    cleanups.push(() => primary.close(), () => backup.close());
    const name = `Silent-${transport}-${String(addp)}-${process.pid}`;
    const failures: { pair: string; endpoint?: string; attempt: number; error: Error }[] = [];
    const onFailed = (m: unknown) => {
      if ((m as { pair: string }).pair === name) failures.push(m as (typeof failures)[number]);
    };
    diagnostics.subscribe('tserver-ha:attempt-failed', onFailed);
    cleanups.push(async () => void diagnostics.unsubscribe('tserver-ha:attempt-failed', onFailed));
    const pair = new TServerPair({
      name, mode: 'warm', transport, ...(addp === false ? { addp: false as const } : {}), breaker: false, connectTimeoutMs: 200, handshakeTimeoutMs: addp === false ? 300 : 3000, openTimeoutMs: 20_000,
      retry: { minDelayMs: 50, maxDelayMs: 200 },
      primary: { host: '127.0.0.1', port: primary.port }, backup: { host: '127.0.0.1', port: backup.port },
    });
    cleanups.push(() => pair.close());
    const opening = pair.open().catch((err: unknown) => err);
    await until(() => failures.length >= 3, 15_000, () => `three failed attempts (${failures.length})`);
    // The servers did get the registration: these attempts failed in the handshake, not in connect.
    expect([...primary.connections, ...backup.connections].some((c) => c.received.some((f) => f.type === MessageType.RequestRegisterClient))).toBe(true);
    for (const f of failures.slice(0, 3)) {
      expect(f.error, `attempt ${f.attempt}: ${f.error?.message}`).toBeInstanceOf(HandshakeError);
      expect(f.error).toMatchObject({ code: 'ERR_HANDSHAKE' });
      expect(['primary', 'backup']).toContain(f.endpoint);
    }
    await pair.close();
    await opening;
  }, 60_000);
});

describe('suspected: re-entrant dispatch when a write closes the connection synchronously (node transport)', () => {
  it('queued requests dispatched into a connection that overflows inside send(): each settles once, the re-queued ones reach the next server', async () => {
    const primary = await TestPeer.start();
    const backup = await TestPeer.start();
    cleanups.push(() => primary.close(), () => backup.close());
    // Connections to the primary have a small queue (the node transport closes *inside* send() past it);
    // the backup, where the pair goes next, is a normal connection to a server that reads.
    const maxQueuedBytes = 64 * 1024;
    const factory = (o: TransportOptions) => new NodeTransport(o.port === primary.port ? { ...o, maxQueuedBytes } : o);
    const pair = new TServerPair({
      name: 'Overflow', mode: 'warm', addp: false, transport: factory,
      primary: { host: '127.0.0.1', port: primary.port }, backup: { host: '127.0.0.1', port: backup.port },
    });
    cleanups.push(() => pair.close());
    const rec = new Recorder(pair);
    pair.on('error', () => {});
    await pair.open();
    const c1 = primary.connections.find((c) => !c.gone)!;
    c1.silence(); // stops reading: nothing it is sent gets answered
    const route = (id: string, n: number, idempotent: boolean, bytes = 0) => {
      const attrs: AttributeInput = bytes ? { ThisDN: '7000', ConnID: BigInt(n), OtherDN: id, RouteType: 2, 999: new Uint8Array(bytes) } : { ThisDN: '7000', ConnID: BigInt(n), OtherDN: id, RouteType: 2 };
      // The non-idempotent ones opt out of RequestRouteCall's repeat rule: this test is about settling once.
      return pair.request('RequestRouteCall', attrs, { timeoutMs: 8_000, idempotent, ...(idempotent ? {} : { repeat: false }) });
    };
    const track = (id: string, p: Promise<MessageFrame>) => p.then((f) => ({ id, outcome: f.type === MessageType.EventACK ? 'reply' : `reply ${f.type}` }), (err: unknown) => ({ id, outcome: err instanceof SwitchoverError ? 'SwitchoverError' : err instanceof RequestTimeoutError ? 'RequestTimeoutError' : String(err) }));
    // Five idempotent requests written to the silent server, unanswered.
    const idem = [1, 2, 3, 4, 5].map((n) => track(`idem-${n}`, route(`idem-${n}`, n, true)));
    await until(() => pair.state.endpoints.primary.pendingRequests === 5, 5_000, 'five requests pending on the primary');
    // Its CTI link drops: no usable server, so twenty large requests queue.
    c1.send(MessageType.EventLinkDisconnected, { ApplicationName: 'test-peer', TimeinSecs: 1_700_000_000, TimeinuSecs: 0 });
    await until(() => pair.state.active === null, 5_000, 'no usable server');
    const queued = Array.from({ length: 20 }, (_, i) => track(`q-${i + 1}`, route(`q-${i + 1}`, 100 + i, false, 16 * 1024)));
    expect(pair.state.queuedRequests).toBe(20);
    // The link comes back: the queue is dispatched at once, and a write past maxQueuedBytes closes the
    // connection inside send(), in the middle of that dispatch.
    c1.send(MessageType.EventLinkConnected, { ApplicationName: 'test-peer', TimeinSecs: 1_700_000_000, TimeinuSecs: 0 });
    const results = await Promise.all([...idem, ...queued].map((p) => within(p, 8_000 + 5_000)));
    const disc = rec.log.find((r) => r.kind === 'other' && r.name === 'EventServerDisconnected');
    expect(disc?.kind === 'other' && (disc.data as { reason: string }).reason, 'the first connection ended by queue overflow').toBe('queue-overflow');
    // Every request settled, with an answer from the server that reads or (written to the lost one) SwitchoverError.
    const outcomes = results.map((r) => (r === 'unsettled' ? { id: '?', outcome: 'unsettled' } : 'value' in r ? r.value : { id: '?', outcome: String(r.error) }));
    const receipts = (id: string) =>
      [...primary.connections, ...backup.connections].flatMap((c) => c.received).filter((f) => f.type === MessageType.RequestRouteCall && getAttr(f, Attr.OtherDN) === id).length;
    const summary = outcomes.map((o) => `${o.id}:${o.outcome}:${receipts(o.id)}`).join(' ');
    for (const o of outcomes) expect(['reply', 'SwitchoverError'], summary).toContain(o.outcome);
    // The idempotent ones were re-sent once each to the server that reads, and answered there.
    for (const o of outcomes.slice(0, 5)) {
      expect(o.outcome, summary).toBe('reply');
      expect(receipts(o.id), `${o.id} received by a reading server; ${summary}`).toBe(1);
    }
    // A queued one that was not lost with the connection was sent on, once.
    for (const o of outcomes.slice(5)) if (o.outcome === 'reply') expect(receipts(o.id), summary).toBe(1);
    // Those the overflow left in our buffers were certainly not sent (CloseInfo.outbound): re-queued, not
    // failed — each reached the reading server exactly once (above), none twice.
    expect(pair.state.queuedRequests).toBe(0);
  }, 60_000);
});
