/**
 * Numbering epochs, restarts with a sequence reset, link-outage positions and duplicate replies, against
 * the real simulator processes (docs/simulator.md, "Numbering" and "Link positions").
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Attr, MessageType, getAttr, listToObject, type KVPair, type MessageFrame } from '../../lib/protocol/index.js';
import {
  compareNumberedWithOracle,
  startSimulation,
  type NumberingChange,
  type Simulation,
  type SwitchoverRecord,
} from '../../lib/sim/index.js';
import { RawClient, until } from './raw-client.js';

let sim: Simulation | undefined;
const clients: RawClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await sim?.stop();
  sim = undefined;
});

/** One DN per kind and one call at a time: every event is on 7000 or 5000, so a client on both sees all. */
// routeTimeoutMs 0: calls ring their agents at once (nobody routes in these tests).
const SMALL = { routePoints: 1, agents: 1, concurrentCalls: 1, routeTimeoutMs: 0 } as const;
const DNS = ['7000', '5000'];

async function client(port: number, dns: string[] = DNS): Promise<{ c: RawClient; info: MessageFrame; link: MessageFrame }> {
  const c = await RawClient.connect(port);
  clients.push(c);
  const info = await c.register('numbering');
  const link = await c.waitFor((f) => f.type === MessageType.EventLinkConnected || f.type === MessageType.EventLinkDisconnected);
  for (const dn of dns) await c.registerDn(dn);
  return { c, info, link };
}

const seqOf = (f: MessageFrame) => Number(getAttr(f, Attr.EventSequenceNumber));
const epochOf = (info: MessageFrame) => listToObject(getAttr(info, Attr.Extensions) as KVPair[])['seq-epoch'];

/** The next simulation event matching `pred` (subscribe before causing it). */
function nextEvent(s: Simulation, pred: (ev: Record<string, unknown>) => boolean, timeoutMs = 10_000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      s.events.off('event', on);
      reject(new Error('timed out waiting for a simulation event'));
    }, timeoutMs);
    const on = (ev: Record<string, unknown>) => {
      if (!pred(ev)) return;
      clearTimeout(t);
      s.events.off('event', on);
      resolve(ev);
    };
    s.events.on('event', on);
  });
}

function nextNumbering(s: Simulation, server: 'A' | 'B', timeoutMs = 10_000): Promise<NumberingChange> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out waiting for a numbering of ${server}`)), timeoutMs);
    const on = (n: NumberingChange) => {
      if (n.server !== server) return;
      clearTimeout(t);
      s.events.off('numbering', on);
      resolve(n);
    };
    s.events.on('numbering', on);
  });
}

const range = (from: number, to: number) => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);

describe('numbering epochs', { timeout: 30_000 }, () => {
  it('both servers start in one numbering (sw-…, base 0): seq-epoch in EventServerInfo, switch seqs unchanged', async () => {
    sim = await startSimulation({ mode: 'hot', ...SMALL });
    const [n] = sim.numberings();
    expect(sim.numberings()).toHaveLength(1);
    expect(n).toMatchObject({ base: 0, servers: ['A', 'B'] });
    expect(n!.label).toMatch(/^sw-[0-9a-f]{8}$/);
    const a = await client(sim.primary.port);
    const b = await client(sim.backup.port);
    for (const x of [a, b]) {
      expect(epochOf(x.info)).toBe(n!.label);
      // The existing Extensions keys stay.
      expect(listToObject(getAttr(x.info, Attr.Extensions) as KVPair[])).toMatchObject({ 'addp-timeout': 0, mode: 'hot' });
    }
    const { seq } = await sim.emit(6);
    await until(() => a.c.seqs.at(-1) === seq && b.c.seqs.at(-1) === seq, 5000, 'both streams');
    expect(a.c.seqs).toEqual(range(1, 6));
    expect(b.c.seqs).toEqual(a.c.seqs);
    expect(sim.toSwitchSeq(n!.label, 4)).toBe(4);
  });

  it('restart of a live backup with resetSeq: new label, base = switch seq at its link-up, first event 1; maps back to the oracle', async () => {
    sim = await startSimulation({ mode: 'hot', ...SMALL });
    const first = sim.numbering('A').label;
    await sim.emit(10);
    const oldPid = sim.pids().B;
    const numbered = nextNumbering(sim, 'B');
    const synced = nextEvent(sim, (e) => e.source === 'B' && e.event === 'sync-done');
    const r = (await sim.fault({ kind: 'restart', server: 'backup', resetSeq: true })) as { killed?: number; role: number; seqEpoch: string };
    expect(r.killed).toBe(oldPid);
    expect(sim.pids().B).not.toBe(oldPid);
    expect(r.role).toBe(1);
    expect(r.seqEpoch).toMatch(/^B-[0-9a-f]{8}$/);
    const n = await numbered;
    expect(n).toMatchObject({ server: 'B', label: r.seqEpoch, base: 10, pid: sim.pids().B });
    await synced;
    expect(sim.numberings()).toEqual([
      expect.objectContaining({ label: first, base: 0, servers: ['A', 'B'] }),
      expect.objectContaining({ label: r.seqEpoch, base: 10, servers: ['B'] }),
    ]);

    const a = await client(sim.primary.port);
    const b = await client(sim.backup.port);
    expect(epochOf(a.info)).toBe(first);
    expect(epochOf(b.info)).toBe(r.seqEpoch);
    // Positions in B's own numbering: it has everything up to switch seq 10 = its position 0.
    expect(seqOf(b.info)).toBe(0);
    expect(b.link.type).toBe(MessageType.EventLinkConnected);
    expect(seqOf(b.link)).toBe(0);
    expect(seqOf(a.info)).toBe(10);

    const { seq } = await sim.emit(8);
    await until(() => a.c.seqs.at(-1) === seq && b.c.seqs.at(-1) === seq - 10, 5000, 'both streams');
    expect(a.c.seqs).toEqual(range(11, 18));
    expect(b.c.seqs).toEqual(range(1, 8));
    expect(b.c.seqs.map((s) => sim!.toSwitchSeq(r.seqEpoch, s))).toEqual(a.c.seqs);
    // Same events (the patched copy keeps everything else, and the backup mark is still appended).
    const conn = (c: RawClient) => c.frames.filter((f) => f.type === MessageType.EventRinging).map((f) => getAttr(f, Attr.ConnID));
    expect(conn(b.c)).toEqual(conn(a.c));
    expect(listToObject(getAttr(b.c.frames.find((f) => f.type === MessageType.EventRinging)!, Attr.Extensions) as KVPair[])).toEqual({ backup: 1 });

    // The oracle comparison in numbered form; the same events seen through both numberings are duplicates.
    const oracle = sim.oracle();
    const fromB = b.c.seqs.map((s) => ({ label: r.seqEpoch, seq: s }));
    const cmp = compareNumberedWithOracle(oracle, sim.numberings(), fromB, DNS, { afterSeq: { label: r.seqEpoch, seq: 0 } });
    expect(cmp).toMatchObject({ expected: 8, received: 8, lost: [], duplicated: [], unexpected: [], unmapped: [] });
    const both = [...a.c.seqs.map((s) => ({ label: first, seq: s })), ...fromB, { label: 'nope', seq: 1 }];
    const dup = compareNumberedWithOracle(oracle, sim.numberings(), both, DNS, { afterSeq: 10 });
    expect(dup.duplicated).toEqual(range(11, 18));
    expect(dup.unmapped).toEqual([{ label: 'nope', seq: 1 }]);
    const partial = compareNumberedWithOracle(oracle, sim.numberings(), fromB.slice(0, 5), DNS, { afterSeq: 10 });
    expect(partial.lost).toEqual([16, 17, 18]);
    expect(() => sim!.toSwitchSeq('nope', 1)).toThrow(/unknown numbering/);
  });

  it('restart of the live primary without reset: the backup is promoted first, the server comes back as its backup in the same numbering', async () => {
    sim = await startSimulation({ mode: 'hot', ...SMALL, promotionDelayMs: 100 });
    const first = sim.numbering('A').label;
    await sim.emit(5);
    const so = new Promise<SwitchoverRecord>((res) => sim!.events.once('switchover', res));
    const numbered = nextNumbering(sim, 'A');
    const synced = nextEvent(sim, (e) => e.source === 'A' && e.event === 'sync-done');
    const r = (await sim.fault({ kind: 'restart', server: 'primary' })) as { role: number; seqEpoch: string; seqBase: number };
    expect(await so).toMatchObject({ from: 'A', to: 'B', reason: 'crash' });
    expect(r).toMatchObject({ role: 1, seqEpoch: first, seqBase: 0 });
    expect(await numbered).toMatchObject({ server: 'A', label: first, base: 0 });
    expect(sim.roles()).toEqual({ A: 1, B: 0 });
    await synced;
    expect(sim.numberings()).toHaveLength(1);
    const a = await client(sim.primary.port);
    const b = await client(sim.backup.port);
    expect(getAttr(a.info, Attr.ServerRole)).toBe(1);
    expect(epochOf(a.info)).toBe(first);
    expect(epochOf(b.info)).toBe(first);
    const { seq } = await sim.emit(6);
    await until(() => a.c.seqs.at(-1) === seq && b.c.seqs.at(-1) === seq, 5000, 'both streams');
    expect(a.c.seqs).toEqual(range(6, 11));
    expect(b.c.seqs).toEqual(a.c.seqs);
  });

  it('restart with resetSeq of a killed server, then again without reset: the reset label and base are kept', async () => {
    sim = await startSimulation({ mode: 'hot', ...SMALL, promotionDelayMs: 100 });
    await sim.emit(3);
    await sim.fault({ kind: 'kill', server: 'backup' });
    await sim.emit(4);
    let numbered = nextNumbering(sim, 'B');
    const r1 = (await sim.fault({ kind: 'restart', server: 'B', resetSeq: true })) as { seqEpoch: string; seqBase: number | null };
    expect(r1.seqBase).toBeNull(); // fixed at its first link-up
    expect(await numbered).toMatchObject({ label: r1.seqEpoch, base: 7 });
    await sim.emit(2);
    numbered = nextNumbering(sim, 'B');
    const r2 = (await sim.fault({ kind: 'restart', server: 'B' })) as { seqEpoch: string; seqBase: number };
    expect(r2).toMatchObject({ seqEpoch: r1.seqEpoch, seqBase: 7 });
    expect(await numbered).toMatchObject({ label: r1.seqEpoch, base: 7 });
    await until(async () => ((await sim!.status()) as { B: { ctiUp: boolean } }).B.ctiUp, 5000, 'B linked');
    const b = await client(sim.backup.port);
    // It has switch seqs up to 9 = position 2 in the kept numbering.
    expect(seqOf(b.info)).toBe(2);
    const { seq } = await sim.emit(3);
    await until(() => b.c.seqs.at(-1) === seq - 7, 5000, 'B stream');
    expect(b.c.seqs).toEqual([3, 4, 5]);
    expect(sim.numberings().map((n) => [n.base, n.servers])).toEqual([[0, ['A', 'B']], [7, ['B']]]);
  });
});

describe('link positions', { timeout: 30_000 }, () => {
  it('under load: Disconnected carries the last seq received, Connected the switch seq at link-up; (D, U] is exactly what was missed', async () => {
    sim = await startSimulation({ mode: 'hot', ...SMALL });
    // Give B its own numbering so positions are checked in the server's numbering, not the switch's.
    await sim.emit(5);
    const numbered = nextNumbering(sim, 'B');
    const synced = nextEvent(sim, (e) => e.source === 'B' && e.event === 'sync-done');
    const { seqEpoch: label } = (await sim.fault({ kind: 'restart', server: 'B', resetSeq: true })) as { seqEpoch: string };
    const { base } = await numbered;
    await synced;
    const b = await client(sim.backup.port);
    const start = seqOf(b.info);
    await sim.setRate(3000);
    await until(() => b.c.seqs.length > 100, 5000, 'traffic');
    const down = b.c.frames.length;
    await sim.fault({ kind: 'link-down', server: 'B' });
    const dFrame = await b.c.waitFor((f) => f.type === MessageType.EventLinkDisconnected, 5000, down);
    const D = seqOf(dFrame);
    // A client connecting during the outage is told the same position.
    const late = await client(sim.backup.port, []);
    expect(late.link.type).toBe(MessageType.EventLinkDisconnected);
    expect(seqOf(late.link)).toBe(D);
    await until(() => sim!.oracle().events.length > base + D + 300, 5000, 'events during the outage');
    await sim.fault({ kind: 'link-up', server: 'B' });
    const uFrame = await b.c.waitFor((f) => f.type === MessageType.EventLinkConnected, 5000, down);
    const U = seqOf(uFrame);
    await until(() => b.c.seqs.at(-1)! > U + 100, 5000, 'traffic after link-up');
    await sim.setRate(0);
    const { seq: last } = await sim.emit(0);
    await until(() => b.c.seqs.at(-1) === last - base, 5000, 'drained');

    // The switch's own record of the link-up agrees with U (mapped to switch seqs).
    const oracle = sim.oracle();
    const up = oracle.notes.filter((n) => n.text.startsWith('link-up\tB\t')).at(-1)!;
    expect(Number(up.text.split('\t')[2])).toBe(sim.toSwitchSeq(label, U));
    // Every event before the report and none after it up to D; then exactly the events after U.
    const iD = b.c.frames.indexOf(dFrame);
    const iU = b.c.frames.indexOf(uFrame);
    const evSeq = (fs: MessageFrame[]) => fs.filter((f) => f.type !== MessageType.EventLinkConnected && f.type !== MessageType.EventLinkDisconnected && getAttr(f, Attr.ReferenceID) === undefined && getAttr(f, Attr.EventSequenceNumber) !== undefined).map(seqOf);
    expect(evSeq(b.c.frames.slice(0, iD)).at(-1)).toBe(D);
    expect(evSeq(b.c.frames.slice(iD + 1, iU))).toEqual([]);
    expect(evSeq(b.c.frames.slice(iU + 1))[0]).toBe(U + 1);
    expect(U).toBeGreaterThan(D + 300);
    const regAt = Math.max(...b.c.frames.filter((f) => f.type === MessageType.EventRegistered).map(seqOf));
    expect(b.c.seqs).toEqual([...range(regAt + 1, D), ...range(U + 1, last - base)]);
    expect(start).toBeLessThanOrEqual(regAt);
    // The server's CTI runs (switch seqs) show the same outage.
    await until(() => sim!.ctiRuns('B').at(-1)?.[1] === last, 5000, 'CTI runs flushed');
    const runs = sim.ctiRuns('B');
    expect(runs.at(-2)?.[1]).toBe(sim.toSwitchSeq(label, D));
    expect(runs.at(-1)?.[0]).toBe(sim.toSwitchSeq(label, U) + 1);
    // The switch had emitted at least what B received when it dropped the link.
    const dropped = oracle.notes.filter((n) => n.text.startsWith('link-down\tB\t')).at(-1)!;
    expect(Number(dropped.text.split('\t')[2])).toBeGreaterThanOrEqual(sim.toSwitchSeq(label, D));
  });

  it('handshake: a linked server reports Connected at its last seq, equal to EventServerInfo; a warm primary too', async () => {
    sim = await startSimulation({ mode: 'warm', ...SMALL });
    await sim.emit(7);
    const a = await client(sim.primary.port);
    expect(a.link.type).toBe(MessageType.EventLinkConnected);
    expect(seqOf(a.link)).toBe(7);
    expect(seqOf(a.info)).toBe(7);
    await sim.fault({ kind: 'link-down', server: 'A' });
    const d = await a.c.waitFor((f) => f.type === MessageType.EventLinkDisconnected);
    expect(seqOf(d)).toBe(7);
    await sim.emit(2);
    await sim.fault({ kind: 'link-up', server: 'A' });
    const u = await a.c.waitFor((f) => f.type === MessageType.EventLinkConnected, 5000, a.c.frames.indexOf(d));
    expect(seqOf(u)).toBe(9);
    // Told once: no further report while nothing changes.
    await a.c.request(MessageType.RequestQueryServer);
    expect(a.c.ofType(MessageType.EventLinkConnected)).toHaveLength(2);
    expect(a.c.ofType(MessageType.EventLinkDisconnected)).toHaveLength(1);
  });

  it('a hot backup linked but not yet synced: Disconnected at its link-up position, then Connected at the same position', async () => {
    // The primary is stopped, so B's HA link connects (the kernel accepts) but no sync comes until SIGCONT.
    sim = await startSimulation({ mode: 'hot', ...SMALL, autoPromote: false, haTimeoutMs: 10_000 });
    await sim.emit(4);
    await sim.fault({ kind: 'stop', server: 'A' });
    const numbered = nextNumbering(sim, 'B');
    const haUp = nextEvent(sim, (e) => e.source === 'B' && e.event === 'peer-connected');
    await sim.fault({ kind: 'restart', server: 'B', resetSeq: true });
    expect((await numbered).base).toBe(4);
    await haUp;
    const st = (await sim.status()) as { B: { ctiUp: boolean; haConnected: boolean; syncDone: boolean; linkReported: boolean } };
    expect(st.B).toMatchObject({ ctiUp: true, haConnected: true, syncDone: false, linkReported: false });
    const b = await client(sim.backup.port);
    expect(b.link.type).toBe(MessageType.EventLinkDisconnected);
    expect(seqOf(b.link)).toBe(0);
    // It forwards meanwhile (as before this change): events after its link-up position.
    const { seq } = await sim.emit(4);
    await until(() => b.c.seqs.at(-1) === seq - 4, 5000, 'events while unsynced');
    await sim.fault({ kind: 'cont', server: 'A' });
    const u = await b.c.waitFor((f) => f.type === MessageType.EventLinkConnected);
    expect(seqOf(u)).toBe(0); // (0, 0]: nothing missed
    expect(b.c.seqs).toEqual([1, 2, 3, 4]);
  });
});

describe('duplicate replies', { timeout: 30_000 }, () => {
  it('every reply is sent twice with the same ReferenceID; events are not; off again: once', async () => {
    sim = await startSimulation({ mode: 'hot', ...SMALL });
    const a = await client(sim.primary.port, ['7000']);
    await sim.fault({ kind: 'duplicate-replies', server: 'primary' });
    const refs = [
      a.c.send(MessageType.RequestQueryServer, {}),
      a.c.send(MessageType.RequestRegisterAddress, { ThisDN: '5000', RegisterMode: 0, AddressType: 1 }),
      a.c.send(MessageType.RequestRouteCall, { ThisDN: '7000', ConnID: 1n }),
    ];
    await until(() => a.c.frames.filter((f) => getAttr(f, Attr.ReferenceID) === refs[2]).length === 2, 5000, 'duplicated replies');
    const { seq } = await sim.emit(4);
    await until(() => a.c.seqs.at(-1) === seq, 5000, 'events');
    await a.c.request(MessageType.RequestQueryServer); // a round trip: nothing more is on its way
    for (const ref of refs) {
      const replies = a.c.frames.filter((f) => getAttr(f, Attr.ReferenceID) === ref);
      expect(replies.map((f) => f.type)).toHaveLength(2);
      expect(replies[1]).toEqual(replies[0]);
    }
    expect(a.c.frames.filter((f) => getAttr(f, Attr.ReferenceID) === refs[2])[0]!.type).toBe(MessageType.EventError);
    expect(a.c.seqs).toEqual(range(1, 4));
    const st = (await sim.status()) as { A: { duplicateReplies: boolean } };
    expect(st.A.duplicateReplies).toBe(true);

    await sim.fault({ kind: 'duplicate-replies', server: 'primary', on: false });
    const once = a.c.send(MessageType.RequestQueryServer, {});
    await a.c.request(MessageType.RequestQueryServer); // its reply follows any copy of the first
    expect(a.c.frames.filter((f) => getAttr(f, Attr.ReferenceID) === once)).toHaveLength(1);
  });

  it('with latency, replies are late and still duplicated in order', async () => {
    sim = await startSimulation({ mode: 'hot', ...SMALL });
    const a = await client(sim.primary.port, []);
    await sim.fault({ kind: 'latency', server: 'A', ms: 200 });
    await sim.fault({ kind: 'duplicate-replies', server: 'A' });
    const t0 = Date.now();
    const r1 = a.c.send(MessageType.RequestQueryServer, {});
    const r2 = a.c.send(MessageType.RequestQueryServer, {});
    await until(() => a.c.frames.filter((f) => getAttr(f, Attr.ReferenceID) === r2).length === 2, 5000, 'late replies');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    const order = a.c.frames.map((f) => getAttr(f, Attr.ReferenceID)).filter((r) => r === r1 || r === r2);
    expect(order).toEqual([r1, r1, r2, r2]);
  });
});
