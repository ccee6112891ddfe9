/**
 * What the seed's events carry: EventServerConnected keeps EventServerInfo's Extensions (the numbering's
 * `seq-epoch` among them), link events keep the server's microseconds, and a warm server dropped for
 * staying backup says so (`not-promoted`, not `local` as for close()).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { TServerPair } from '../../lib/pair/pair.js';
import type { EventLinkConnected, EventServerConnected, EventServerDisconnected } from '../../lib/pair/events.js';
import { TestPeer } from '../helpers/peer.js';
import { rig, until, type Rig } from './harness.js';

let r: Rig | undefined;
const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  await r?.stop();
  r = undefined;
  for (const c of cleanups.splice(0)) await c();
});

describe('event payloads', () => {
  it('EventServerConnected carries the Extensions of EventServerInfo; link events keep microseconds', async () => {
    r = await rig({ mode: 'hot', rate: 0 }, { transport: 'node' });
    const connected: EventServerConnected[] = [];
    const links: EventLinkConnected[] = [];
    r.pair.on('EventServerConnected', (e) => connected.push(e));
    r.pair.on('EventLinkConnected', (e) => links.push(e));
    await r.pair.open();
    await until(() => connected.length >= 2 && links.length >= 2, 10_000, 'both servers connected');
    const label = r.sim.numbering('A').label;
    for (const e of connected) expect(e.Extensions?.['seq-epoch']).toBe(label);
    for (const l of links) {
      expect(Number.isInteger(l.timeUs)).toBe(true);
      expect(Math.floor(l.timeUs / 1000)).toBe(l.time.getTime());
    }
  });

  it('warm: a server that stays backup is dropped with reason not-promoted, and the other is tried', async () => {
    const a = await TestPeer.start({ role: 1 });
    const b = await TestPeer.start({ role: 1 });
    cleanups.push(() => a.close(), () => b.close());
    const pair = new TServerPair({
      name: 'Warm', primary: { host: '127.0.0.1', port: a.port }, backup: { host: '127.0.0.1', port: b.port },
      mode: 'warm', transport: 'node', warmBackupWaitMs: 200, openTimeoutMs: 60_000, breaker: false,
    });
    cleanups.push(() => pair.close());
    const gone: EventServerDisconnected[] = [];
    pair.on('EventServerDisconnected', (e) => gone.push(e));
    void pair.open().catch(() => {});
    await until(() => gone.length >= 1 && b.connections.length >= 1, 20_000, 'a drop and an attempt on the other server');
    expect(gone[0]).toMatchObject({ source: 'primary', reason: 'not-promoted' });
  });
});

describe('listeners', () => {
  it('events go to exactly the listeners registered now: on/off, once, removeAllListeners() with and without a name', async () => {
    r = await rig({ mode: 'hot', rate: 2000 }, { transport: 'node' });
    const rr = r;
    const got = { a: 0, b: 0, c: 0, d: 0 };
    const a = () => void got.a++;
    rr.pair.on('event', a);
    await rr.pair.open();
    await until(() => got.a > 20, 30_000, 'listener a');
    rr.pair.removeAllListeners('event');
    const a0 = got.a;
    rr.pair.on('event', () => void got.b++);
    await until(() => got.b > 20, 30_000, 'listener b');
    rr.pair.removeAllListeners();
    const b0 = got.b;
    rr.pair.on('event', () => void got.c++);
    rr.pair.once('event', () => void got.d++);
    await until(() => got.c > 20, 30_000, 'listener c');
    // Added after events already went to c: it must be called too (the pair caches listener lists).
    let e = 0;
    rr.pair.on('event', () => void e++);
    await until(() => e > 20, 30_000, 'listener e, added later');
    expect(got.a).toBe(a0);
    expect(got.b).toBe(b0);
    expect(got.d).toBe(1);
  });
});
