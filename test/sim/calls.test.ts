/**
 * The simulated switch's call model: a call waits on its route point until a RequestRouteCall routes it or
 * its route timeout sends it to its default destination; only then does an agent ring. Every wait here is
 * on an event or a bounded deadline: nothing depends on the machine's speed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { TServerPair } from '../../lib/pair/pair.js';
import type { TEvent } from '../../lib/pair/events.js';
import { Attr, MessageType, getAttr, type MessageFrame } from '../../lib/protocol/index.js';
import { DEFAULT_ROUTE_TIMEOUT_MS, SimErrorCode, startSimulation, type Simulation } from '../../lib/sim/index.js';
import { RawClient, until } from './raw-client.js';

let sim: Simulation | undefined;
const clients: RawClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await sim?.stop();
  sim = undefined;
});

async function client(port: number, dns: string[]): Promise<RawClient> {
  const c = await RawClient.connect(port);
  clients.push(c);
  await c.register('calls');
  for (const dn of dns) await c.registerDn(dn);
  return c;
}

const connOf = (f: MessageFrame) => getAttr(f, Attr.ConnID) as bigint;

describe('simulated call model', { timeout: 60_000 }, () => {
  it('defaults to a 10 s route timeout (T-Server router-timeout)', async () => {
    expect(DEFAULT_ROUTE_TIMEOUT_MS).toBe(10_000);
    sim = await startSimulation({ mode: 'hot', routePoints: 1, agents: 2 });
    expect(sim.routeTimeoutMs).toBe(10_000);
  });

  it('a call waits on its route point: no agent rings until it is routed, then the requested agent rings', async () => {
    sim = await startSimulation({ mode: 'hot', routePoints: 1, agents: 2, concurrentCalls: 2 });
    const c = await client(sim.primary.port, ['7000', '5000', '5001']);
    await sim.emit(6);
    await until(() => c.ofType(MessageType.EventRouteRequest).length === 6, 5000, 'six route requests');
    // Nothing rang: the six calls wait on 7000.
    expect(c.ofType(MessageType.EventRinging)).toEqual([]);
    const first = connOf(c.ofType(MessageType.EventRouteRequest)[0]!);
    const used = await c.request(MessageType.RequestRouteCall, { ThisDN: '7000', ConnID: first, OtherDN: '5001', RouteType: 2 });
    expect(used.type).toBe(MessageType.EventRouteUsed);
    expect(getAttr(used, Attr.OtherDN)).toBe('5001');
    // Two slots, one turn each: Ringing, a new call, Established, another new call, Released.
    await sim.emit(5);
    const ringing = await c.waitFor((f) => f.type === MessageType.EventRinging);
    expect(connOf(ringing)).toBe(first);
    expect(getAttr(ringing, Attr.ThisDN)).toBe('5001');
    await until(() => c.ofType(MessageType.EventReleased).length === 1, 5000, 'the routed call released');
    const routes = sim.oracle().routes;
    expect(routes).toHaveLength(1);
    expect(routes[0]).toMatchObject({ connId: first, routePoint: '7000', destination: '5001', by: 'request', server: 'A' });
    // After its release the call is gone.
    const late = await c.request(MessageType.RequestRouteCall, { ThisDN: '7000', ConnID: first, OtherDN: '5000' });
    expect(getAttr(late, Attr.ErrorCode)).toBe(SimErrorCode.CallNotFound);
  });

  it('a route timeout sends the call to its default destination, noted in the oracle; a late route gets 1204', async () => {
    sim = await startSimulation({ mode: 'hot', routePoints: 1, agents: 1, concurrentCalls: 1, routeTimeoutMs: 300 });
    const c = await client(sim.primary.port, ['7000', '5000']);
    await sim.emit(1);
    const rr = await c.waitFor((f) => f.type === MessageType.EventRouteRequest);
    await until(() => sim!.oracle().routes.length === 1, 5000, 'the route timeout');
    const [route] = sim.oracle().routes;
    expect(route).toMatchObject({ connId: connOf(rr), routePoint: '7000', destination: '5000', by: 'timeout', server: '' });
    const late = await c.request(MessageType.RequestRouteCall, { ThisDN: '7000', ConnID: connOf(rr), OtherDN: '5000' });
    expect(getAttr(late, Attr.ErrorCode)).toBe(SimErrorCode.RouteTimedOut);
    expect(String(getAttr(late, Attr.ErrorMessage))).toMatch(/default destination/);
    // The defaulted call then rings its agent.
    await sim.emit(3);
    const ringing = await c.waitFor((f) => f.type === MessageType.EventRinging);
    expect(connOf(ringing)).toBe(connOf(rr));
  });

  it('hot standby: a call waiting at a switchover is routed by the new primary', async () => {
    sim = await startSimulation({ mode: 'hot', routePoints: 1, agents: 1, concurrentCalls: 1, promotionDelayMs: 100 });
    const b = await client(sim.backup.port, ['7000']);
    await sim.emit(1);
    const rr = await b.waitFor((f) => f.type === MessageType.EventRouteRequest);
    const mark = b.frames.length;
    await sim.fault({ kind: 'kill', server: 'primary' });
    await b.waitFor((f) => f.type === MessageType.EventLinkConnected, 10_000, mark);
    const used = await b.request(MessageType.RequestRouteCall, { ThisDN: '7000', ConnID: connOf(rr), OtherDN: '5000' });
    expect(used.type).toBe(MessageType.EventRouteUsed);
    expect(sim.oracle().routes[0]).toMatchObject({ connId: connOf(rr), by: 'request', server: 'B' });
  });

  it('steady state through a TServerPair: every route request is answered with EventRouteUsed', async () => {
    sim = await startSimulation({ mode: 'hot' });
    const s = sim;
    const pair = new TServerPair({
      name: 'Calls',
      primary: { host: s.primary.host, port: s.primary.port },
      backup: { host: s.backup.host, port: s.backup.port },
      dns: [...s.routePoints, ...s.agents],
      transport: 'node',
    });
    let sent = 0;
    let ok = 0;
    const failed: string[] = [];
    pair.on('event', (e: TEvent) => {
      if (e.type !== MessageType.EventRouteRequest) return;
      sent++;
      pair.request('RequestRouteCall', { ThisDN: e.get(Attr.ThisDN) as string, ConnID: e.get(Attr.ConnID) as bigint, OtherDN: s.agents[sent % s.agents.length]!, RouteType: 2 }, { timeoutMs: 5000 })
        .then(() => ok++, (err: Error) => failed.push(err.message));
    });
    try {
      await pair.open();
      // Traffic only once every DN is registered: every call is seen by the pair.
      await s.setRate(1000);
      await until(() => sent >= 200, 20_000, '200 route requests');
      await s.setRate(0);
      await until(() => ok + failed.length === sent, 10_000, 'every request settled');
    } finally {
      await pair.close();
    }
    expect(failed).toEqual([]);
    expect(ok).toBe(sent);
    // Every call the pair routed is in the oracle as routed by a request, none by its timeout.
    const byTimeout = s.oracle().routes.filter((r) => r.by !== 'request');
    expect(byTimeout).toEqual([]);
  });
});
