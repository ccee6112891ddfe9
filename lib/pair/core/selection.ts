import type { EndpointName, LinkState, RoleName } from './vocabulary.js';

/** What the core knows of one endpoint when it decides. */
export interface Candidate {
  name: EndpointName;
  /** `open`: a session is up and usable (its window release has not failed). */
  state: 'open' | 'closed';
  role: RoleName;
  link: LinkState;
}

/** Can take requests: open, says primary, CTI link up. */
export const routable = (c: Candidate): boolean => c.state === 'open' && c.role === 'primary' && c.link === 'up';

/**
 * Which endpoint events are delivered from. Delivery is sticky: the current source is kept while it is
 * open — and, with `switchOnLinkDown`, while its CTI link is up or no other endpoint has one — because
 * moving a healthy stream can only risk events in flight, never gain any (both servers carry the same
 * sequence-numbered events). A new source is the open endpoint with, in order of weight, a live link
 * (role first without `switchOnLinkDown`), the primary role, then the configured primary. Before the pair
 * has ever been usable (`opening`), only a routable endpoint may become the source, so the first events
 * come from the primary and no startup move is needed. Pure, so the policy is testable as a table.
 */
export function pickSource(candidates: readonly Candidate[], current: EndpointName | null, switchOnLinkDown: boolean, opening = false): EndpointName | null {
  const open = candidates.filter((c) => c.state === 'open' && (!opening || routable(c)));
  const cur = open.find((c) => c.name === current);
  if (cur && (!switchOnLinkDown || cur.link === 'up' || !open.some((c) => c.link === 'up'))) return cur.name;
  let best: Candidate | null = null;
  let bestScore = -1;
  for (const c of open) {
    const link = c.link === 'up' ? 1 : 0;
    const primary = c.role === 'primary' ? 1 : 0;
    const score = switchOnLinkDown ? link * 4 + primary * 2 : primary * 4 + link * 2;
    if (score > bestScore || (score === bestScore && c.name === 'primary')) {
      best = c;
      bestScore = score;
    }
  }
  return best?.name ?? null;
}

/**
 * Which endpoint requests go to: a routable one, keeping the current target while it stays routable
 * (during split brain too), else preferring the delivery source, else the configured primary.
 */
export function pickActive(candidates: readonly Candidate[], current: EndpointName | null, source: EndpointName | null): EndpointName | null {
  const ok = candidates.filter(routable);
  for (const pref of [current, source, 'primary', 'backup'] as const) {
    const c = ok.find((x) => x.name === pref);
    if (c) return c.name;
  }
  return null;
}

/** True when both endpoints are open and both say primary. */
export function isSplitBrain(candidates: readonly Candidate[]): boolean {
  return candidates.filter((c) => c.state === 'open' && c.role === 'primary').length > 1;
}
