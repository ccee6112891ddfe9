/**
 * Which frames a hot-standby connection holds in its window (docs/protocol.md, "Hold rule"). Only switch
 * events are held: the window exists so the pair can release a backup's copy of the stream from the point
 * the primary's stopped. Everything else that carries an EventSequenceNumber is a server report whose
 * number is a *position* (where that server's stream stood), not an event to de-duplicate, and the pair
 * must see it at once:
 * - replies (any frame with a ReferenceID: EventRegistered, EventServerInfo, EventAddressInfo);
 * - handshake and role reports, which can also come unsolicited (EventServerInfo, EventPrimaryChanged);
 * - link reports (EventLinkDisconnected / EventLinkConnected carry the position of the outage).
 * The native addon keeps the same list in native/addon/io_conn.cc (kNeverHeld); keep them equal.
 */
import { MessageType } from '../protocol/ids.js';

/** Message types never held, whatever their attributes. */
export const NEVER_HELD_TYPES: ReadonlySet<number> = new Set([
  MessageType.EventServerInfo,
  MessageType.EventRegistered,
  MessageType.EventUnregistered,
  MessageType.EventAddressInfo,
  MessageType.EventLinkDisconnected,
  MessageType.EventLinkConnected,
  MessageType.EventPrimaryChanged,
]);

/** Whether a message frame is a switch event (held while holding): a seq, no ReferenceID (or 0: unsolicited), not a report. */
export function isHeldEvent(type: number, seq: number, ref: number): boolean {
  return seq >= 0 && ref <= 0 && !NEVER_HELD_TYPES.has(type);
}
