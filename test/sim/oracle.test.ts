import { afterEach, describe, expect, it } from 'vitest';
import { MessageType } from '../../lib/protocol/index.js';
import { compareWithOracle, startSimulation, type Simulation } from '../../lib/sim/index.js';
import { RawClient, until } from './raw-client.js';

let sim: Simulation | undefined;
const clients: RawClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await sim?.stop();
  sim = undefined;
});

describe('oracle', { timeout: 30_000 }, () => {
  it('logs every event exactly once, in order, and a client on all DNs receives exactly the oracle', async () => {
    sim = await startSimulation({ mode: 'hot', rate: 5000, routePoints: 4, agents: 8, routeTimeoutMs: 0 });
    const dns = [...sim.routePoints, ...sim.agents];
    const c = await RawClient.connect(sim.primary.port);
    clients.push(c);
    await c.register('oracle');
    const after: number[] = [];
    for (const dn of dns) after.push(await c.registerDn(dn));
    await new Promise((r) => setTimeout(r, 1000));
    await sim.setRate(0);
    const { seq: last } = await sim.emit(0);
    await until(() => c.seqs.at(-1) === last, 10_000, 'client caught up');
    const oracle = sim.oracle();
    expect(oracle.events.length).toBe(last);
    expect(oracle.events.map((e) => e.seq)).toEqual(Array.from({ length: last }, (_, i) => i + 1));
    expect(new Set(oracle.events.map((e) => e.type))).toEqual(new Set(['EventRouteRequest', 'EventRinging', 'EventEstablished', 'EventReleased']));
    expect(oracle.events.every((e) => e.links === 3)).toBe(true);
    // Registrations interleaved with traffic: each DN is exact from its own EventRegistered seq.
    for (let i = 0; i < dns.length; i++) {
      const got = c.seqs.filter((s) => oracle.events[s - 1]!.thisDN === dns[i]);
      const cmp = compareWithOracle(oracle, got, [dns[i]!], { afterSeq: after[i] });
      expect(cmp.lost, `DN ${dns[i]}`).toEqual([]);
      expect(cmp.duplicated).toEqual([]);
      expect(cmp.unexpected).toEqual([]);
      expect(got.every((s) => s > after[i]!)).toBe(true);
    }
    expect(last).toBeGreaterThan(2000);
  });

  it('EventRegistered seq is exact under load: nothing at or below it, everything above it', async () => {
    sim = await startSimulation({ mode: 'hot', rate: 20_000, routePoints: 2, agents: 2, concurrentCalls: 4 });
    const c = await RawClient.connect(sim.backup.port);
    clients.push(c);
    await c.register('exact');
    const marks: Record<string, number> = {};
    for (let round = 0; round < 10; round++) {
      for (const dn of [...sim.routePoints, ...sim.agents]) {
        if (marks[dn] !== undefined) {
          await c.request(MessageType.RequestUnregisterAddress, { ThisDN: dn });
        }
        marks[dn] = await c.registerDn(dn);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    await sim.setRate(0);
    const { seq: last } = await sim.emit(0);
    await until(() => c.seqs.at(-1) === last, 10_000, 'caught up');
    const oracle = sim.oracle();
    for (const [dn, after] of Object.entries(marks)) {
      // Only look at what arrived after the last registration of this DN.
      const idx = c.frames.findLastIndex((f) => f.type === MessageType.EventRegistered && f.attributes.some((a) => a.value === dn));
      const laterSeqs = c.frames.slice(idx + 1).map((f) => f.attributes[0]).filter((a) => a?.id === 148).map((a) => Number(a!.value));
      const mine = laterSeqs.filter((s) => oracle.events[s - 1]!.thisDN === dn);
      const cmp = compareWithOracle(oracle, mine, [dn], { afterSeq: after });
      expect(cmp.lost, dn).toEqual([]);
      expect(cmp.duplicated).toEqual([]);
      expect(mine.every((s) => s > after)).toBe(true);
    }
  });
});
