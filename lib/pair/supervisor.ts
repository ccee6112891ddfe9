import pRetry from 'p-retry';
import type { ResolvedPairOptions } from '../config.js';
import { monotonicMs } from '../clock.js';
import type { DropReason, Endpoint, EndpointName } from '../endpoint/endpoint.js';

/**
 * Wait `ms`, or less if `signal` aborts (never rejects). The global timer (not timers/promises), so a
 * virtual clock that replaces it — the decision-core simulation's — drives this wait too.
 */
function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * The reconnect schedules. Hot standby: each endpoint keeps itself connected (first retry immediate, then
 * jittered exponential backoff). Warm standby: one connection; after a loss the first attempt goes to the
 * other server at once, then attempts alternate with backoff. Each attempt passes the endpoint's breaker.
 *
 * Who paces what (the schedule and the breaker used to fight: every outage longer than a quarter second
 * met the breaker's threshold, and a restarted server waited for its 5–15 s re-probe):
 * - the schedule paces attempts that get no answer (refused, unreachable, timed out: a crashed, restarting
 *   or stopped server): such an attempt costs the server nothing or limits itself by its deadline, and
 *   the first one that succeeds is the detection that the server is back, so it runs at the schedule's
 *   cadence — bounded (one at a time, ≥ `minDelayMs` apart) and jittered ×1..2, also at the `maxDelayMs`
 *   cap (default 1 s: a server back from any outage is connected again within about a second);
 * - the breaker (lib/endpoint/breaker.ts) counts only attempts a server answered with a failure, and
 *   paces those: a server that accepts and fails every session gets one probe per re-probe delay;
 * - the session pacer (`sessionPacer()`) paces a server that accepts, registers and then drops us at
 *   once — but not the sessions we ended ourselves (`drop('manual')`).
 */
export class Supervisor {
  private loops: Promise<void>[] = [];

  constructor(
    private readonly opts: ResolvedPairOptions,
    private readonly endpoints: Record<EndpointName, Endpoint>,
    private readonly signal: AbortSignal,
    private readonly dns: () => string[],
    /** A retry was scheduled: the next attempt goes to `ep` in `minMs`..`maxMs` (ReconnectingEvent). */
    private readonly onRetry: (ep: Endpoint, minMs: number, maxMs: number) => void = () => {},
  ) {}

  start(): void {
    if (this.opts.mode === 'hot') {
      this.loops = [this.hot(this.endpoints.primary), this.hot(this.endpoints.backup)];
    } else {
      this.loops = [this.warm()];
    }
  }

  /** Resolves when every loop has ended (after the signal aborted). */
  async stopped(): Promise<void> {
    await Promise.allSettled(this.loops);
  }

  private retry() {
    return {
      retries: Number.POSITIVE_INFINITY,
      minTimeout: this.opts.retry.minDelayMs,
      maxTimeout: this.opts.retry.maxDelayMs,
      factor: this.opts.retry.factor,
      // p-retry stretches each delay by ×1..2: clients of one failed server spread out instead of
      // reconnecting in lockstep (ioredis v5's storms).
      randomize: true,
      signal: this.signal,
    };
  }

  /**
   * Retry `fn` until it succeeds or the pair closes: for `retry.fastPhaseMs` at a steady, jittered
   * `minDelayMs` (a failover or a restart is usually over within seconds, and a warm backup can only be
   * found by trying), then with exponential backoff, then steadily at `maxDelayMs/2 .. maxDelayMs`.
   *
   * The last phase exists for the jitter: p-retry draws `random(1..2) × nominal` and then caps it at
   * `maxTimeout`, so once the nominal delay passes `maxDelayMs / 2` every draw becomes exactly
   * `maxDelayMs` — the clients of one failed server would retry in lockstep for as long as it stays down.
   * The growth phase therefore stops before the cap, and the steady phase draws ×1..2 of `maxDelayMs / 2`.
   */
  private async persist<T>(fn: () => Promise<T>, next: () => Endpoint): Promise<T> {
    const { fastPhaseMs, minDelayMs, maxDelayMs, factor } = this.opts.retry;
    if (fastPhaseMs > 0) {
      const start = monotonicMs();
      try {
        return await pRetry(fn, { ...this.retry(), factor: 1, maxRetryTime: fastPhaseMs, onFailedAttempt: (c) => {
          // Past the fast phase the slow schedule starts with an immediate attempt.
          if (monotonicMs() - start >= fastPhaseMs) this.onRetry(next(), 0, 0);
          else this.scheduled(next(), c.retriesConsumed, 1);
        } });
      } catch (err) {
        if (this.signal.aborted) throw err;
      }
    }
    // Retries whose nominal delay (minDelayMs × factor^n) is still below maxDelayMs / 2.
    const steadyMs = factor > 1 ? Math.max(minDelayMs, maxDelayMs / 2) : minDelayMs;
    const growth = factor > 1 ? Math.max(0, Math.ceil(Math.log(steadyMs / minDelayMs) / Math.log(factor))) : 0;
    if (growth > 0) {
      try {
        return await pRetry(fn, { ...this.retry(), retries: growth, onFailedAttempt: (c) => {
          if (c.retriesLeft > 0) this.scheduled(next(), c.retriesConsumed, factor);
          else this.scheduled(next(), 0, 1, steadyMs);
        } });
      } catch (err) {
        if (this.signal.aborted) throw err;
      }
      // The growth phase's last failure: the steady phase starts one steady delay later, not at once.
      await delay(Math.min(maxDelayMs, steadyMs * (1 + Math.random())), this.signal);
    }
    return pRetry(fn, { ...this.retry(), factor: 1, minTimeout: steadyMs, onFailedAttempt: () => this.scheduled(next(), 0, 1, steadyMs) });
  }

  /** The delay p-retry will draw for the retry after `retriesConsumed` (its formula, before and after the ×1..2 jitter). */
  private scheduled(ep: Endpoint, retriesConsumed: number, factor: number, minTimeout = this.opts.retry.minDelayMs, maxTimeout = this.opts.retry.maxDelayMs): void {
    if (this.signal.aborted) return;
    const nominal = minTimeout * factor ** Math.max(0, retriesConsumed);
    this.onRetry(ep, Math.min(Math.round(nominal), maxTimeout), Math.min(Math.round(2 * nominal), maxTimeout));
  }

  private async hot(ep: Endpoint): Promise<void> {
    const pace = this.sessionPacer();
    while (!this.signal.aborted) {
      try {
        await this.persist(() => ep.open(this.dns(), this.opts.window, this.noneOpen()), () => ep);
      } catch {
        return; // only an abort ends p-retry with infinite retries
      }
      const openedAt = monotonicMs();
      const dropped = await this.untilLost(ep);
      await pace(monotonicMs() - openedAt, dropped);
    }
  }

  /**
   * A server that accepts, registers and then drops us at once would otherwise be reconnected to as fast
   * as the handshake allows (each success starts a fresh schedule, and resets the breaker). Sessions that
   * end within `fastPhaseMs` (at least 1 s) are followed by a growing, jittered pause; one that lasted
   * longer resets it.
   *
   * A session we ended ourselves with `drop('manual')` (a `switchover()`) says nothing about the server:
   * it is neither counted as short nor paced, and leaves the count as it was (a flapping server stays
   * paced across our switchovers). Counting it made repeated switchovers between two healthy servers
   * look like a failing one: reconnects waited 10 → 184 → 383 → 746 → >1150 ms, and the next
   * switchover found the other server still disconnected (a gap although nothing failed). A 'not-promoted'
   * drop (warm: a backup we gave up waiting for) is still paced: that server was not usable.
   */
  private sessionPacer(): (lastedMs: number, dropped?: DropReason) => Promise<void> {
    let short = 0;
    const minLife = Math.max(1000, this.opts.retry.fastPhaseMs);
    return async (lastedMs, dropped) => {
      if (dropped === 'manual') return;
      if (lastedMs >= minLife) {
        short = 0;
        return;
      }
      const { minDelayMs, maxDelayMs, factor } = this.opts.retry;
      const ms = Math.min(maxDelayMs, minDelayMs * factor ** short++) * (1 + Math.random());
      if (short > 1) await delay(ms, this.signal);
    };
  }

  private async warm(): Promise<void> {
    let first = this.endpoints.primary;
    let afterLoss = false;
    const pace = this.sessionPacer();
    while (!this.signal.aborted) {
      let n = 0;
      let ep: Endpoint | undefined;
      try {
        if (afterLoss) ep = await this.probe(first);
        ep ??= await this.persist(async () => {
          const e = n++ % 2 === 0 ? first : this.other(first);
          // Held from the first byte: events of DNs registered early arrive before the handshake ends.
          await e.open(this.dns(), this.opts.window, this.noneOpen() && this.allBreakersOpen());
          return e;
        }, () => (n % 2 === 0 ? first : this.other(first)));
      } catch {
        return;
      }
      afterLoss = true;
      const openedAt = monotonicMs();
      // A server that says backup (or is demoted while we are connected) is given up by the decision core
      // after warmBackupWaitMs (its `drop` effect, reason not-promoted); here that is just a loss.
      const dropped = await this.untilLost(ep);
      first = this.other(ep);
      await pace(monotonicMs() - openedAt, dropped);
    }
  }

  /**
   * Warm standby, right after a loss: the other server is the one about to be promoted, and a warm backup
   * can only be found by trying (it refuses clients until then). For `retry.probeMs` attempts go to it
   * alone every `retry.probeIntervalMs` (×1..2 jitter, p-retry), one at a time — against a refusing port
   * each is a SYN answered by a RST — so the pair is on the new primary within about one interval of its
   * promotion instead of one fast-phase delay (50–100 ms, alternating servers). Probes bypass the breaker
   * (they must not trip it: refusals are expected here) but the phase is skipped when that endpoint's
   * breaker is already open at the loss (it has been failing: no burst at it). Returns undefined when the
   * window passes without a session: the normal schedule takes over (both servers, alternating).
   */
  private async probe(target: Endpoint): Promise<Endpoint | undefined> {
    const { probeMs, probeIntervalMs } = this.opts.retry;
    if (probeMs <= 0 || target.breakerState === 'open' || !this.noneOpen()) return undefined;
    try {
      await pRetry(() => target.open(this.dns(), this.opts.window, true), {
        retries: Math.ceil(probeMs / probeIntervalMs),
        minTimeout: probeIntervalMs,
        factor: 1,
        randomize: true,
        maxRetryTime: probeMs,
        signal: this.signal,
        onFailedAttempt: (c) => this.scheduled(target, c.retriesConsumed, 1, probeIntervalMs, Number.POSITIVE_INFINITY),
      });
      return target;
    } catch (err) {
      if (this.signal.aborted) throw err;
      return undefined;
    }
  }

  /** No endpoint is open: the pair has nothing to deliver from. */
  private noneOpen(): boolean {
    return this.endpoints.primary.state !== 'open' && this.endpoints.backup.state !== 'open';
  }

  /**
   * Every breaker open: both servers failed repeatedly (a warm backup refuses clients until it is
   * promoted). Trying anyway ("panic mode", as Finagle does) beats locking the pair out for a reset period.
   */
  private allBreakersOpen(): boolean {
    return this.endpoints.primary.breakerState === 'open' && this.endpoints.backup.breakerState === 'open';
  }

  private other(ep: Endpoint): Endpoint {
    return ep === this.endpoints.primary ? this.endpoints.backup : this.endpoints.primary;
  }

  /** Resolves when the session of `ep` ends (or the pair closes), with the owner's drop reason, if it was one. */
  private untilLost(ep: Endpoint): Promise<DropReason | undefined> {
    return new Promise((resolve) => {
      const done = (_info?: unknown, dropped?: DropReason) => {
        ep.off('lost', done);
        this.signal.removeEventListener('abort', onAbort);
        resolve(dropped);
      };
      const onAbort = () => done();
      if (ep.state !== 'open' || this.signal.aborted) return resolve(undefined);
      ep.on('lost', done);
      this.signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}
