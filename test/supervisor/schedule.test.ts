/**
 * The reconnect schedule and the breaker in isolation (lib/pair/supervisor.ts, lib/endpoint/breaker.ts):
 * the Supervisor driven over fake endpoints, opossum under fake timers. Deterministic: delays are read from
 * the schedule's own reports (onRetry), and waits are for calls, never for time.
 */
import { EventEmitter } from 'node:events';
import FakeTimers from '@sinonjs/fake-timers';
import { afterEach, describe, expect, it } from 'vitest';
import { Supervisor } from '../../lib/pair/supervisor.js';
import { createBreaker, noAnswer } from '../../lib/endpoint/breaker.js';
import { resolvePairOptions, type TServerPairOptions } from '../../lib/config.js';
import type { DropReason, Endpoint, EndpointName } from '../../lib/endpoint/endpoint.js';
import { HandshakeError, ServerError, TransportError } from '../../lib/errors.js';

/** Just what the Supervisor reads of an endpoint. */
class FakeEndpoint extends EventEmitter {
  state: 'idle' | 'connecting' | 'open' | 'closed' = 'idle';
  role = 'primary';
  breakerState: 'closed' | 'open' | 'half-open' | 'disabled' = 'closed';
  opens: number[] = [];
  private waiters: (() => void)[] = [];
  constructor(readonly name: EndpointName, private readonly succeed: boolean) {
    super();
  }
  async open(): Promise<void> {
    this.opens.push(performance.now());
    for (const w of this.waiters.splice(0)) w();
    await Promise.resolve();
    if (!this.succeed) throw new TransportError('ERR_CONNECT_REFUSED', 'refused');
    this.state = 'open';
  }
  /** Resolves once open() has been called `n` times in all. */
  opened(n: number): Promise<void> {
    return new Promise((resolve) => {
      const check = () => (this.opens.length >= n ? resolve() : this.waiters.push(check));
      check();
    });
  }
  /** Resolves once the Supervisor waits for this session's loss (its listener is on). */
  async watched(): Promise<void> {
    while (this.listenerCount('lost') === 0) await new Promise((r) => setImmediate(r));
  }
  lose(dropped: DropReason | undefined): void {
    this.state = 'closed';
    this.emit('lost', { reason: 'peer-closed' }, dropped);
  }
  async drop(): Promise<void> {}
}

const base: TServerPairOptions = { name: 'S', primary: { host: 'a', port: 1 }, backup: { host: 'b', port: 2 } };
let abort: AbortController | undefined;
let sup: Supervisor | undefined;
afterEach(async () => {
  abort?.abort();
  await sup?.stopped();
  abort = undefined;
  sup = undefined;
});

function supervise(options: Partial<TServerPairOptions>, succeed: boolean, onRetry?: (ep: Endpoint, min: number, max: number) => void) {
  const o = resolvePairOptions({ ...base, ...options });
  const eps = { primary: new FakeEndpoint('primary', succeed), backup: new FakeEndpoint('backup', succeed) };
  abort = new AbortController();
  sup = new Supervisor(o, eps as unknown as Record<EndpointName, Endpoint>, abort.signal, () => [], onRetry);
  sup.start();
  return eps;
}

describe('reconnect schedule', () => {
  it('stays jittered at the cap: maxDelayMs/2..maxDelayMs, never a fixed maxDelayMs', async () => {
    // No fast phase: growth 1, 2 (nominal below maxDelayMs/2 = 4), then steady 4..8 for ever.
    const ranges: [number, number][] = [];
    const eps = supervise({ retry: { minDelayMs: 1, maxDelayMs: 8, factor: 2, fastPhaseMs: 0 } }, false, (ep, min, max) => {
      if (ep.name === 'primary') ranges.push([min, max]);
    });
    await eps.primary.opened(12);
    expect(ranges.slice(0, 10)).toEqual([[1, 2], [2, 4], [4, 8], [4, 8], [4, 8], [4, 8], [4, 8], [4, 8], [4, 8], [4, 8]]);
    // p-retry waits at least the range's minimum between attempts (one at a time).
    const gaps = eps.primary.opens.slice(4, 12).map((t, i, a) => (i === 0 ? Infinity : t - a[i - 1]!)).slice(1);
    for (const g of gaps) expect(g).toBeGreaterThanOrEqual(3);
  });

  it('defaults: 50–100 ms for 3 s, then doubling, then 0.5–1 s steady', () => {
    const o = resolvePairOptions(base);
    expect(o.retry).toMatchObject({ minDelayMs: 50, maxDelayMs: 1000, factor: 2, fastPhaseMs: 3000 });
  });
});

describe('session pacer', () => {
  // Every session is short (fastPhaseMs 10 min) and any pause would be ≥ 1 min.
  const slow = { retry: { minDelayMs: 60_000, maxDelayMs: 60_000, fastPhaseMs: 600_000 } };

  it("does not pace sessions we dropped ('manual'): each is reconnected at once", async () => {
    const eps = supervise({ ...slow, mode: 'hot' }, true);
    for (let i = 1; i <= 6; i++) {
      await eps.primary.opened(i);
      await eps.primary.watched();
      eps.primary.lose('manual');
    }
    await eps.primary.opened(7);
    expect(eps.primary.opens.length).toBe(7);
  });

  it('paces a server that drops us right away, and our own drops in between do not reset that', async () => {
    const eps = supervise({ ...slow, mode: 'hot' }, true);
    await eps.primary.opened(1);
    await eps.primary.watched();
    eps.primary.lose(undefined); // short #1: reconnected at once
    await eps.primary.opened(2);
    await eps.primary.watched();
    eps.primary.lose('manual'); // ours: neither counted nor paced
    await eps.primary.opened(3);
    await eps.primary.watched();
    eps.primary.lose(undefined); // short #2: paced (≥ 1 min)
    // No third reconnect may follow; waiting longer can only make that more certain.
    await new Promise((r) => setTimeout(r, 300));
    expect(eps.primary.opens.length).toBe(3);
  });
});

describe('breaker', () => {
  it('does not count attempts that got no answer', () => {
    expect(noAnswer(new TransportError('ERR_CONNECT_REFUSED', 'x'))).toBe(true);
    expect(noAnswer(new TransportError('ERR_CONNECT_TIMEOUT', 'x'))).toBe(true);
    expect(noAnswer(new TransportError('ERR_ADDP_TIMEOUT', 'x'))).toBe(true);
    expect(noAnswer(new TransportError('ERR_SOCKET', 'x', { syscallCode: 'EHOSTUNREACH' }))).toBe(true);
    expect(noAnswer(new HandshakeError('primary (h:1)', 'no complete handshake within 3000 ms', undefined, true))).toBe(true);
    // A handshake the server never answered (a stopped process: the ADDP deadline during the handshake).
    expect(noAnswer(new HandshakeError('primary (h:1)', 'no byte', new TransportError('ERR_ADDP_TIMEOUT', 'x'), true))).toBe(true);
    expect(noAnswer(new HandshakeError('primary (h:1)', 'closed', new TransportError('ERR_PEER_CLOSED', 'x')))).toBe(false);
    // Answers that are failures: counted.
    expect(noAnswer(new TransportError('ERR_PEER_RESET', 'x'))).toBe(false);
    expect(noAnswer(new TransportError('ERR_PEER_CLOSED', 'x'))).toBe(false);
    expect(noAnswer(new TransportError('ERR_SOCKET', 'x', { syscallCode: 'EPROTO' }))).toBe(false);
    expect(noAnswer(new HandshakeError('primary (h:1)', 'expected EventServerInfo, got EventError'))).toBe(false);
    expect(noAnswer(new ServerError('RequestRegisterClient', 1, 'no'))).toBe(false);
  });

  it('opens on answered failures only, and keeps no timer while idle', async () => {
    const clock = FakeTimers.install({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    try {
      let fail: Error = new TransportError('ERR_CONNECT_REFUSED', 'refused');
      const b = createBreaker(async () => {
        throw fail;
      }, { errorThresholdPercentage: 50, volumeThreshold: 5, resetTimeoutMs: 10_000, rollingWindowMs: 10_000 }, 'T');
      // Created and idle: no timer at all (no snapshots, no rolling-window rotation).
      expect(clock.countTimers()).toBe(0);
      for (let i = 0; i < 20; i++) await b.fire().catch(() => {});
      expect(b.opened).toBe(false);
      // The window rotates while it holds counts, and stops once a whole window passed without a fire.
      expect(clock.countTimers()).toBe(1);
      await clock.tickAsync(12_000);
      expect(clock.countTimers()).toBe(0);
      fail = new TransportError('ERR_PEER_RESET', 'reset');
      for (let i = 0; i < 5; i++) await b.fire().catch(() => {});
      expect(b.opened).toBe(true);
      b.shutdown();
      expect(clock.countTimers()).toBe(0);
    } finally {
      clock.uninstall();
    }
  });
});
