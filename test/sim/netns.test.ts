import { afterEach, describe, expect, it } from 'vitest';
import { Attr, MessageType, getAttr } from '../../lib/protocol/index.js';
import { netnsSupport, startSimulation, type Simulation, type SwitchoverRecord } from '../../lib/sim/index.js';
import { RawClient } from './raw-client.js';

const support = netnsSupport();
if (!support.ok) console.warn(`netns partition test skipped: ${support.reason}`);

let sim: Simulation | undefined;
const clients: RawClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await sim?.stop();
  sim = undefined;
});

describe.skipIf(!support.ok)('real network partition (network namespace + iptables DROP)', { timeout: 30_000 }, () => {
  it('partitions the primary: its client hears nothing, the backup is promoted; healing restores traffic', async () => {
    sim = await startSimulation({ mode: 'hot', netns: true, promotionDelayMs: 200, haTimeoutMs: 600, routePoints: 1, agents: 1, concurrentCalls: 1 });
    expect(sim.primary.host).toMatch(/^10\.254\./);
    const a = await RawClient.connect(sim.primary.port, sim.primary.host);
    clients.push(a);
    await a.register('netns');
    await a.registerDn('7000');
    const b = await RawClient.connect(sim.backup.port, sim.backup.host);
    clients.push(b);
    await b.register('netns');
    const so = new Promise<SwitchoverRecord>((r) => sim!.events.once('switchover', r));
    await sim.fault({ kind: 'partition', on: true });
    const ref = a.send(MessageType.RequestQueryServer, {});
    expect(await so).toMatchObject({ from: 'A', to: 'B', reason: 'ha-link-lost' });
    expect(getAttr(await b.waitFor((f) => f.type === MessageType.EventPrimaryChanged), Attr.ServerRole)).toBe(0);
    // Nothing crossed the partition, and the socket is still open (no RST, no FIN: packets are dropped).
    expect(a.frames.some((f) => getAttr(f, Attr.ReferenceID) === ref)).toBe(false);
    expect(a.closed).toBe(false);
    await sim.fault({ kind: 'partition', on: false });
    // TCP retransmits deliver the request once healed; A has been demoted meanwhile.
    const reply = await a.waitFor((f) => getAttr(f, Attr.ReferenceID) === ref, 15_000);
    expect(reply.type).toBe(MessageType.EventAddressInfo);
  });
});
