/**
 * The decision core's data: what it knows (state), what it is told (inputs) and what it asks the shell to
 * do (effects). No I/O, no timers, no promises: time arrives with every input, so the same inputs give the
 * same decisions — which is what lets `npm run check:sim` explore millions of histories from a seed.
 */
import type { EndpointName, LinkState, RoleName } from './vocabulary.js';
import type { ActiveEvent, GapEvent, GapRange, SplitBrainEvent, SwitchoverEvent, SwitchoverReason } from '../events.js';
import type { Holes } from './holes.js';

/** What the core knows of one endpoint's current connection. */
export interface ConnView {
  readonly name: EndpointName;
  open: boolean;
  /** Generation of the connection these facts belong to; input from an older one is stale. */
  gen: number;
  role: RoleName;
  link: LinkState;
  /** Numbering epoch of this session: sequence numbers compare only within one epoch. */
  epoch: string;
  /** Restarts of numbering seen inside this session (a sequence number that went backwards). */
  restarts: number;
  /** Position at which this session's DN registrations took effect (events after it arrive live). */
  registeredSeq: number;
  /** EventServerInfo's position: every event of this session is numbered above it, unless its numbering went back. */
  handshakeSeq: number;
  /** Highest sequence number taken from this connection (live or released): one connection only goes up. */
  maxSeq: number;
  /** The last number its released window saw (returned or not), or -1: applied once the window is replayed. */
  windowEnd: number;
  /** Highest position this endpoint ever reported, across sessions: detects a reset without an epoch label. */
  highWater: number;
  /** Ranges this connection's stream cannot contain (its CTI link was down), in its own numbering. */
  holes: Holes;
  /** Monotonic ms of the last report that can make this endpoint usable (promotion, link up, open). */
  reportedAt: number;
  /** Its window release failed: the connection is going away; never chosen again until it reopens. */
  broken: boolean;
  /** While moving to it: the end of the gap reported for it; nothing at or below arrives from it. */
  pendingSkip: number;
  /** Warm standby: since when (monotonic ms) this open connection's server has said backup, or -1. */
  backupSince: number;
}

/** `none`: nothing delivered from anywhere; `moving`: the new source's window is on its way; `live`. */
export type DeliveryPhase = 'none' | 'moving' | 'live';

/** Why and when something stopped being usable; reported by the next gap or switchover. */
export interface Detection {
  from: EndpointName | null;
  reason: SwitchoverReason;
  at: number;
}

/** Where events come from and how far they got. */
export interface Delivery {
  phase: DeliveryPhase;
  source: EndpointName | null;
  /** Generation of the source connection. */
  gen: number;
  /** Numbering epoch of `lastSeq`; null until the first source. */
  epoch: string | null;
  /** Highest EventSequenceNumber delivered in `epoch`, or -1. */
  lastSeq: number;
  /** A source has delivered before: later sources may have gaps relative to it. */
  everHadSource: boolean;
  /** Why delivery last had to move. */
  lost: Detection | null;
  /**
   * After a change of numbering: the switch time (µs) of the last event delivered before it, or -1. Events
   * of the new numbering stamped at or before it were (or were reported as possibly) delivered already.
   */
  fenceUs: number;
  /**
   * The switch time (µs) of the last event delivered when delivery moved to this source, while nothing of
   * this source has been delivered yet; else -1. A restart seen then cannot be placed by numbers: this
   * source's stream may lag what the earlier one delivered, so the fence above is raised to it.
   */
  movedAtUs: number;
}

/** Where requests go, and what the next `switchover` reports. */
export interface Routing {
  active: EndpointName | null;
  /** The last non-null target: a different new one is a switchover. */
  lastActive: EndpointName | null;
  lostActive: Detection | null;
  everActive: boolean;
  /** Replayed events and the union of gaps since the last switchover. */
  replayed: number;
  gap: GapRange | null;
  /**
   * Where requests would go on the facts known now — ahead of `active` while delivery is still moving —
   * and since which fact (`factAt`) that has been so: a switchover's `announcedAt`. Facts that leave it as
   * it was (a server reopening as backup, a repeated report, a deadline that decides nothing) do not move it.
   */
  wanted: EndpointName | null;
  wantedSince: number;
}

/** Both servers claiming primary, and whether that was reported. */
export interface SplitBrain {
  since: number | null;
  reported: boolean;
}

export interface CoreConfig {
  name: string;
  mode: 'hot' | 'warm';
  switchOnLinkDown: boolean;
  splitBrainGraceMs: number;
  /** Warm standby: a connected server that stays backup this long is dropped for the other one. */
  warmBackupWaitMs: number;
  /** Most outage ranges kept per connection (older ones merge: over-reporting is safe, forgetting is not). */
  maxHoles: number;
}

export interface CoreState {
  readonly config: CoreConfig;
  readonly eps: Record<EndpointName, ConnView>;
  readonly delivery: Delivery;
  readonly routing: Routing;
  readonly split: SplitBrain;
  closed: boolean;
  /** The deadline the shell's timer is armed for (monotonic ms), or null: the earliest of every deadline. */
  timerAt: number | null;
  /**
   * When the fact being applied was read or detected (a role or link report, a session opening, a loss);
   * `routing.wantedSince` keeps it when that fact changes where requests would go. (A deadline is not a
   * fact: a tick never changes where requests go.)
   */
  factAt: number;
  /** Counters reported by `pair.stats`. */
  readonly stats: { delivered: number; duplicatesDropped: number; replayed: number; gaps: number; switchovers: number };
  /** Scratch range for the hole bookkeeping (no allocation per event); internal to the core. */
  readonly gapOut: { fromSeq: number; toSeq: number; epoch: string };
}

/** What a session's handshake established. */
export interface OpenedFacts {
  role: RoleName;
  link: LinkState;
  /** `seq-epoch` from EventServerInfo, when the server announced one. */
  epoch: string | undefined;
  /** EventServerInfo's sequence number: the server's position at handshake. */
  serverSeq: number;
  registeredSeq: number;
  /** The link reports read during the handshake, in order, with their positions. */
  linkReports: readonly { up: boolean; seq: number }[];
  at: number;
}

/**
 * What the window release found, as the transport reports it (the shell scans nothing). While the window's
 * numbering never went back, its last frame is also its highest.
 */
export interface ReleaseFacts {
  evictedUpTo: number;
  /** Lowest sequence number that entered the window, or -1. */
  firstSeenSeq: number;
  /** An event of the window is numbered at or below its own DN's registration position (the shell reads it). */
  belowRegistration?: boolean;
  /** The window's numbering went backwards: values above `afterSeq` do not mean "after". */
  seqDecreased: boolean;
  /** Sequence number of the window's last frame (returned or not), or -1: in its newest numbering. */
  lastSeenSeq: number;
  /** Switch time (µs, TimeinSecs/TimeinuSecs) of the last event delivered, or -1 when it had none. */
  lastTimeUs: number;
}

export type Input =
  | { kind: 'opened'; ep: EndpointName; gen: number; facts: OpenedFacts }
  | { kind: 'lost'; ep: EndpointName; gen: number; reason: SwitchoverReason; at: number }
  /** `readAt`: when the report was read from the socket (a switchover's `announcedAt`). */
  | { kind: 'role'; ep: EndpointName; gen: number; role: RoleName; at: number; readAt: number }
  | { kind: 'link'; ep: EndpointName; gen: number; up: boolean; seq: number; at: number; readAt: number }
  | { kind: 'released'; ep: EndpointName; gen: number; facts: ReleaseFacts; at: number }
  | { kind: 'releaseFailed'; ep: EndpointName; gen: number; at: number }
  /** The released window went through `admit` (`replayed` of its events delivered), or was discarded. */
  | { kind: 'windowAdmitted'; ep: EndpointName; gen: number; replayed: number; at: number }
  /** The live events held behind the window went through `admit`: delivery is live. */
  | { kind: 'heldAdmitted'; ep: EndpointName; gen: number; at: number }
  | { kind: 'tick'; at: number }
  | { kind: 'manual'; at: number }
  | { kind: 'close'; at: number };

export type Effect =
  /** Buffer this connection's sequence-numbered events in its window (it stops being the source). */
  | { kind: 'hold'; ep: EndpointName }
  /** Ask for the window of `ep` past `afterSeq`; answer with `released` or `releaseFailed`. */
  | { kind: 'release'; ep: EndpointName; gen: number; afterSeq: number }
  /**
   * Put each event of the released window through `admit` (`deliver`), or throw the window away (its
   * numbering does not compare with what was delivered); then answer `windowAdmitted`.
   */
  | { kind: 'admitWindow'; ep: EndpointName; gen: number; deliver: boolean }
  /** Put the live events held behind the window through `admit`, in arrival order; then answer `heldAdmitted`. */
  | { kind: 'admitHeld'; ep: EndpointName; gen: number }
  /** Forget live events held for a move that will not complete. */
  | { kind: 'discardHeld' }
  /**
   * Reset the connection of `ep`: an operator's switchover (`manual`), or a warm backup that was not promoted
   * in time (`not-promoted`); its loss arrives as `lost`.
   */
  | { kind: 'drop'; ep: EndpointName; reason: 'manual' | 'not-promoted' }
  | { kind: 'gap'; gap: Omit<GapEvent, 'Server'> }
  | { kind: 'switchover'; event: SwitchoverEvent }
  | { kind: 'active'; event: ActiveEvent }
  | { kind: 'splitBrain'; event: SplitBrainEvent }
  /** Send queued requests to `ep`. */
  | { kind: 'dispatch'; ep: EndpointName }
  /** A usable primary exists: `open()` may resolve. */
  | { kind: 'ready' }
  /** Call back with `tick` at this monotonic time (the earliest deadline: split-brain grace, warm backup wait); null cancels. */
  | { kind: 'timer'; at: number | null };

export { OPEN_END } from '../events.js';
