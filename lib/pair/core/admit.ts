import { wentBack } from '../../protocol/sequence.js';
import type { GapEvent } from '../events.js';
import type { EndpointName } from './vocabulary.js';
import { OPEN_END, type ConnView, type CoreState, type Effect } from './types.js';

/** What to do with one event of the source (returned by {@link admit}). */
export const DELIVER = 0;
/** Already delivered (the other server's copy): drop it. */
export const DUPLICATE = 1;
export type Verdict = typeof DELIVER | typeof DUPLICATE;

/** An event as admission sees it: its EventSequenceNumber, or -1 when it has none. */
export interface Admissible {
  readonly seq: number;
}

/**
 * Admit one event `e` of the connection `v` (the delivery source, or the one delivery is moving to). Called
 * per event, so it allocates nothing on the way that delivers and costs a few compares; everything it
 * decides is in the core's state. A gap the source's stream skipped is pushed onto `fx` as a `gap` effect —
 * the same effect `step` returns — to be published before the event. `switchTimeUs(e)` (the event's switch
 * time in µs, or -1) is asked for only right after a change of numbering. Sequence numbers compare only
 * within one numbering epoch (docs/semantics.md, "Sequence numbers").
 */
export function admit<E extends Admissible>(s: CoreState, v: ConnView, e: E, switchTimeUs: (e: E) => number, fx: Effect[]): Verdict {
  const seq = e.seq;
  if (seq < 0) {
    s.stats.delivered++;
    return DELIVER;
  }
  const d = s.delivery;
  let restarted = false;
  if (wentBack(v.maxSeq, seq)) {
    restartSeen(s, v, fx);
    restarted = true;
  }
  if (d.fenceUs >= 0) {
    // Right after a change of numbering the switch's clock orders events (see `released`, `restartedInSession`).
    const timeUs = switchTimeUs(e);
    if (timeUs >= 0 && timeUs <= d.fenceUs) {
      // Stamped no later than the last event delivered in the old numbering: delivered, or in its gap.
      if (seq > v.maxSeq) v.maxSeq = seq;
      if (seq > d.lastSeq) d.lastSeq = seq;
      s.stats.duplicatesDropped++;
      return DUPLICATE;
    }
    d.fenceUs = -1;
  }
  v.maxSeq = seq;
  if (seq <= d.lastSeq) {
    // The other server's copy; at our last event this stream has caught up with what was delivered.
    if (seq === d.lastSeq) d.movedAtUs = -1;
    s.stats.duplicatesDropped++;
    return DUPLICATE;
  }
  if (!restarted && v.holes.firstFrom < seq && v.holes.takeBelow(seq, d.lastSeq, s.gapOut)) {
    gap(s, fx, d.epoch ?? v.epoch, s.gapOut.fromSeq, s.gapOut.toSeq, 'link-restored', v.name);
  }
  d.lastSeq = seq;
  d.movedAtUs = -1;
  s.stats.delivered++;
  return DELIVER;
}

/**
 * The one way the core reports a gap: counted, folded into what the next `switchover` reports (the union,
 * within one epoch), and returned as a `gap` effect for the shell to publish.
 */
export function gap(s: CoreState, fx: Effect[], epoch: string, fromSeq: number, toSeq: number, reason: GapEvent['reason'], source: EndpointName): void {
  s.stats.gaps++;
  const g = s.routing.gap;
  s.routing.gap = g && g.epoch === epoch ? { epoch, fromSeq: Math.min(g.fromSeq, fromSeq), toSeq: Math.max(g.toSeq, toSeq) } : { epoch, fromSeq, toSeq };
  fx.push({ kind: 'gap', gap: { source, reason, fromSeq, toSeq, epoch } });
}

/**
 * `v`'s numbering went back inside its session (seen on an event, or on a link report's position): what
 * its link outages left unreported in the old numbering is reported, then it restarts (below).
 *
 * One connection's numbers only go up; one that went back means the server restarted its numbering without
 * dropping us (an in-place reset, or a wrap). The stream itself is continuous — nothing was missed on this
 * connection — so delivery carries on in a new epoch; nothing compares with the old numbers any more.
 */
export function restartSeen(s: CoreState, v: ConnView, fx: Effect[]): void {
  // The source's CTI link went down in the old numbering and what it missed was not reported yet: it
  // never will be in the new one, so report it now, up to the old numbering's end.
  const d = s.delivery;
  const missed = d.source === v.name && v.holes.firstFrom !== Infinity ? Math.max(v.holes.firstFrom, d.lastSeq + 1) : -1;
  const oldEpoch = d.epoch ?? v.epoch;
  // (Inside the whole rest of the old numbering, when that was reported: not twice.)
  if (!restartedInSession(s, v, fx) && missed >= 0) gap(s, fx, oldEpoch, missed, OPEN_END, 'link-restored', v.name);
}

/** Returns whether the rest of the old numbering was reported lost. */
function restartedInSession(s: CoreState, v: ConnView, fx: Effect[]): boolean {
  const d = s.delivery;
  const oldEpoch = d.epoch ?? v.epoch;
  renumbered(v);
  if (d.source !== v.name) return false;
  const reported = d.movedAtUs >= 0;
  if (reported) {
    // Delivery moved here and nothing of this stream was delivered yet: it may lag what the earlier source
    // delivered, and its new numbers say nothing about that. As at a release across numberings: the rest of
    // the old numbering may be lost, and what the switch stamped no later than our last event is not
    // delivered again.
    gap(s, fx, oldEpoch, d.lastSeq + 1, OPEN_END, 'sequence-reset', v.name);
    d.fenceUs = d.movedAtUs;
    d.movedAtUs = -1;
  }
  d.epoch = v.epoch;
  d.lastSeq = -1;
  return reported;
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
  // A skip still to apply after a move is a position in the old numbering: in the new one it would drop
  // events that were never delivered (a backup renumbered while its window was on its way).
  v.pendingSkip = -1;
}
