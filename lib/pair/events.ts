import { ValueType } from '../protocol/constants.js';
import { Attr, messageName } from '../protocol/ids.js';
import { getAttr, listToObject, messageToObject, type PlainValue } from '../protocol/message.js';
import type { KVPair, MessageFrame } from '../protocol/types.js';
import type { CloseReason } from '../transport/types.js';
import type { EndpointName, LinkState, RoleName } from './core/vocabulary.js';
import type { TServerHaError } from '../errors.js';

/** Fields every normalized event carries besides the seed's attributes. */
export interface NormalizedBase {
  /** The pair's name (the seed's mandatory `Server` attribute). */
  Server: string;
  /** Which configured endpoint the event is about. */
  source: EndpointName;
  /** Monotonic ms (same clock as `process.hrtime`), when the client learned of it. */
  timestamp: number;
  /** The seed's optional `Extensions`, when the server sent any. */
  Extensions?: { [key: string]: PlainValue };
}

/** Our session with a server opened (handshake done, DNs registered). Seed: Event M, Server M, Extensions O. */
export interface EventServerConnected extends NormalizedBase {
  Event: 'EventServerConnected';
  /** The role the server reported. */
  role: RoleName;
}

/**
 * Why a session ended: the transport's reason, or one of the pair's own — `manual` (`pair.switchover()`
 * reset it) and `not-promoted` (warm standby: the server stayed backup for `warmBackupWaitMs`).
 */
export type DisconnectReason = CloseReason | 'manual' | 'not-promoted';

/** Our session with a server was lost (or closed by `pair.close()`). Seed: Event M, Server M, Extensions O. */
export interface EventServerDisconnected extends NormalizedBase {
  Event: 'EventServerDisconnected';
  reason: DisconnectReason;
  error?: TServerHaError | Error;
}

/** The server's CTI link to the switch is up. Seed: ApplicationName O, Event M, Server M, SessionID O, CustomerID O, time M, Extensions O. */
export interface EventLinkConnected extends NormalizedBase {
  Event: 'EventLinkConnected';
  ApplicationName?: string;
  SessionID?: bigint;
  CustomerID?: string;
  /** The time the server stamped on its link report (TimeinSecs/TimeinuSecs), or when we read it if it sent none. */
  time: Date;
  /** The same instant in microseconds since the Unix epoch (`time` keeps only milliseconds). */
  timeUs: number;
}

/** The server's CTI link to the switch is down. Seed adds ErrorCode O, ErrorMessage O. */
export interface EventLinkDisconnected extends NormalizedBase {
  Event: 'EventLinkDisconnected';
  ApplicationName?: string;
  SessionID?: bigint;
  CustomerID?: string;
  ErrorCode?: number;
  ErrorMessage?: string;
  time: Date;
  /** `time` in microseconds since the Unix epoch. */
  timeUs: number;
}

/** Why the pair changed the server it delivers from. */
export type SwitchoverReason = 'crash' | 'heartbeat-timeout' | 'link-down' | 'role-change' | 'protocol-error' | 'manual';

/** A range of EventSequenceNumbers in which events for our DNs may have been lost (inclusive). */
export interface SeqRange {
  fromSeq: number;
  toSeq: number;
}

/** A {@link SeqRange} in one numbering epoch (sequence numbers compare only within one epoch). */
export interface GapRange extends SeqRange {
  /** The numbering the range belongs to: the server's `seq-epoch`, `''` when servers announce none. */
  epoch: string;
}

/**
 * Requests now go to another server: the primary changed (crash, hang, role change, link loss). Emitted
 * when the new server is usable — primary, CTI link up — right before `active` names it.
 */
export interface SwitchoverEvent {
  Server: string;
  from: EndpointName | null;
  to: EndpointName;
  reason: SwitchoverReason;
  /** Monotonic ms when the old primary stopped being usable (loss detected, ADDP deadline, role or link report). */
  detectedAt: number;
  /**
   * When the last fact the pair needed for this switchover was read from a socket or detected: usually
   * `to`'s promotion (EventPrimaryChanged), its link coming up or its session opening (warm standby); the
   * old primary stepping down when that came second (a management switchover: until then both claim
   * primary and requests stay where they were); a loss, when `to` was ready before. Reports that arrive
   * later and change nothing about where requests go (the old primary reopening as backup, a repeated
   * report) do not move it; never after `completedAt`. `completedAt - announcedAt` is the client's own
   * overhead (native: from the I/O thread's read stamp).
   */
  announcedAt: number;
  /** When `to` became usable and the queued requests were sent to it. */
  completedAt: number;
  /** Events delivered from a server's window since `detectedAt` (hot standby: the gap filled from the backup). */
  replayed: number;
  /** The union of the `gap` events since `detectedAt` (in the latest epoch), or null when nothing may be lost. */
  gap: GapRange | null;
}

/**
 * Events for our DNs with EventSequenceNumber in [fromSeq, toSeq] of numbering `epoch` may never be
 * delivered. `toSeq` is {@link OPEN_END} (Number.MAX_SAFE_INTEGER) when the range has no known end.
 */
export interface GapEvent extends GapRange {
  Server: string;
  source: EndpointName;
  /**
   * `switchover`: delivery moved to a server whose window does not reach back far enough (hot);
   * `reconnect`: warm standby reconnected after events were emitted; `link-restored`: the source's CTI
   * link was down, so its stream misses what the switch sent meanwhile; `sequence-reset`: the new source
   * numbers events differently (a server restarted its numbering) — two gaps: the rest of the old numbering,
   * and the new numbering up to where delivery resumes.
   */
  reason: 'switchover' | 'reconnect' | 'link-restored' | 'sequence-reset';
}

/** `toSeq` of a gap whose end is not known (the rest of a numbering that was abandoned). */
export const OPEN_END = Number.MAX_SAFE_INTEGER;

/** The server requests go to changed: `endpoint` is primary with a live link, or null while none is. */
export interface ActiveEvent {
  Server: string;
  endpoint: EndpointName | null;
  timestamp: number;
}

/**
 * Both servers have claimed primary for longer than `splitBrainGraceMs`. Requests keep going to `keeping`
 * (the request target when the split began); `ignoring` is the other server, whose claim changes nothing.
 * Events keep coming from `eventsFrom` (delivery is sticky, and both servers carry the same events), which
 * may be either server, or null while no source is connected.
 */
export interface SplitBrainEvent {
  Server: string;
  keeping: EndpointName;
  ignoring: EndpointName;
  eventsFrom: EndpointName | null;
  timestamp: number;
}

/**
 * A connection attempt to one server failed (refused, timed out, handshake failed, breaker open). Sampled:
 * emitted for the 1st, 2nd, 4th, 8th, … failure in a row of that endpoint (a down server is tried up to
 * hundreds of times a second during a failover); `suppressed` counts the failures in between. Every
 * attempt is published on the `tserver-ha:attempt-failed` diagnostics channel and counted by the metrics.
 */
export interface ConnectFailedEvent {
  Server: string;
  source: EndpointName;
  /** Failed attempts in a row on this endpoint, this one included (reset when a session opens). */
  attempt: number;
  /** Failures since the previous `connectFailed` of this endpoint that were not emitted. */
  suppressed: number;
  /** Typed: TransportError (`ERR_CONNECT_REFUSED`, `ERR_CONNECT_TIMEOUT`, …), HandshakeError, BreakerOpenError. */
  error: TServerHaError | Error;
  timestamp: number;
}

/**
 * The next connection attempt is scheduled (p-retry): it starts between `minDelayMs` and `maxDelayMs`
 * from `timestamp` (each delay is stretched ×1..2 at random, so clients of one server spread out).
 * Sampled like {@link ConnectFailedEvent}: the 1st, 2nd, 4th, … retry of a streak.
 */
export interface ReconnectingEvent {
  Server: string;
  /** The endpoint the next attempt goes to. */
  source: EndpointName;
  /** Retries scheduled in a row since a session last opened, this one included. */
  attempt: number;
  minDelayMs: number;
  maxDelayMs: number;
  timestamp: number;
}

/**
 * An ADDP poll was answered: `rttMs` is the round trip, measured where the heartbeat runs (the native I/O
 * thread, or the event loop for the node transport). Sampled: at most one per connection per second, and
 * polls only go out on a silent connection (any byte proves life). A *missed* heartbeat ends the session:
 * `EventServerDisconnected` with reason `addp-timeout`.
 */
export interface HeartbeatEvent {
  Server: string;
  source: EndpointName;
  rttMs: number;
  timestamp: number;
}

/** An endpoint's circuit breaker changed state (opossum): `open` refuses attempts until a jittered re-probe. */
export interface BreakerEvent {
  Server: string;
  source: EndpointName;
  state: 'open' | 'half-open' | 'closed';
  timestamp: number;
}

export { TEvent, type AttrValue, type AttrValues } from './tevent.js';
import type { TEvent } from './tevent.js';

/** Every public event of a pair, by name. */
export interface PairEvents {
  EventServerConnected: [e: EventServerConnected];
  EventServerDisconnected: [e: EventServerDisconnected];
  EventLinkConnected: [e: EventLinkConnected];
  EventLinkDisconnected: [e: EventLinkDisconnected];
  switchover: [e: SwitchoverEvent];
  active: [e: ActiveEvent];
  gap: [e: GapEvent];
  splitBrain: [e: SplitBrainEvent];
  event: [e: TEvent];
  error: [err: Error];
  connectFailed: [e: ConnectFailedEvent];
  reconnecting: [e: ReconnectingEvent];
  heartbeat: [e: HeartbeatEvent];
  breaker: [e: BreakerEvent];
}

/** What `pair.events()` yields: one union of every public event. */
export type PairEventRecord = { [K in keyof PairEvents]: { type: K; data: PairEvents[K][0] } }[keyof PairEvents];

/** Build EventLinkConnected/Disconnected from a server's link report, with the seed's attributes only. */
export function linkEvent(server: string, source: EndpointName, up: boolean, frame: MessageFrame, timestamp: number): EventLinkConnected | EventLinkDisconnected {
  const secs = getAttr(frame, Attr.TimeinSecs);
  const usecs = getAttr(frame, Attr.TimeinuSecs);
  const timeUs = typeof secs === 'number' ? secs * 1_000_000 + (typeof usecs === 'number' ? usecs : 0) : Date.now() * 1000;
  const time = new Date(Math.floor(timeUs / 1000));
  const base: Record<string, unknown> = { Server: server, source, timestamp, time, timeUs };
  const app = getAttr(frame, Attr.ApplicationName);
  if (typeof app === 'string') base.ApplicationName = app;
  const sid = getAttr(frame, Attr.SessionID);
  if (typeof sid === 'bigint') base.SessionID = sid;
  else if (typeof sid === 'number') base.SessionID = BigInt(sid);
  const cust = getAttr(frame, Attr.CustomerID);
  if (typeof cust === 'string') base.CustomerID = cust;
  const ext = getAttr(frame, Attr.Extensions);
  if (Array.isArray(ext)) base.Extensions = listToObject(ext);
  if (up) return { Event: 'EventLinkConnected', ...base } as EventLinkConnected;
  const code = getAttr(frame, Attr.ErrorCode);
  if (typeof code === 'number') base.ErrorCode = code;
  const msg = getAttr(frame, Attr.ErrorMessage);
  if (typeof msg === 'string') base.ErrorMessage = msg;
  return { Event: 'EventLinkDisconnected', ...base } as EventLinkDisconnected;
}

/** State of one endpoint, as `pair.state` reports it. */
export interface EndpointStatus {
  address: string;
  server: 'idle' | 'connecting' | 'registering' | 'open' | 'closed';
  role: RoleName;
  link: LinkState;
  breaker: 'closed' | 'open' | 'half-open' | 'disabled';
  pendingRequests: number;
  /**
   * The transport of this endpoint's current (or last) connection — `native` (the addon's I/O thread),
   * `node` (net/tls), or a custom factory's `kind` — and before the first one, the transport it will use
   * (`null` for a factory).
   */
  transport: string | null;
  /** The last error of this endpoint (failed attempt or lost session) since its last session opened. */
  lastError: Error | null;
}

/** Snapshot returned by `pair.state`. */
export interface PairState {
  name: string;
  mode: 'warm' | 'hot';
  open: boolean;
  /** The endpoint events are delivered from, or null. */
  source: EndpointName | null;
  /** The endpoint requests go to (source, primary, link up), or null while none is usable. */
  active: EndpointName | null;
  /** Highest EventSequenceNumber delivered, in numbering `epoch`. */
  lastSeq: number;
  /** Numbering epoch of `lastSeq` (null before the first source; `''` when servers announce none). */
  epoch: string | null;
  queuedRequests: number;
  endpoints: Record<EndpointName, EndpointStatus>;
}
