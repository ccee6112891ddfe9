/**
 * What a frame from a T-Server is — one classification for every place that must tell (docs/protocol.md,
 * "Hold rule"): the endpoint (reply, link report, role report, registration position, or switch event), the
 * transports' hot-standby windows (only switch events are held), and the checker's simulated transport. The
 * native addon keeps the never-held list in native/addon/io_conn.cc (`kNeverHeld`); a test compares the two
 * (test/protocol/frame-kind.test.ts).
 *
 * A sequence number alone does not make a frame an event: server reports carry one as a *position* (where
 * that server's stream stood), never an event to de-duplicate, and the pair must see them at once:
 * - replies (any frame with a ReferenceID: EventRegistered, EventServerInfo, EventAddressInfo);
 * - handshake and role reports, which can also come unsolicited (EventServerInfo, EventPrimaryChanged);
 * - link reports (EventLinkDisconnected / EventLinkConnected carry the position of the outage);
 * - registration answers without our ReferenceID (their number is a position, and they answer nobody).
 */
import { MessageType } from '../protocol/ids.js';

/** The kinds of frame (see {@link frameKind}). */
export const FrameKind = {
  /** A reply to one of our requests (ReferenceID > 0). */
  Reply: 0,
  /** A CTI link report: EventLinkConnected / EventLinkDisconnected. */
  Link: 1,
  /** A role report: EventPrimaryChanged, or an unsolicited EventServerInfo. */
  Role: 2,
  /** A registration or query answer that answers nobody: its number is a position. */
  Position: 3,
  /** A switch event: delivered to the application (held in a hot-standby window). */
  Event: 4,
} as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

const LINK = new Set<number>([MessageType.EventLinkConnected, MessageType.EventLinkDisconnected]);
const ROLE = new Set<number>([MessageType.EventPrimaryChanged, MessageType.EventServerInfo]);
const POSITION = new Set<number>([MessageType.EventRegistered, MessageType.EventUnregistered, MessageType.EventAddressInfo]);

/** Message types that are never switch events, whatever their attributes (the addon's `kNeverHeld`). */
export const NEVER_HELD_TYPES: ReadonlySet<number> = new Set([...LINK, ...ROLE, ...POSITION]);

/** What frame `type` with ReferenceID `ref` (0 or -1: none, unsolicited) is. */
export function frameKind(type: number, ref: number): FrameKind {
  if (ref > 0) return FrameKind.Reply;
  if (LINK.has(type)) return FrameKind.Link;
  if (ROLE.has(type)) return FrameKind.Role;
  if (POSITION.has(type)) return FrameKind.Position;
  return FrameKind.Event;
}

/** Whether a message frame is a switch event that a holding connection keeps in its window: numbered, and an event. */
export function isHeldEvent(type: number, seq: number, ref: number): boolean {
  return seq >= 0 && frameKind(type, ref) === FrameKind.Event;
}
