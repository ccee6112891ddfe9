import type { EndpointName, EndpointState, LinkState, RoleName } from '../endpoint/endpoint.js';

/** What the pair knows of one endpoint when it decides where to deliver from. */
export interface Candidate {
  name: EndpointName;
  state: EndpointState;
  role: RoleName;
  link: LinkState;
}

/**
 * Which endpoint events should be delivered from: an open one, preferring (with `switchOnLinkDown`) a live
 * CTI link, then the primary role, then the current source (stickiness: no flapping between equals, and
 * during split brain the current source is kept). Ties go to the configured primary. Without
 * `switchOnLinkDown`, role outranks link. Pure, so the policy is testable as a table.
 */
export function pickSource(candidates: readonly Candidate[], current: EndpointName | null, switchOnLinkDown: boolean): EndpointName | null {
  let best: Candidate | null = null;
  let bestScore = -1;
  for (const c of candidates) {
    if (c.state !== 'open') continue;
    const link = c.link === 'up' ? 1 : 0;
    const primary = c.role === 'primary' ? 1 : 0;
    const score = (switchOnLinkDown ? link * 4 + primary * 2 : primary * 4 + link * 2) + (c.name === current ? 1 : 0);
    if (score > bestScore || (score === bestScore && c.name === 'primary')) {
      best = c;
      bestScore = score;
    }
  }
  return best?.name ?? null;
}

/** True when both endpoints are open and both say primary. */
export function isSplitBrain(candidates: readonly Candidate[]): boolean {
  return candidates.filter((c) => c.state === 'open' && c.role === 'primary').length > 1;
}
