import { monotonicMs } from '../clock.js';
import type { Endpoint } from '../endpoint/endpoint.js';
import { OpenTimeoutError } from '../errors.js';
import type { EndpointName } from './core/vocabulary.js';
import type { EndpointStatus } from './events.js';
import type { PairHealth } from './method-options.js';

// What the pair says about itself — state, health, why open() timed out — read from its parts, deciding
// nothing: one rendering of an endpoint's status for all three.

/** One endpoint as `pair.state` shows it. */
export function endpointStatus(ep: Endpoint): EndpointStatus {
  return {
    address: `${ep.address.host}:${ep.address.port}`,
    server: ep.state,
    role: ep.role,
    link: ep.link,
    breaker: ep.breakerState,
    pendingRequests: ep.pendingCount,
    transport: ep.transportKind,
    lastError: ep.lastError,
  };
}

/** ERR_OPEN_TIMEOUT with why: each endpoint's state and last error, the most recent one as `cause`. */
export function openTimeoutError(pair: string, timeoutMs: number, endpoints: Record<EndpointName, Endpoint>): OpenTimeoutError {
  const each = (ep: Endpoint) => {
    const s = endpointStatus(ep);
    return { address: s.address, state: s.server, role: s.role, link: s.link, lastError: s.lastError };
  };
  const latest = Object.values(endpoints).filter((ep) => ep.lastError).sort((a, b) => b.lastErrorAt - a.lastErrorAt)[0];
  return new OpenTimeoutError(pair, timeoutMs, { primary: each(endpoints.primary), backup: each(endpoints.backup) }, latest?.lastError ?? undefined);
}

/** What health() reads from the pair. */
export interface HealthFacts {
  opened: boolean;
  /** Closed, or closing with drain. */
  stopping: boolean;
  active: EndpointName | null;
  everActive: boolean;
  /** Since when (monotonic ms) no server has taken requests, after one had; null while one does. */
  noActiveSince: number | null;
}

/** pair.health(): liveness, and readiness with a grace period for switchovers (docs/semantics.md, "Health"). */
export function pairHealth(facts: HealthFacts, graceMs: number): PairHealth {
  const { opened, stopping, active } = facts;
  const noServerForMs = active === null && facts.noActiveSince !== null ? monotonicMs() - facts.noActiveSince : null;
  let reason: string | undefined;
  if (!opened) reason = 'open() was not called';
  else if (stopping) reason = 'the pair is closing or closed';
  else if (!facts.everActive) reason = 'no server has taken requests yet';
  else if (active === null && (noServerForMs ?? 0) >= graceMs) reason = `no server has taken requests for ${Math.round(noServerForMs!)} ms`;
  return { live: opened && !stopping, ready: reason === undefined, active, noServerForMs, ...(reason ? { reason } : {}) };
}
