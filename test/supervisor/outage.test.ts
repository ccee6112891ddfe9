/**
 * Outages do not trip the breaker; failing servers do (lib/endpoint/breaker.ts, lib/pair/supervisor.ts).
 * The breaker used to count every failed attempt, so any outage longer than ~5 fast-phase attempts opened
 * it and a server that came back was connected again only at the re-probe, 5–15 s later. Now attempts
 * that got no answer (refused, timed out) are paced by the reconnect schedule alone, and the breaker counts
 * attempts a server answered with a failure.
 *
 * Checked by events and counts against the real simulator: the restarted (or continued) server gets
 * connected again, every attempt meanwhile touched the network (none was refused by an open breaker), no
 * breaker opened, and attempts were at least `minDelayMs` apart. Never by speed; the deadlines are failure
 * guards only.
 */
import diagnostics from 'node:diagnostics_channel';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { TServerPair } from '../../lib/pair/pair.js';
import type { EndpointName } from '../../lib/endpoint/endpoint.js';
import type { BreakerEvent, EventServerConnected, EventServerDisconnected } from '../../lib/pair/events.js';
import { monotonicMs } from '../../lib/clock.js';
import { DEFAULTS } from '../../lib/config.js';
import { startSimulation, type Simulation } from '../../lib/sim/index.js';
import { transportsUnderTest } from '../pair/transports.js';
import { nextEvent, openBothConnected } from '../helpers/pair-events.js';

let sim: Simulation | undefined;
let pair: TServerPair | undefined;
let server: net.Server | undefined;
const unsubscribe: (() => void)[] = [];
afterEach(async () => {
  for (const u of unsubscribe.splice(0)) u();
  await pair?.close();
  pair = undefined;
  await sim?.stop();
  sim = undefined;
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

interface Attempt {
  endpoint: EndpointName;
  code: string;
  at: number;
}

interface Attempts extends Array<Attempt> {
  /** Resolves once `pred` holds for the attempts recorded (checked at each one); rejects after `guardMs`. */
  until(pred: (all: Attempt[]) => boolean, guardMs: number, what: string): Promise<void>;
}

/** Every failed attempt of pair `name` (the `tserver-ha:attempt-failed` channel: every one, unsampled). */
function recordAttempts(name: string): Attempts {
  const out = [] as unknown as Attempts;
  const waiters = new Set<() => void>();
  const on = (m: unknown) => {
    const a = m as { pair: string; endpoint: EndpointName; error: { code?: string } };
    if (a.pair !== name) return;
    out.push({ endpoint: a.endpoint, code: String(a.error?.code), at: monotonicMs() });
    for (const w of [...waiters]) w();
  };
  out.until = (pred, guardMs, what) =>
    new Promise((resolve, reject) => {
      const check = () => {
        if (!pred(out)) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`no ${what} within ${guardMs} ms`));
      }, guardMs);
      waiters.add(check);
      check();
    });
  diagnostics.subscribe('tserver-ha:attempt-failed', on);
  unsubscribe.push(() => diagnostics.unsubscribe('tserver-ha:attempt-failed', on));
  return out;
}

async function hotPair(name: string, transport: 'native' | 'node'): Promise<{ sim: Simulation; pair: TServerPair; breakers: BreakerEvent[]; attempts: Attempts }> {
  sim = await startSimulation({ mode: 'hot', rate: 0 });
  const attempts = recordAttempts(name);
  // Default options: the defaults are what is under test.
  pair = new TServerPair({
    name,
    primary: { host: sim.primary.host, port: sim.primary.port },
    backup: { host: sim.backup.host, port: sim.backup.port },
    mode: 'hot',
    dns: [sim.routePoints[0]!],
    transport,
  });
  pair.on('error', () => {});
  const breakers: BreakerEvent[] = [];
  pair.on('breaker', (e) => breakers.push(e));
  await openBothConnected(pair);
  return { sim, pair, breakers, attempts };
}

const epOf = (s: 'A' | 'B'): EndpointName => (s === 'A' ? 'primary' : 'backup');

/** Attempts at `ep` between `from` and `to` touched the network (none refused by a breaker) and were ≥ minDelayMs apart. */
function checkOutage(attempts: Attempt[], ep: EndpointName, from: number, to: number): Attempt[] {
  const during = attempts.filter((a) => a.endpoint === ep && a.at >= from && a.at <= to);
  expect(during.filter((a) => a.code === 'ERR_BREAKER_OPEN')).toEqual([]);
  // Bounded: one attempt at a time, minDelayMs × 1..2 apart (p-retry), the first at once: at most about
  // (outage / minDelayMs) + 1 failures; 10 % and one attempt of slack for timers that fire a little early.
  // Slowness only lowers the count.
  expect(during.length).toBeLessThanOrEqual(Math.floor((to - from) / (0.9 * DEFAULTS.retry.minDelayMs)) + 2);
  return during;
}

describe('outages do not trip the breaker', { timeout: 180_000 }, () => {
  for (const transport of transportsUnderTest()) {
    it(`a killed and restarted server is connected again at the schedule's pace, breaker closed (${transport})`, async () => {
      const { sim: s, pair: p, breakers, attempts } = await hotPair(`Restart-${transport}`, transport);
      let refused = 0;
      for (let i = 0; i < 4; i++) {
        const name = s.roles().A === 0 ? 'A' : 'B';
        const ep = epOf(name);
        const lost = nextEvent<EventServerDisconnected>(p, 'EventServerDisconnected', (e) => e.source === ep, 60_000, `the loss of ${ep}`);
        const back = nextEvent<EventServerConnected>(p, 'EventServerConnected', (e) => e.source === ep, 60_000, `${ep} connected again after restart ${i + 1}`);
        await s.fault({ kind: 'restart', server: name });
        const l = await lost;
        const c = await back;
        const during = checkOutage(attempts, ep, l.timestamp, c.timestamp);
        refused += during.filter((a) => a.code === 'ERR_CONNECT_REFUSED').length;
        expect(p.state.endpoints[ep].server).toBe('open');
      }
      // The restarts were outages the pair tried through (refused attempts), and none opened a breaker.
      expect(refused).toBeGreaterThan(0);
      expect(breakers.filter((b) => b.state === 'open')).toEqual([]);
    });
  }

  it('a stopped server (attempts time out) that continues is connected again, breaker closed (native when available)', async () => {
    const transport = transportsUnderTest().includes('native') ? 'native' : 'node';
    const { sim: s, pair: p, breakers, attempts } = await hotPair('Stop', transport);
    for (let i = 0; i < 2; i++) {
      const name = s.roles().A === 0 ? 'A' : 'B';
      const ep = epOf(name);
      const lost = nextEvent<EventServerDisconnected>(p, 'EventServerDisconnected', (e) => e.source === ep, 60_000, `the loss of ${ep}`);
      const before = attempts.length;
      await s.fault({ kind: 'stop', server: name });
      const l = await lost;
      // More failed attempts than the breaker's volumeThreshold, each an ADDP or handshake timeout: an old
      // breaker opened here. Waited for by count (each takes an ADDP timeout, whatever the machine).
      const enough = DEFAULTS.breaker.volumeThreshold + 1;
      await attempts.until((all) => all.slice(before).filter((a) => a.endpoint === ep).length >= enough, 120_000, `${enough} failed attempts at the stopped server`);
      const back = nextEvent<EventServerConnected>(p, 'EventServerConnected', (e) => e.source === ep, 60_000, `${ep} connected again after SIGCONT ${i + 1}`);
      await s.fault({ kind: 'cont', server: name });
      const c = await back;
      checkOutage(attempts, ep, l.timestamp, c.timestamp);
    }
    expect(breakers.filter((b) => b.state === 'open')).toEqual([]);
  });
});

describe('a server that answers every attempt with a failure is held off by the breaker', { timeout: 120_000 }, () => {
  it('opens after volumeThreshold failures, then refuses attempts without touching the network', async () => {
    // The backup accepts every connection and closes it at once: each attempt costs that server a session.
    server = net.createServer((sock) => sock.destroy());
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as net.AddressInfo).port;
    let accepted = 0;
    server.on('connection', () => accepted++);
    sim = await startSimulation({ mode: 'hot', rate: 0 });
    const attempts = recordAttempts('Failing');
    pair = new TServerPair({
      name: 'Failing',
      primary: { host: sim.primary.host, port: sim.primary.port },
      backup: { host: '127.0.0.1', port },
      mode: 'hot',
      transport: 'node',
      // A re-probe far away: everything after the opening must be refused by the breaker.
      breaker: { resetTimeoutMs: 600_000 },
    });
    pair.on('error', () => {});
    const opened = nextEvent<BreakerEvent>(pair, 'breaker', (e) => e.source === 'backup' && e.state === 'open', 60_000, 'the backup breaker opening');
    await pair.open();
    await opened;
    const backup = () => attempts.filter((a) => a.endpoint === 'backup');
    // The first attempt the open breaker refused (the one that opened it is reported just before).
    await attempts.until(() => backup().some((a) => a.code === 'ERR_BREAKER_OPEN'), 60_000, 'an attempt refused by the breaker');
    const first = backup().findIndex((a) => a.code === 'ERR_BREAKER_OPEN');
    const acceptedAtOpen = accepted;
    expect(first).toBeGreaterThanOrEqual(DEFAULTS.breaker.volumeThreshold);
    expect(acceptedAtOpen).toBeGreaterThanOrEqual(DEFAULTS.breaker.volumeThreshold);
    // The next 10 attempts (by count, at the schedule's pace) are refused by the breaker too: no connection.
    await attempts.until(() => backup().length >= first + 11, 60_000, '10 more attempts at the backup');
    const after = backup().slice(first, first + 11);
    expect(after.map((a) => a.code)).toEqual(after.map(() => 'ERR_BREAKER_OPEN'));
    expect(accepted).toBe(acceptedAtOpen);
    expect(pair.state.endpoints.backup.breaker).toBe('open');
  });
});
