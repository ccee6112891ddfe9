import { OPEN_END, type ConnView, type CoreState } from './types.js';

/** What to do with one event of the source (returned by {@link admit}). */
export const DELIVER = 0;
/** Already delivered (the other server's copy): drop it. */
export const DUPLICATE = 1;
/** Publish the gap in `state.gapOut` first (the source's stream skipped it), then deliver. */
export const GAP_THEN_DELIVER = 2;
export type Verdict = typeof DELIVER | typeof DUPLICATE | typeof GAP_THEN_DELIVER;

/**
 * Admit one event with sequence number `seq` (-1: none) from the delivery source `v`. Called per event, so it
 * allocates nothing and costs a few compares; everything it decides is in the core's state. Sequence
 * numbers compare only within one numbering epoch (docs/semantics.md, "Sequence numbers"). `timeUs` (the
 * event's switch time) is needed only while `delivery.fenceUs >= 0`, right after a change of numbering.
 */
export function admit(s: CoreState, v: ConnView, seq: number, timeUs = -1): Verdict {
  if (seq < 0) {
    s.stats.delivered++;
    return DELIVER;
  }
  const d = s.delivery;
  if (d.fenceUs >= 0) {
    if (timeUs >= 0 && timeUs <= d.fenceUs) {
      // Stamped no later than the last event delivered in the old numbering: delivered, or in its gap.
      if (seq > v.maxSeq) v.maxSeq = seq;
      if (seq > d.lastSeq) d.lastSeq = seq;
      s.stats.duplicatesDropped++;
      return DUPLICATE;
    }
    d.fenceUs = -1;
  }
  let verdict: Verdict = DELIVER;
  if (seq <= v.maxSeq) {
    // The source's CTI link went down in the old numbering and what it missed was not reported yet: it
    // never will be in the new one, so report it now, up to the old numbering's end.
    const missed = d.source === v.name && v.holes.firstFrom !== Infinity ? Math.max(v.holes.firstFrom, d.lastSeq + 1) : -1;
    const oldEpoch = d.epoch ?? v.epoch;
    restartedInSession(s, v);
    if (missed >= 0) {
      s.gapOut.epoch = oldEpoch;
      s.gapOut.fromSeq = missed;
      s.gapOut.toSeq = OPEN_END;
      recordGap(s, oldEpoch, missed, OPEN_END);
      verdict = GAP_THEN_DELIVER;
    }
  }
  v.maxSeq = seq;
  if (seq <= d.lastSeq) {
    s.stats.duplicatesDropped++;
    return DUPLICATE;
  }
  if (verdict === DELIVER && v.holes.firstFrom < seq && v.holes.takeBelow(seq, d.lastSeq, s.gapOut)) {
    s.gapOut.epoch = d.epoch ?? v.epoch;
    recordGap(s, s.gapOut.epoch, s.gapOut.fromSeq, s.gapOut.toSeq);
    verdict = GAP_THEN_DELIVER;
  }
  d.lastSeq = seq;
  s.stats.delivered++;
  return verdict;
}

/**
 * One connection's numbers only go up; one that went back means the server restarted its numbering without
 * dropping us (an in-place reset, or a wrap). The stream itself is continuous — nothing was missed on this
 * connection — so delivery carries on in a new epoch; nothing compares with the old numbers any more.
 */
function restartedInSession(s: CoreState, v: ConnView): void {
  renumbered(v);
  const d = s.delivery;
  if (d.source === v.name) {
    d.epoch = v.epoch;
    d.lastSeq = -1;
  }
}

/** Count a gap and fold it into what the next `switchover` reports (the union, within one epoch). */
export function recordGap(s: CoreState, epoch: string, fromSeq: number, toSeq: number): void {
  s.stats.gaps++;
  const g = s.routing.gap;
  s.routing.gap = g && g.epoch === epoch ? { epoch, fromSeq: Math.min(g.fromSeq, fromSeq), toSeq: Math.max(g.toSeq, toSeq) } : { epoch, fromSeq, toSeq };
}

/**
 * `v`'s released window has been replayed: its stream stands at the window's last frame, released or not
 * (every held frame may have been at or below what was delivered), or — nothing held — where its DN
 * registrations took effect. A live event numbered at or below that is a restarted numbering (admit), not
 * a duplicate. (A window whose numbering went back was settled by `released`, which set `maxSeq` to it.)
 */
export function windowReplayed(v: ConnView): void {
  if (v.windowEnd > v.maxSeq) v.maxSeq = v.windowEnd;
  else if (v.windowEnd < 0 && v.maxSeq < 0 && v.restarts === 0) v.maxSeq = v.registeredSeq;
  v.windowEnd = -1;
}

/**
 * `v`'s numbering restarted inside its session: it gets an epoch of its own, `<label>/<endpoint>.<session>.<n>`
 * (unique to this connection: both servers may restart, each from its own point), and nothing compares with
 * its numbers from before.
 */
export function renumbered(v: ConnView): void {
  v.restarts++;
  v.epoch = `${v.epoch.replace(/\/[a-z]+\.\d+\.\d+$/, '')}/${v.name}.${v.gen}.${v.restarts}`;
  v.holes.clear();
  v.maxSeq = -1;
}
