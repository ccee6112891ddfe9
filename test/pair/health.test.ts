/**
 * Health, graceful close and an abortable open, against the real simulator.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { AbortedError, ClosedError, ConfigError } from '../../lib/errors.js';
import { TServerPair } from '../../lib/pair/pair.js';
import { rig, until, type Rig } from './harness.js';

let r: Rig | undefined;
afterEach(async () => {
  await r?.stop();
  r = undefined;
});

const steady = (rr: Rig) =>
  until(() => {
    const st = rr.pair.state;
    return st.active === 'primary' && st.endpoints.backup.server === 'open' && st.endpoints.backup.link === 'up';
  }, 15_000, 'steady state');

describe('health()', () => {
  it('live stays true and ready stays true through a hot switchover (grace), both false after close', async () => {
    r = await rig({ mode: 'hot', rate: 200, promotionDelayMs: 100 }, { transport: 'node' });
    const rr = r;
    expect(rr.pair.health()).toMatchObject({ live: false, ready: false, reason: 'open() was not called' });
    await rr.pair.open();
    await steady(rr);
    expect(rr.pair.health()).toEqual({ live: true, ready: true, active: 'primary', noServerForMs: null });
    // Every health read while no server takes requests (the failover): still live and, inside the grace, ready.
    const seen: ReturnType<TServerPair['health']>[] = [];
    rr.pair.on('active', () => seen.push(rr.pair.health()));
    await rr.sim.fault({ kind: 'kill', server: 'primary' });
    await until(() => rr.pair.state.active === 'backup', 15_000, 'backup active');
    expect(seen.length).toBeGreaterThan(0);
    for (const h of seen) expect(h).toMatchObject({ live: true, ready: true });
    // With no grace at all, the moment without a server is not ready, and says why.
    const noServer = seen.find((h) => h.active === null)!;
    expect(noServer.noServerForMs).toBeGreaterThanOrEqual(0);
    await rr.pair.close();
    expect(rr.pair.health()).toMatchObject({ live: false, ready: false });
  });

  it('not ready past the grace period while no server takes requests; the reason says so', async () => {
    r = await rig({ mode: 'hot', rate: 0, autoPromote: false }, { transport: 'node' });
    const rr = r;
    await rr.pair.open();
    await steady(rr);
    await rr.sim.fault({ kind: 'kill', server: 'primary' });
    await until(() => rr.pair.state.active === null, 15_000, 'no server');
    await until(() => !rr.pair.health({ graceMs: 50 }).ready, 15_000, 'not ready after 50 ms');
    const h = rr.pair.health({ graceMs: 50 });
    expect(h.live).toBe(true);
    expect(h.reason).toMatch(/no server has taken requests for \d+ ms/);
    expect(() => rr.pair.health({ graceMs: -1 })).toThrow(ConfigError);
  });
});

describe('close({ drain })', () => {
  it('lets requests in flight settle, refuses new ones, then closes', async () => {
    r = await rig({ mode: 'hot', rate: 0 }, { transport: 'node' });
    const rr = r;
    await rr.pair.open();
    await steady(rr);
    await rr.sim.fault({ kind: 'latency', server: 'A', ms: 300 });
    const inFlight = [1, 2, 3].map(() => rr.pair.request('RequestQueryServer', {}, { timeoutMs: 5000 }));
    const closing = rr.pair.close({ drain: true });
    await expect(rr.pair.request('RequestQueryServer', {})).rejects.toBeInstanceOf(ClosedError);
    expect(rr.pair.health().live).toBe(false);
    const replies = await Promise.all(inFlight);
    for (const x of replies) expect(x.outcome).toBe('answered');
    await closing;
    expect(rr.pair.state.open).toBe(false);
  });

  it('drain.timeoutMs bounds the wait: what is still unsettled then rejects with ClosedError', async () => {
    r = await rig({ mode: 'hot', rate: 0 }, { transport: 'node' });
    const rr = r;
    await rr.pair.open();
    await steady(rr);
    await rr.sim.fault({ kind: 'latency', server: 'A', ms: 5000 });
    const slow = rr.pair.request('RequestQueryServer', {}, { timeoutMs: 20_000 }).then(() => null, (err: unknown) => err);
    await rr.pair.close({ drain: { timeoutMs: 50 } });
    expect(await slow).toBeInstanceOf(ClosedError);
  });

  it('bad drain options are refused before anything happens', async () => {
    r = await rig({ mode: 'hot', rate: 0 }, { transport: 'node' });
    for (const drain of [1, 'yes', { timeoutMs: -1 }, { timeoutMs: 1.5 }, null]) {
      await expect(r.pair.close({ drain } as never)).rejects.toBeInstanceOf(ConfigError);
    }
    expect(r.pair.state.open).toBe(false);
  });
});

describe('open({ signal })', () => {
  it('an abort while no server answers rejects with AbortedError and closes the pair', async () => {
    const pair = new TServerPair({ name: 'Abort', primary: { host: '127.0.0.1', port: 1 }, backup: { host: '127.0.0.1', port: 2 }, transport: 'node' });
    const ac = new AbortController();
    const opening = pair.open({ signal: ac.signal });
    setTimeout(() => ac.abort(new Error('shutting down')), 50);
    await expect(opening).rejects.toBeInstanceOf(AbortedError);
    expect(pair.state.open).toBe(false);
    await expect(pair.request('RequestQueryServer', {})).rejects.toBeInstanceOf(ClosedError);
  });

  it('an already aborted signal opens nothing; a non-signal is refused', async () => {
    const pair = new TServerPair({ name: 'Abort2', primary: { host: '127.0.0.1', port: 1 }, backup: { host: '127.0.0.1', port: 2 }, transport: 'node' });
    await expect(pair.open({ signal: 'x' } as never)).rejects.toBeInstanceOf(ConfigError);
    await expect(pair.open({ signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortedError);
    expect(pair.state.open).toBe(false);
  });
});
