/**
 * Our own drops are not a failing server (lib/pair/supervisor.ts, sessionPacer). `pair.switchover()`
 * resets the source's connection (`drop('manual')`); the session pacer used to count that as a short
 * session, so repeated switchovers between two healthy servers paced their reconnects like a failing
 * server's (10 → 184 → 383 → 746 → >1150 ms with the defaults), and a later switchover found the other
 * server still disconnected: events went into a gap although nothing had failed.
 *
 * Every wait here is for an event; the only deadlines are failure guards far beyond any machine's speed.
 * The regression case runs with a pacing so slow (a minute) that any pacing of a manual drop makes it
 * time out, whatever the machine.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { TServerPair } from '../../lib/pair/pair.js';
import type { TServerPairOptions } from '../../lib/config.js';
import type { EndpointName } from '../../lib/endpoint/endpoint.js';
import type { EventServerConnected, EventServerDisconnected, GapEvent } from '../../lib/pair/events.js';
import { startSimulation, type Simulation } from '../../lib/sim/index.js';
import { TestPeer } from '../helpers/peer.js';
import { transportsUnderTest } from '../pair/transports.js';
import { nextEvent, openBothConnected } from '../helpers/pair-events.js';
import { until } from '../helpers/wait.js';

let sim: Simulation | undefined;
let pair: TServerPair | undefined;
let peer: TestPeer | undefined;
afterEach(async () => {
  await pair?.close();
  pair = undefined;
  await sim?.stop();
  sim = undefined;
  await peer?.close();
  peer = undefined;
});

async function healthyHotPair(transport: 'native' | 'node', options: Partial<TServerPairOptions>): Promise<{ sim: Simulation; pair: TServerPair; gaps: GapEvent[] }> {
  sim = await startSimulation({ mode: 'hot', rate: 50 });
  pair = new TServerPair({
    name: 'Manual',
    primary: { host: sim.primary.host, port: sim.primary.port },
    backup: { host: sim.backup.host, port: sim.backup.port },
    mode: 'hot',
    dns: [...sim.routePoints, ...sim.agents],
    transport,
    ...options,
  });
  pair.on('error', () => {});
  const gaps: GapEvent[] = [];
  pair.on('gap', (g) => gaps.push(g));
  await openBothConnected(pair);
  return { sim, pair, gaps };
}

/**
 * `count` switchovers, each once both servers are connected: the dropped server must be connected again
 * (its EventServerConnected after its EventServerDisconnected 'manual') before the next one.
 */
async function switchovers(p: TServerPair, sw: Simulation, count: number, guardMs: number): Promise<EndpointName[]> {
  const dropped: EndpointName[] = [];
  for (let i = 0; i < count; i++) {
    const source = p.state.source;
    expect(source, `switchover ${i}: delivering from a server`).not.toBeNull();
    expect(p.state.endpoints.primary.server, `switchover ${i}: primary connected`).toBe('open');
    expect(p.state.endpoints.backup.server, `switchover ${i}: backup connected`).toBe('open');
    const lost = nextEvent<EventServerDisconnected>(p, 'EventServerDisconnected', (e) => e.source === source, guardMs, `the loss of ${source}`);
    const back = nextEvent<EventServerConnected>(p, 'EventServerConnected', (e) => e.source === source, guardMs, `${source} connected again after switchover ${i + 1}`);
    p.switchover();
    const l = await lost;
    expect(l.reason).toBe('manual');
    await back;
    dropped.push(source!);
    // The server that came back registered at some point of the switch's stream; events before it reach us
    // only from the source. Dropping the source before we read up to there loses them — rightly reported
    // as a gap, and more likely the busier the machine. Wait until delivery has passed that point.
    const { seq: now } = await sw.emit(0);
    await until(() => p.state.epoch !== null && sw.toSwitchSeq(p.state.epoch, p.state.lastSeq) >= now, guardMs, () => `delivery past switch event ${now}: ${JSON.stringify(p.state)}`);
  }
  return dropped;
}

describe('a drop we chose is not paced like a failing server', { timeout: 120_000 }, () => {
  for (const transport of transportsUnderTest()) {
    it(`switchover() again and again on a healthy hot pair: each dropped server is back before the next, no gap (${transport})`, async () => {
      // Any pacing of a manual drop would be a minute here (every session is "short": fastPhaseMs 10 min;
      // pauses start at minDelayMs × factor = 1 min): the guard below would fire long before.
      const { sim: s, pair: p, gaps } = await healthyHotPair(transport, { retry: { minDelayMs: 60_000, maxDelayMs: 60_000, fastPhaseMs: 600_000 } });
      const dropped = await switchovers(p, s, 6, 30_000);
      // Delivery alternated: both servers were dropped (and reconnected) several times.
      expect(dropped.filter((d) => d === 'primary').length).toBeGreaterThanOrEqual(2);
      expect(dropped.filter((d) => d === 'backup').length).toBeGreaterThanOrEqual(2);
      expect(gaps).toEqual([]);
    });
  }

  it('with the default options too (node)', async () => {
    const { sim: s, pair: p, gaps } = await healthyHotPair('node', {});
    await switchovers(p, s, 6, 30_000);
    expect(gaps).toEqual([]);
  });

  it('a server that drops us right after the handshake is still paced', async () => {
    // The backup accepts, completes the handshake, and resets each session as soon as it opened.
    sim = await startSimulation({ mode: 'hot', rate: 0 });
    peer = await TestPeer.start({ role: 1 });
    pair = new TServerPair({
      name: 'Flapping',
      primary: { host: sim.primary.host, port: sim.primary.port },
      backup: { host: peer.host, port: peer.port },
      mode: 'hot',
      transport: 'node',
      // Every session is short (fastPhaseMs 10 min); the pause after the second short one is ≥ 1 min.
      retry: { minDelayMs: 60_000, maxDelayMs: 60_000, fastPhaseMs: 600_000 },
    });
    pair.on('error', () => {});
    let sessions = 0;
    pair.on('EventServerConnected', (e) => {
      if (e.source !== 'backup') return;
      sessions++;
      peer!.connections.at(-1)?.reset();
    });
    const second = nextEvent<EventServerDisconnected>(pair, 'EventServerDisconnected', (e) => e.source === 'backup' && sessions >= 2, 30_000, 'the second dropped session');
    await pair.open();
    const d = await second;
    // The server's drop, not ours.
    expect(d.reason).not.toBe('manual');
    // The first short session is reconnected at once, the second is followed by a pause of ≥ 1 min. Waiting
    // here cannot make a third session appear on a slow machine: the pause only gets relatively longer.
    await new Promise((r) => setTimeout(r, 1500));
    expect(sessions).toBe(2);
    expect(peer.connections.length).toBe(2);
  });
});
