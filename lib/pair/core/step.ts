/**
 * The pair's decisions as one function: `step(state, input)` updates the state and returns what the shell
 * must do, in order. Which endpoint delivers (source), which takes requests (active), when a move needs a
 * window and what it may have missed (gaps), switchovers, split brain. The shape is MongoDB's
 * `TopologyDescription.update()`: stale input (an older connection generation) is dropped first, then the
 * decision is made, then the effects are listed — the shell runs them and emits.
 */
import type { GapEvent, SwitchoverReason } from '../events.js';
import { gap, renumbered, restartSeen, windowReplayed } from './admit.js';
import { Holes } from './holes.js';
import { isSplitBrain, pickActive, pickSource, type Candidate } from './selection.js';
import type { EndpointName } from './vocabulary.js';
import { OPEN_END, type ConnView, type CoreConfig, type CoreState, type Effect, type Input } from './types.js';

const NAMES: readonly EndpointName[] = ['primary', 'backup'];

function conn(name: EndpointName, maxHoles: number): ConnView {
  return {
    name, open: false, gen: -1, role: 'unknown', link: 'unknown', epoch: '', restarts: 0, registeredSeq: -1, maxSeq: -1, windowEnd: -1,
    highWater: -1, holes: new Holes(maxHoles), reportedAt: 0, broken: false, pendingSkip: -1, backupSince: -1, handshakeSeq: -1,
  };
}

export function createCore(config: CoreConfig): CoreState {
  return {
    config,
    eps: { primary: conn('primary', config.maxHoles), backup: conn('backup', config.maxHoles) },
    delivery: { phase: 'none', source: null, gen: -1, epoch: null, lastSeq: -1, everHadSource: false, lost: null, fenceUs: -1, movedAtUs: -1 },
    routing: { active: null, lastActive: null, lostActive: null, everActive: false, replayed: 0, gap: null, wanted: null, wantedSince: 0 },
    split: { since: null, reported: false },
    closed: false,
    timerAt: null,
    factAt: 0,
    stats: { delivered: 0, duplicatesDropped: 0, replayed: 0, gaps: 0, switchovers: 0 },
    gapOut: { fromSeq: -1, toSeq: -1, epoch: '' },
  };
}

/**
 * Apply one input; returns the effects to run, in order. Stale input (an older connection's, a move that
 * is no longer under way) changes nothing; then the decision; then the deadline the shell's timer must
 * keep, last, so it reflects everything decided.
 */
export function step(s: CoreState, input: Input): Effect[] {
  const fx: Effect[] = [];
  decide(s, input, fx);
  armTimer(s, input, fx);
  return fx;
}

function decide(s: CoreState, input: Input, fx: Effect[]): void {
  switch (input.kind) {
    case 'opened':
      opened(s, input, fx);
      break;
    case 'lost': {
      const v = view(s, input.ep, input.gen);
      if (!v?.open) break;
      s.factAt = input.at;
      lost(s, v, input.reason, input.at, fx);
      break;
    }
    case 'role': {
      const v = view(s, input.ep, input.gen);
      if (!v?.open || v.role === input.role) break;
      s.factAt = input.readAt;
      v.role = input.role;
      v.reportedAt = input.readAt;
      watchBackup(s, v, input.at);
      evaluate(s, 'role-change', input.at, input.at, fx);
      break;
    }
    case 'link':
      link(s, input, fx);
      break;
    case 'released':
      released(s, input, fx);
      break;
    case 'releaseFailed': {
      const d = s.delivery;
      if (!movingTo(s, input.ep, input.gen)) break;
      // The connection is going away; until its loss arrives it must not be chosen again.
      (s.eps[input.ep]).broken = true;
      d.phase = 'none';
      d.source = null;
      fx.push({ kind: 'discardHeld' });
      evaluate(s, d.lost?.reason ?? 'crash', d.lost?.at ?? input.at, input.at, fx);
      break;
    }
    case 'windowAdmitted': {
      if (!movingTo(s, input.ep, input.gen)) break;
      // Before the live events held behind the window: they compare with where the window left the stream.
      windowReplayed(s.eps[input.ep]);
      s.routing.replayed += input.replayed;
      s.stats.replayed += input.replayed;
      fx.push({ kind: 'admitHeld', ep: input.ep, gen: input.gen });
      break;
    }
    case 'heldAdmitted':
      heldAdmitted(s, input, fx);
      break;
    case 'tick':
      tick(s, input.at, fx);
      break;
    case 'manual':
      if (!s.closed && s.delivery.source !== null) fx.push({ kind: 'drop', ep: s.delivery.source, reason: 'manual' });
      break;
    case 'close':
      s.closed = true;
      if (s.delivery.phase === 'moving') fx.push({ kind: 'discardHeld' });
      break;
  }
}

/** Keep the shell's one timer on the earliest deadline: split-brain grace, a warm backup's wait. */
function armTimer(s: CoreState, input: Input, fx: Effect[]): void {
  let at: number | null = null;
  if (!s.closed) {
    const sb = s.split;
    if (sb.since !== null && !sb.reported) at = sb.since + s.config.splitBrainGraceMs;
    for (const name of NAMES) {
      const since = s.eps[name].backupSince;
      if (since >= 0) {
        const due = since + s.config.warmBackupWaitMs;
        if (at === null || due < at) at = due;
      }
    }
  }
  // A tick re-arms even for the same deadline: the timer that called it has fired.
  if (at === s.timerAt && input.kind !== 'tick') return;
  s.timerAt = at;
  fx.push({ kind: 'timer', at });
}

/**
 * Warm standby holds one connection; one to a server that says backup is worth keeping only while its
 * promotion may come (the primary died and the management layer is about to promote it). Start or stop
 * that wait; `tick` drops the connection when it runs out.
 */
function watchBackup(s: CoreState, v: ConnView, at: number): void {
  const waiting = s.config.mode === 'warm' && v.open && v.role === 'backup';
  if (!waiting) v.backupSince = -1;
  else if (v.backupSince < 0) v.backupSince = at;
}

/** A move to `ep`'s connection `gen` is under way (a move's answers after close, or for another move, are stale). */
function movingTo(s: CoreState, ep: EndpointName, gen: number): boolean {
  const d = s.delivery;
  return !s.closed && d.phase === 'moving' && d.source === ep && d.gen === gen;
}

/** The view of `ep` if `gen` is its current connection; null for stale input. */
function view(s: CoreState, ep: EndpointName, gen: number): ConnView | null {
  const v = s.eps[ep];
  return v.gen === gen ? v : null;
}

function opened(s: CoreState, input: Extract<Input, { kind: 'opened' }>, fx: Effect[]): void {
  const v = s.eps[input.ep];
  const f = input.facts;
  s.factAt = f.at;
  // A session can only open after the previous one ended; if its loss never reached us, apply it now.
  if (v.open && v.gen !== input.gen) lost(s, v, 'crash', f.at, fx);
  v.open = true;
  v.broken = false;
  v.gen = input.gen;
  v.role = f.role;
  v.link = f.link;
  v.reportedAt = f.at;
  v.restarts = 0;
  v.maxSeq = -1;
  v.windowEnd = -1;
  v.holes.clear();
  v.backupSince = -1;
  watchBackup(s, v, f.at);
  v.registeredSeq = f.registeredSeq;
  v.handshakeSeq = f.serverSeq;
  const position = Math.max(f.serverSeq, f.registeredSeq);
  if (f.epoch !== undefined) {
    if (f.epoch !== v.epoch) v.highWater = -1;
    v.epoch = f.epoch;
  } else if (position >= 0 && position < v.highWater) {
    // No epoch label, but this server is behind where it was before: its numbering restarted.
    v.epoch = `${input.ep}#${input.gen}`;
    v.highWater = -1;
  }
  if (position > v.highWater) v.highWater = position;
  // Outages before the session opened are holes in its stream too (its window holds from the first byte).
  for (const r of f.linkReports) {
    if (!r.up) v.holes.open(r.seq >= 0 ? r.seq + 1 : 0);
    else v.holes.close(r.seq);
  }
  evaluate(s, 'role-change', f.at, f.at, fx);
}

function lost(s: CoreState, v: ConnView, reason: SwitchoverReason, at: number, fx: Effect[]): void {
  v.open = false;
  v.role = 'unknown';
  v.link = 'unknown';
  v.backupSince = -1;
  if (v.maxSeq > v.highWater) v.highWater = v.maxSeq;
  const d = s.delivery;
  if (d.source === v.name) {
    if (d.phase === 'moving') fx.push({ kind: 'discardHeld' });
    d.phase = 'none';
    d.source = null;
    d.lost = { from: v.name, reason, at };
  }
  // Requests stop going there at once, even while delivery is still moving.
  if (s.routing.active === v.name) updateActive(s, reason, at, at, fx);
  evaluate(s, reason, at, at, fx);
}

function link(s: CoreState, input: Extract<Input, { kind: 'link' }>, fx: Effect[]): void {
  const v = view(s, input.ep, input.gen);
  if (!v?.open) return;
  s.factAt = input.readAt;
  // A link-down report's position is the last event the server received before the drop, so it is at
  // least every event it sent us before: one below them means its numbering went back (the outage is then
  // in the new numbering). Not a link-up report: its position is where the outage ended, repeated as is by
  // later reports of the same state (a promotion, a new session) — it can lie below newer events.
  if (!input.up && input.seq >= 0 && input.seq < v.maxSeq) restartSeen(s, v, fx);
  const d = s.delivery;
  const live = d.source === v.name && d.phase === 'live';
  if (!input.up) {
    if (v.link === 'down') return;
    v.link = 'down';
    // Without a position, the hole starts after the last event we took from this connection, or (held:
    // we never saw its stream) anywhere: it is clipped to what was delivered when reported.
    v.holes.open(input.seq >= 0 ? input.seq + 1 : live ? v.maxSeq + 1 : 0);
    evaluate(s, 'link-down', input.at, input.at, fx);
    return;
  }
  if (v.link === 'down') v.holes.close(input.seq);
  v.link = 'up';
  v.reportedAt = input.readAt;
  // The source's link is back: what it missed will never come from it. Say so now, not at the next event.
  if (live && d.epoch === v.epoch && v.holes.takeClosedAbove(d.lastSeq, s.gapOut)) {
    gap(s, fx, d.epoch, s.gapOut.fromSeq, s.gapOut.toSeq, 'link-restored', v.name);
  }
  evaluate(s, 'role-change', input.at, input.at, fx);
}

function released(s: CoreState, input: Extract<Input, { kind: 'released' }>, fx: Effect[]): void {
  const d = s.delivery;
  if (!movingTo(s, input.ep, input.gen)) return;
  const v = s.eps[input.ep];
  // Every event held on this connection came after its handshake, so it is numbered above the position
  // the server gave then: one at or below it means the numbering went back (an in-place restart between
  // the handshake and the first held event), even if the window's own numbers only went up.
  // Likewise an event at or below its own DN's registration position (`belowRegistration`).
  const wentBackBeforeWindow = (input.facts.firstSeenSeq >= 0 && v.handshakeSeq >= 0 && input.facts.firstSeenSeq <= v.handshakeSeq) || input.facts.belowRegistration === true;
  const f = wentBackBeforeWindow ? { ...input.facts, seqDecreased: true } : input.facts;
  v.windowEnd = f.lastSeenSeq;
  // Its stream may lag what was delivered — unless, in the same numbering, its window reached our last event.
  const caughtUp = d.epoch === v.epoch && !f.seqDecreased && f.lastSeenSeq >= 0 && f.lastSeenSeq >= d.lastSeq;
  d.movedAtUs = d.everHadSource && !caughtUp ? f.lastTimeUs : -1;
  const reason: GapEvent['reason'] = s.config.mode === 'hot' ? 'switchover' : 'reconnect';
  if (!d.everHadSource && f.seqDecreased) {
    // The first source, renumbered before we delivered anything: what its window holds mixes numberings,
    // so none of it is delivered. Promised (after its registration point) and maybe in the window: the rest
    // of the old numbering, and the new one up to the window's last frame.
    const oldEpoch = v.epoch;
    renumbered(v);
    gap(s, fx, oldEpoch, v.registeredSeq + 1, OPEN_END, 'sequence-reset', v.name);
    if (f.lastSeenSeq >= 0) gap(s, fx, v.epoch, 0, f.lastSeenSeq, 'sequence-reset', v.name);
    d.epoch = v.epoch;
    d.lastSeq = f.lastSeenSeq;
    d.everHadSource = true;
    v.maxSeq = f.lastSeenSeq;
    v.pendingSkip = -1;
    fx.push({ kind: 'admitWindow', ep: v.name, gen: v.gen, deliver: false });
    return;
  }
  if (d.everHadSource && d.epoch !== null && (d.epoch !== v.epoch || f.seqDecreased)) {
    // A window whose numbering went back is discarded (below): from its newest frames on, this connection
    // is in a numbering of its own (as when a live event goes back, admit.ts).
    if (f.seqDecreased) renumbered(v);
    // The numbering changed: this connection's numbers do not compare with what was delivered. Everything
    // after our last event in the old numbering may be lost, and in the new one everything up to where
    // this connection's stream is whole (its registration point, its evictions).
    const upTo = f.seqDecreased ? -1 : Math.max(f.evictedUpTo, v.registeredSeq);
    gap(s, fx, d.epoch, d.lastSeq + 1, OPEN_END, 'sequence-reset', v.name);
    if (upTo >= 0) gap(s, fx, v.epoch, 0, upTo, 'sequence-reset', v.name);
    d.epoch = v.epoch;
    d.lastSeq = -1;
    v.holes.dropUpTo(upTo);
    v.pendingSkip = upTo;
    if (f.lastTimeUs >= 0 && !f.seqDecreased) {
      // Both servers stamp a switch event with the switch's time: what this connection has from before our
      // last event's time was delivered already (or lies in the gap above). Replay the rest through that fence.
      d.fenceUs = f.lastTimeUs;
      fx.push({ kind: 'admitWindow', ep: v.name, gen: v.gen, deliver: true });
    } else {
      // No time to order by: nothing of the window can be delivered without risking a repeat. Its last
      // frame is where the newest numbering stands (a decrease inside it leaves mixed numbers in windowMax).
      // (Across numberings the whole window was asked for, so its last frame is its highest unless it went back.)
      const top = f.lastSeenSeq;
      if (v.maxSeq < top || f.seqDecreased) v.maxSeq = top;
      if (top > upTo) gap(s, fx, v.epoch, upTo + 1, top, 'sequence-reset', v.name);
      d.lastSeq = Math.max(upTo, top);
      v.pendingSkip = -1;
      // Live events after the window are still ordered by the switch's clock: one this connection sent
      // after its window but stamped no later than our last event (it was in flight) was delivered already
      // from the old source, or lies in the old numbering's gap.
      if (f.lastTimeUs >= 0) d.fenceUs = f.lastTimeUs;
      fx.push({ kind: 'admitWindow', ep: v.name, gen: v.gen, deliver: false });
    }
    return;
  }
  if (d.everHadSource) {
    // What this connection cannot give us: events up to its registration point (warm: it registered after
    // our last event) and events its window evicted.
    const gapTo = Math.max(f.evictedUpTo, v.registeredSeq);
    if (gapTo > d.lastSeq) {
      gap(s, fx, d.epoch ?? v.epoch, d.lastSeq + 1, gapTo, reason, v.name);
      // Outages inside the range just reported are told: no second report when the window's events pass them.
      v.holes.dropUpTo(gapTo);
    }
    v.pendingSkip = gapTo;
    // Its link went down and came back without saying where: any of its window may be missing.
    // (Same numbering, never went back: the window's last frame is its highest.)
    if (v.holes.openEnded && v.link === 'up' && f.lastSeenSeq > Math.max(d.lastSeq, gapTo)) {
      gap(s, fx, d.epoch ?? v.epoch, Math.max(d.lastSeq, gapTo) + 1, f.lastSeenSeq, 'link-restored', v.name);
      v.holes.bound(f.lastSeenSeq);
      v.holes.dropUpTo(f.lastSeenSeq);
    }
  } else {
    // The first source: nothing before its registration point was promised; later moves start from it.
    v.pendingSkip = v.registeredSeq;
  }
  d.epoch = v.epoch;
  d.everHadSource = true;
  fx.push({ kind: 'admitWindow', ep: v.name, gen: v.gen, deliver: true });
}

function heldAdmitted(s: CoreState, input: Extract<Input, { kind: 'heldAdmitted' }>, fx: Effect[]): void {
  const d = s.delivery;
  if (!movingTo(s, input.ep, input.gen)) return;
  const v = s.eps[input.ep];
  d.phase = 'live';
  d.everHadSource = true;
  // Nothing at or below the reported gap's end can arrive from this connection any more.
  if (v.pendingSkip > d.lastSeq) d.lastSeq = v.pendingSkip;
  v.pendingSkip = -1;
  v.holes.dropUpTo(d.lastSeq);
  if (v.link === 'up' && v.holes.takeClosedAbove(d.lastSeq, s.gapOut)) {
    gap(s, fx, d.epoch ?? v.epoch, s.gapOut.fromSeq, s.gapOut.toSeq, 'link-restored', v.name);
  }
  const lostAt = d.lost;
  d.lost = null;
  evaluate(s, lostAt?.reason ?? 'role-change', lostAt?.at ?? input.at, input.at, fx);
}

/**
 * Decide where to deliver from and where requests go, after anything changed. `reason` and `at` describe
 * what made the current choice unusable (reported by a later switchover); `now` is when we decide.
 */
function evaluate(s: CoreState, reason: SwitchoverReason, at: number, now: number, fx: Effect[]): void {
  if (s.closed) return;
  const cands = candidates(s);
  watchSplit(s, cands, at);
  noteWanted(s, cands);
  const d = s.delivery;
  // Mid-move, the next decision waits for the move to complete (`replayed` decides again).
  if (d.phase === 'moving') return;
  const best = pickSource(cands, d.source, s.config.switchOnLinkDown, !s.routing.everActive);
  if (best !== null && best !== d.source) {
    if (d.source !== null) {
      // A source given up while still connected goes back to holding, ready for the next move.
      if (s.eps[d.source].open) fx.push({ kind: 'hold', ep: d.source });
      d.lost ??= { from: d.source, reason, at };
    }
    const v = s.eps[best];
    d.phase = 'moving';
    d.source = best;
    d.gen = v.gen;
    // Across numberings nothing compares: take the whole window (it is dropped, but its extent is reported).
    const afterSeq = d.epoch === null || d.epoch === v.epoch ? d.lastSeq : -1;
    fx.push({ kind: 'release', ep: best, gen: v.gen, afterSeq });
    return;
  }
  updateActive(s, reason, at, now, fx);
}

/** Requests go to a routable endpoint; a change of that endpoint after the first is a switchover. */
function updateActive(s: CoreState, reason: SwitchoverReason, at: number, now: number, fx: Effect[]): void {
  const r = s.routing;
  const name = noteWanted(s, candidates(s));
  if (name === r.active) {
    // Same target: still send what was re-queued meanwhile (an idempotent request lost on another server).
    if (name) fx.push({ kind: 'dispatch', ep: name });
    return;
  }
  const prev = r.active;
  r.active = name;
  if (name === null) {
    r.lostActive = { from: prev, reason, at };
    fx.push({ kind: 'active', event: { Server: s.config.name, endpoint: null, timestamp: now } });
    return;
  }
  if (r.lastActive !== null && r.lastActive !== name) {
    const lostActive = r.lostActive ?? { from: r.lastActive, reason, at };
    s.stats.switchovers++;
    fx.push({
      kind: 'switchover',
      event: {
        Server: s.config.name, from: r.lastActive, to: name, reason: lostActive.reason, detectedAt: lostActive.at,
        announcedAt: Math.min(r.wantedSince, now), completedAt: now, replayed: r.replayed, gap: r.gap,
      },
    });
  }
  r.replayed = 0;
  r.gap = null;
  r.lostActive = null;
  r.lastActive = name;
  r.everActive = true;
  fx.push({ kind: 'active', event: { Server: s.config.name, endpoint: name, timestamp: now } });
  fx.push({ kind: 'dispatch', ep: name });
  fx.push({ kind: 'ready' });
}

/**
 * Where requests would go now, noting since which fact: a switchover a move completes later was announced
 * by the fact that made its target the one (a promotion, the old primary stepping down, a loss), not by
 * whatever arrived last. (A switchover that completes at a loss carries the loss's own stamp, which the
 * native I/O thread can take before JS processed a report read earlier: `announcedAt` is clamped to
 * `completedAt` where it is emitted.)
 */
function noteWanted(s: CoreState, cands: Candidate[]): EndpointName | null {
  const r = s.routing;
  const want = pickActive(cands, r.active, s.delivery.source);
  if (want !== r.wanted) {
    r.wanted = want;
    r.wantedSince = s.factAt;
  }
  return want;
}

function watchSplit(s: CoreState, cands: Candidate[], at: number): void {
  const sb = s.split;
  if (!isSplitBrain(cands)) {
    sb.since = null;
    sb.reported = false;
    return;
  }
  sb.since ??= at;
}

function tick(s: CoreState, at: number, fx: Effect[]): void {
  if (s.closed) return;
  for (const name of NAMES) {
    const v = s.eps[name];
    if (v.backupSince >= 0 && at >= v.backupSince + s.config.warmBackupWaitMs) {
      // Not promoted in time: free the one warm connection for the other server.
      v.backupSince = -1;
      fx.push({ kind: 'drop', ep: name, reason: 'not-promoted' });
    }
  }
  const sb = s.split;
  if (sb.since === null || sb.reported || at < sb.since + s.config.splitBrainGraceMs) return;
  if (!isSplitBrain(candidates(s))) {
    sb.since = null;
    return;
  }
  sb.reported = true;
  // The event says what the pair does: requests go to `keeping` (its current target), the other's word is
  // ignored; delivery stays where it is (sticky: both servers carry the same events) and is named too.
  const keeping = s.routing.active ?? s.delivery.source ?? 'primary';
  fx.push({
    kind: 'splitBrain',
    event: { Server: s.config.name, keeping, ignoring: keeping === 'primary' ? 'backup' : 'primary', eventsFrom: s.delivery.source, timestamp: at },
  });
}

function candidates(s: CoreState): Candidate[] {
  return NAMES.map((name) => {
    const v = s.eps[name];
    return { name, state: v.open && !v.broken ? 'open' : 'closed', role: v.role, link: v.link };
  });
}
