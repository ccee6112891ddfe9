import { afterEach, describe, expect, it } from 'vitest';
import { Attr, MessageType, getAttr, listToObject, type KVPair } from '../../lib/protocol/index.js';
import { SimErrorCode, compareWithOracle, startSimulation, type Simulation, type SwitchoverRecord } from '../../lib/sim/index.js';
import { RawClient, until } from './raw-client.js';

let sim: Simulation | undefined;
const clients: RawClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await sim?.stop();
  sim = undefined;
});

async function client(port: number, app = 'router', dns: string[] = []): Promise<{ c: RawClient; after: number[] }> {
  const c = await RawClient.connect(port);
  clients.push(c);
  await c.register(app);
  const after: number[] = [];
  for (const dn of dns) after.push(await c.registerDn(dn));
  return { c, after };
}

const switchover = (s: Simulation) => new Promise<SwitchoverRecord>((r) => s.events.once('switchover', r));

describe('hot standby', { timeout: 30_000 }, () => {
  it('syncs registrations to the backup, which streams the same seqs marked as backup', async () => {
    // routeTimeoutMs 0: calls go to their agents at once, nobody routes here.
    sim = await startSimulation({ mode: 'hot', routePoints: 2, agents: 2, concurrentCalls: 4, routeTimeoutMs: 0 });
    const dns = [...sim.routePoints, ...sim.agents];
    const p = await client(sim.primary.port, 'router', dns);
    const b = await client(sim.backup.port, 'router', dns);
    await until(async () => {
      const st = (await sim!.status()) as { B: { syncedRegistrations: Record<string, string[]> } };
      return st.B.syncedRegistrations.router?.length === dns.length;
    }, 5000, 'registration sync');
    const { seq } = await sim.emit(40);
    await until(() => p.c.seqs.at(-1) === seq && b.c.seqs.at(-1) === seq, 5000, 'both streams');
    expect(b.c.seqs).toEqual(p.c.seqs);
    const oracle = sim.oracle();
    expect(compareWithOracle(oracle, p.c.seqs, dns, { afterSeq: Math.max(...p.after) }).lost).toEqual([]);
    const fromBackup = b.c.frames.find((f) => f.type === MessageType.EventRinging)!;
    expect(listToObject(getAttr(fromBackup, Attr.Extensions) as KVPair[])).toEqual({ backup: 1 });
    expect(getAttr(p.c.frames.find((f) => f.type === MessageType.EventRinging)!, Attr.Extensions)).toBeUndefined();
  });

  it('kill -9 of the primary: the backup is promoted after the delay and announces it; routed state survives', async () => {
    sim = await startSimulation({ mode: 'hot', routePoints: 1, agents: 1, concurrentCalls: 8, promotionDelayMs: 200 });
    const p = await client(sim.primary.port, 'router', ['7000']);
    const b = await client(sim.backup.port, 'router', ['7000']);
    await sim.emit(2);
    const rr = await p.c.waitFor((f) => f.type === MessageType.EventRouteRequest);
    const connId = getAttr(rr, Attr.ConnID) as bigint;
    const used = await p.c.request(MessageType.RequestRouteCall, { ThisDN: '7000', ConnID: connId, OtherDN: '5000' });
    expect(used.type).toBe(MessageType.EventRouteUsed);
    await until(async () => ((await sim!.status()) as { B: { routedCalls: number } }).B.routedCalls === 1, 5000, 'routed sync');
    const unrouted = getAttr((await b.c.waitFor((f) => f.type === MessageType.EventRouteRequest && getAttr(f, Attr.ConnID) !== connId)), Attr.ConnID) as bigint;
    const so = switchover(sim);
    const mark = b.c.frames.length;
    await sim.fault({ kind: 'kill', server: 'primary' });
    const rec = await so;
    expect(rec).toMatchObject({ from: 'A', to: 'B', reason: 'crash' });
    expect(rec.promotedAt - rec.detectedAt).toBeGreaterThanOrEqual(150);
    const changed = await b.c.waitFor((f) => f.type === MessageType.EventPrimaryChanged, 5000, mark);
    expect(getAttr(changed, Attr.ServerRole)).toBe(0);
    await b.c.waitFor((f) => f.type === MessageType.EventLinkConnected, 5000, mark);
    expect(sim.roles()).toEqual({ A: 1, B: 0 });
    // The new primary knows the call was routed, and routes the other one.
    const again = await b.c.request(MessageType.RequestRouteCall, { ThisDN: '7000', ConnID: connId, OtherDN: '5000' });
    expect(getAttr(again, Attr.ErrorCode)).toBe(SimErrorCode.CallAlreadyRouted);
    const ok = await b.c.request(MessageType.RequestRouteCall, { ThisDN: '7000', ConnID: unrouted, OtherDN: '5000' });
    expect(ok.type).toBe(MessageType.EventRouteUsed);
    // Restarted, A comes back as backup and syncs from B.
    await sim.fault({ kind: 'restart', server: 'A' });
    await until(async () => ((await sim!.status()) as { A: { syncDone: boolean; role: number } }).A.syncDone, 5000, 'A resync');
  });

  it('SIGSTOP of the primary is a hang: promotion; after SIGCONT the old primary is a backup', async () => {
    sim = await startSimulation({ mode: 'hot', promotionDelayMs: 100, hangTimeoutMs: 400 });
    const a = await client(sim.primary.port);
    const so = switchover(sim);
    await sim.fault({ kind: 'stop', server: 'primary' });
    expect(await so).toMatchObject({ from: 'A', to: 'B', reason: 'hang' });
    await sim.fault({ kind: 'cont', server: 'A' });
    const changed = await a.c.waitFor((f) => f.type === MessageType.EventPrimaryChanged);
    expect(getAttr(changed, Attr.ServerRole)).toBe(1);
    const refused = await a.c.request(MessageType.RequestRouteCall, { ThisDN: '7000', ConnID: 1n });
    expect(getAttr(refused, Attr.ErrorCode)).toBe(SimErrorCode.BackupRefused);
  });

  it('a short hang that ends before the promotion delay causes no switchover', async () => {
    sim = await startSimulation({ mode: 'hot', promotionDelayMs: 3000, hangTimeoutMs: 300 });
    let switched = false;
    sim.events.on('switchover', () => (switched = true));
    await sim.fault({ kind: 'stop', server: 'primary' });
    await new Promise((r) => setTimeout(r, 600));
    await sim.fault({ kind: 'cont', server: 'primary' });
    await new Promise((r) => setTimeout(r, 3000));
    expect(switched).toBe(false);
    expect(sim.roles()).toEqual({ A: 0, B: 1 });
  });

  it('manual switchover swaps roles and both servers tell their clients', async () => {
    sim = await startSimulation({ mode: 'hot' });
    const a = await client(sim.primary.port);
    const b = await client(sim.backup.port);
    await sim.fault({ kind: 'switchover' });
    expect(getAttr(await a.c.waitFor((f) => f.type === MessageType.EventPrimaryChanged), Attr.ServerRole)).toBe(1);
    expect(getAttr(await b.c.waitFor((f) => f.type === MessageType.EventPrimaryChanged), Attr.ServerRole)).toBe(0);
    expect(sim.roles()).toEqual({ A: 1, B: 0 });
    // The demoted server asks for a fresh sync ("backup ready" → "sync done").
    await until(async () => ((await sim!.status()) as { A: { syncDone: boolean } }).A.syncDone, 5000, 'A resynced');
  });

  it('split brain: both servers claim primary until resolved (A wins)', async () => {
    sim = await startSimulation({ mode: 'hot' });
    const b = await client(sim.backup.port);
    await sim.fault({ kind: 'split-brain' });
    expect(getAttr(await b.c.waitFor((f) => f.type === MessageType.EventPrimaryChanged), Attr.ServerRole)).toBe(0);
    const st = (await sim.status()) as { A: { role: number }; B: { role: number } };
    expect([st.A.role, st.B.role]).toEqual([0, 0]);
    const q = await b.c.request(MessageType.RequestQueryServer);
    expect(getAttr(q, Attr.ServerRole)).toBe(0);
    await sim.fault({ kind: 'resolve-split-brain' });
    const st2 = (await sim.status()) as { A: { role: number }; B: { role: number } };
    expect([st2.A.role, st2.B.role]).toEqual([0, 1]);
  });
});

describe('warm standby', { timeout: 30_000 }, () => {
  it('the backup serves no clients until promoted; calls in progress are lost at the switchover', async () => {
    sim = await startSimulation({ mode: 'warm', routePoints: 1, agents: 1, concurrentCalls: 8, promotionDelayMs: 100 });
    await expect(RawClient.connect(sim.backup.port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    const p = await client(sim.primary.port, 'router', ['7000']);
    await sim.emit(2);
    const rr = await p.c.waitFor((f) => f.type === MessageType.EventRouteRequest);
    const connId = getAttr(rr, Attr.ConnID) as bigint;
    const so = switchover(sim);
    await sim.fault({ kind: 'kill', server: 'primary' });
    await so;
    await until(async () => ((await sim!.status()) as { B: { listening: boolean } }).B.listening, 5000, 'B listening');
    const b = await client(sim.backup.port, 'router', ['7000']);
    const info = b.c.frames[0]!;
    expect(getAttr(info, Attr.ServerRole)).toBe(0);
    const lost = await b.c.request(MessageType.RequestRouteCall, { ThisDN: '7000', ConnID: connId, OtherDN: '5000' });
    expect(getAttr(lost, Attr.ErrorCode)).toBe(SimErrorCode.CallLostInSwitchover);
    expect(String(getAttr(lost, Attr.ErrorMessage))).toMatch(/before this server became primary/);
    // New calls route normally on the new primary.
    await sim.emit(8);
    const fresh = await b.c.waitFor((f) => f.type === MessageType.EventRouteRequest);
    const ok = await b.c.request(MessageType.RequestRouteCall, { ThisDN: '7000', ConnID: getAttr(fresh, Attr.ConnID) as bigint, OtherDN: '5000' });
    expect(ok.type).toBe(MessageType.EventRouteUsed);
  });
});
