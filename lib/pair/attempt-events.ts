/**
 * The pair's view of its endpoints' attempts as public events: `connectFailed` (sampled per streak of
 * failures), `reconnecting` (sampled), `breaker`, `heartbeat`. Observability only — nothing here decides.
 */
import { monotonicMs } from '../clock.js';
import type { Endpoint } from '../endpoint/endpoint.js';
import type { PairEvents } from './events.js';
import { StreakSampler } from './observe.js';

type Push = <K extends keyof PairEvents>(name: K, payload: PairEvents[K][0]) => void;

export class AttemptEvents {
  private retries = 0;
  private readonly retrySampler = new StreakSampler();
  private readonly endpoints: Endpoint[] = [];
  private heartbeatsOn = false;
  private readonly heartbeatListeners = new Map<Endpoint, (rttMs: number, at: number) => void>();

  private onHeartbeat(ep: Endpoint): (rttMs: number, at: number) => void {
    let l = this.heartbeatListeners.get(ep);
    if (!l) {
      l = (rttMs, at) => this.push('heartbeat', { Server: this.pair, source: ep.name, rttMs, timestamp: at });
      this.heartbeatListeners.set(ep, l);
    }
    return l;
  }

  /** Listen to the endpoints' heartbeats (the transports then deliver them) or stop. */
  heartbeats(on: boolean): void {
    if (on === this.heartbeatsOn) return;
    this.heartbeatsOn = on;
    for (const ep of this.endpoints) {
      if (on) ep.on('heartbeat', this.onHeartbeat(ep));
      else ep.off('heartbeat', this.onHeartbeat(ep));
    }
  }

  constructor(
    private readonly pair: string,
    private readonly push: Push,
    /** The pair closed: nothing more to say. */
    private readonly closed: () => boolean,
  ) {}

  /** Bridge one endpoint's attempts, breaker changes and heartbeats. */
  watch(ep: Endpoint): void {
    const sampler = new StreakSampler();
    ep.on('attemptFailed', (attempt, error) => {
      if (this.closed() || !sampler.take(attempt)) return;
      this.push('connectFailed', { Server: this.pair, source: ep.name, attempt, suppressed: sampler.suppressed(attempt), error, timestamp: monotonicMs() });
    });
    ep.on('breaker', (state) => {
      if (!this.closed()) this.push('breaker', { Server: this.pair, source: ep.name, state, timestamp: monotonicMs() });
    });
    this.endpoints.push(ep);
    if (this.heartbeatsOn) ep.on('heartbeat', this.onHeartbeat(ep));
    // A new streak of retries starts when a session opens.
    ep.on('open', () => (this.retries = 0));
  }

  /** The supervisor scheduled a retry: the next attempt goes to `ep` in `minDelayMs`..`maxDelayMs`. */
  retry(ep: Endpoint, minDelayMs: number, maxDelayMs: number): void {
    const attempt = ++this.retries;
    if (this.closed() || !this.retrySampler.take(attempt)) return;
    this.retrySampler.suppressed(attempt);
    this.push('reconnecting', { Server: this.pair, source: ep.name, attempt, minDelayMs, maxDelayMs, timestamp: monotonicMs() });
  }
}
