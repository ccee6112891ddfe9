import { afterEach, describe, expect, it } from 'vitest';
import { Attr, MessageType, getAttr } from '../../lib/protocol/index.js';
import { LINK_BITS } from '../../lib/sim/switch.js';
import { startSimulation, type Simulation } from '../../lib/sim/index.js';
import { RawClient, until } from './raw-client.js';

let sim: Simulation | undefined;
const clients: RawClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await sim?.stop();
  sim = undefined;
});

async function client(port: number, dns: string[] = []): Promise<RawClient> {
  const c = await RawClient.connect(port);
  clients.push(c);
  await c.register('faults');
  for (const dn of dns) await c.registerDn(dn);
  return c;
}

describe('simulator faults', { timeout: 30_000 }, () => {
  it('CTI link down/up: clients get EventLinkDisconnected/Connected; events during the outage are known losses', async () => {
    sim = await startSimulation({ mode: 'hot', routePoints: 1, agents: 1, concurrentCalls: 1 });
    const dns = ['7000', '5000'];
    const c = await client(sim.primary.port, dns);
    await sim.fault({ kind: 'link-down', server: 'primary' });
    await c.waitFor((f) => f.type === MessageType.EventLinkDisconnected);
    const routeWhileDown = await c.request(MessageType.RequestRouteCall, { ThisDN: '7000', ConnID: 1n });
    expect(getAttr(routeWhileDown, Attr.ErrorCode)).toBe(1003);
    const { seq: downTo } = await sim.emit(8);
    await sim.fault({ kind: 'link-up', server: 'primary' });
    const up = await c.waitFor((f) => f.type === MessageType.EventLinkConnected, 5000, c.frames.findIndex((f) => f.type === MessageType.EventLinkDisconnected));
    expect(up).toBeDefined();
    const { seq } = await sim.emit(8);
    await until(() => c.seqs.at(-1) === seq, 5000, 'events after link up');
    // The oracle says which link each event went out on: the missed ones went to B only.
    const missed = sim.oracle().events.filter((e) => e.seq <= downTo);
    expect(missed.every((e) => (e.links & LINK_BITS.A!) === 0 && (e.links & LINK_BITS.B!) !== 0)).toBe(true);
    expect(c.seqs.every((s) => s > downTo)).toBe(true);
    expect(sim.oracle().notes.some((n) => n.text.startsWith('link-down\tA'))).toBe(true);
    await until(() => sim!.ctiRuns('A').length === 1 && sim!.ctiRuns('A')[0]![1] === seq, 5000, 'CTI runs');
    expect(sim.ctiRuns('A')).toEqual([[downTo + 1, seq]]);
  });

  it('silent partition: sockets stay open but nothing is read or written until healed', async () => {
    sim = await startSimulation({ mode: 'hot', routePoints: 1, agents: 1, concurrentCalls: 1, autoPromote: false });
    const c = await client(sim.primary.port, ['7000', '5000']);
    await sim.fault({ kind: 'silent', server: 'primary' });
    const before = c.frames.length;
    const ref = c.send(MessageType.RequestQueryServer, {});
    const { seq } = await sim.emit(4);
    await new Promise((r) => setTimeout(r, 500));
    expect(c.frames.length).toBe(before);
    expect(c.closed).toBe(false);
    await sim.fault({ kind: 'silent', server: 'primary', on: false });
    await c.waitFor((f) => getAttr(f, Attr.ReferenceID) === ref);
    await until(() => c.seqs.at(-1) === seq, 5000, 'delayed events');
  });

  it('a silent primary loses its HA link: the backup is promoted (ha-link-lost)', async () => {
    sim = await startSimulation({ mode: 'hot', haTimeoutMs: 400, promotionDelayMs: 100 });
    const so = new Promise((r) => sim!.events.once('switchover', r));
    await sim.fault({ kind: 'silent', server: 'primary' });
    expect(await so).toMatchObject({ from: 'A', to: 'B', reason: 'ha-link-lost' });
    expect(sim.roles()).toEqual({ A: 1, B: 0 });
    await sim.fault({ kind: 'silent', server: 'A', on: false });
    await until(async () => ((await sim!.status()) as { A: { syncDone: boolean } }).A.syncDone, 5000, 'A resynced as backup');
  });

  it('malformed and oversized frames from the server reach the client', async () => {
    sim = await startSimulation({ mode: 'hot' });
    for (const variant of ['bad-version', 'oversized', 'truncated', 'bad-kind'] as const) {
      const c = await client(sim.primary.port);
      await sim.fault({ kind: 'malformed', server: 'primary', variant });
      await until(() => c.protocolError !== undefined, 5000, `${variant} error`);
      expect((c.protocolError as unknown as { code: string }).code).toMatch(/ERR_/);
    }
  });

  it('slow replies: latency delays answers by at least the configured time', async () => {
    sim = await startSimulation({ mode: 'hot' });
    const c = await client(sim.primary.port);
    await sim.fault({ kind: 'latency', server: 'A', ms: 300 });
    const t0 = Date.now();
    await c.request(MessageType.RequestQueryServer);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    await sim.fault({ kind: 'latency', server: 'A', ms: 0 });
  });

  it('refusing new connections: connect fails, existing clients keep working; then accepted again', async () => {
    sim = await startSimulation({ mode: 'hot' });
    const c = await client(sim.primary.port);
    await sim.fault({ kind: 'refuse', server: 'primary' });
    await expect(RawClient.connect(sim.primary.port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect((await c.request(MessageType.RequestQueryServer)).type).toBe(MessageType.EventAddressInfo);
    await sim.fault({ kind: 'refuse', server: 'primary', on: false });
    await until(async () => ((await sim!.status()) as { A: { listening: boolean } }).A.listening, 5000, 'listening');
    const d = await client(sim.primary.port);
    expect(d.frames[0]!.type).toBe(MessageType.EventServerInfo);
  });

  it('rejects bad fault descriptions with a typed error', async () => {
    sim = await startSimulation({ mode: 'hot' });
    await expect(sim.fault({ kind: 'nope' } as never)).rejects.toMatchObject({ code: 'ERR_INVALID_CONFIG' });
    await expect(sim.fault({ kind: 'kill', server: 'C' } as never)).rejects.toMatchObject({ code: 'ERR_INVALID_CONFIG' });
    await expect(startSimulation({ mode: 'cold' as never })).rejects.toMatchObject({ code: 'ERR_INVALID_CONFIG' });
  });
});
