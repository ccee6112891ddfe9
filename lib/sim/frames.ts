/**
 * Frames the simulator builds and reads on its hot path. Switch events are laid out so a T-Server can find
 * EventSequenceNumber, ThisDN and ConnID at fixed offsets without decoding the frame (docs/simulator.md).
 */
import {
  Attr, FrameKind, MessageType, ValueType, WIRE_VERSION, encodeMessage, getAttr, toAttributes, type AttributeInput, type MessageFrame,
} from '../protocol/index.js';

/**
 * Private message types of the switch↔T-Server CTI link and the T-Server↔T-Server HA link. They reuse the
 * public framing; the ids are outside Genesys' range.
 */
export const Private = {
  /** server → switch: {ApplicationName: server name}. */
  CtiHello: 9001,
  /** switch → server: link is up; {EventSequenceNumber: last seq emitted so far}. */
  CtiLinkUp: 9002,
  /** server → switch: route a call for a client: {ReferenceID (the server's token), ConnID, OtherDN}. */
  CtiRoute: 9003,
  /** switch → server: {ReferenceID, ErrorCode (0 = routed, else 1201/1202/1204), ThisDN (the route point)}. */
  CtiRouteResult: 9004,
  /** server → server: {ApplicationName, ServerRole}. */
  HaHello: 9101,
  /** backup → primary: "Backup Ready". */
  HaBackupReady: 9102,
  /** primary → backup: full snapshot, Extensions {regs: {app: "dn,dn"}, routed: "connId,connId"}. */
  HaSnapshot: 9103,
  /** primary → backup: "Full Sync Done". */
  HaSyncDone: 9104,
  /** primary → backup: {ApplicationName, ThisDN, RegisterMode: 1 add / 0 remove}. */
  HaRegistration: 9105,
  /** primary → backup: {ConnID} was routed. */
  HaRouted: 9106,
  /** either way, keeps the HA link observably alive. */
  HaHeartbeat: 9107,
} as const;

/** Offsets inside a switch event frame (counted from the length prefix). */
export const EventLayout = {
  type: 6,
  attrCount: 10,
  /** First attribute must be EventSequenceNumber (id 148, int64). */
  seqId: 12,
  seqValue: 15,
  /** Second attribute: ThisDN (id 20, string). */
  dnId: 23,
  dnLen: 26,
  dn: 30,
} as const;

/** Event kinds the switch scripts, by message type. */
export const CallEventTypes = [
  MessageType.EventRouteRequest,
  MessageType.EventRinging,
  MessageType.EventEstablished,
  MessageType.EventReleased,
] as const;

/**
 * A pre-encoded switch event: the frame with placeholder seq/ConnID/time, and where to patch them.
 * Built once per (event type, DN); each emission copies it and patches 3 numbers.
 */
export interface EventTemplate {
  readonly type: number;
  readonly dn: string;
  readonly bytes: Buffer;
  readonly connIdOffset: number;
  readonly secsOffset: number;
  readonly usecsOffset: number;
}

function findAttrValue(frame: Buffer, id: number, type: number, from: number): number {
  // Attribute headers of the template are unique enough to be found by scanning: the template is ours.
  for (let i = from; i + 3 <= frame.length; i++) {
    if (frame.readUInt16BE(i) === id && frame[i + 2] === type) return i + 3;
  }
  throw new Error(`template lacks attribute ${id}`);
}

/** Build the template of one event type on one DN. `extra` adds the type-specific attributes. */
export function buildTemplate(type: number, dn: string, extra: AttributeInput): EventTemplate {
  const bytes = encodeMessage(type, [
    { id: Attr.EventSequenceNumber, type: ValueType.Int64, value: 0n },
    { id: Attr.ThisDN, type: ValueType.String, value: dn },
    { id: Attr.ConnID, type: ValueType.Int64, value: 0n },
    { id: Attr.TimeinSecs, type: ValueType.Int32, value: 0 },
    { id: Attr.TimeinuSecs, type: ValueType.Int32, value: 0 },
    ...toAttributes(extra),
  ]);
  const dnBytes = Buffer.byteLength(dn);
  const connIdOffset = EventLayout.dn + dnBytes + 3;
  if (bytes.readUInt16BE(connIdOffset - 3) !== Attr.ConnID) throw new Error('template layout mismatch');
  const secsOffset = findAttrValue(bytes, Attr.TimeinSecs, ValueType.Int32, connIdOffset + 8);
  const usecsOffset = findAttrValue(bytes, Attr.TimeinuSecs, ValueType.Int32, secsOffset + 4);
  return { type, dn, bytes, connIdOffset, secsOffset, usecsOffset };
}

/** What the T-Server needs from a switch event, read at fixed offsets. */
export interface EventHead {
  type: number;
  seq: number;
  dn: string;
  /** Where the ConnID int64 starts (read it only when needed: BigInt costs). */
  connIdAt: number;
}

/**
 * Read the head of a switch event frame `buf[pos, end)`; undefined when the frame is not a switch event
 * (a private message), so the caller decodes it fully.
 */
export function readEventHead(buf: Buffer, pos: number, end: number): EventHead | undefined {
  if (end - pos < EventLayout.dn + 11 || buf[pos + 5] !== FrameKind.Message || buf[pos + 4] !== WIRE_VERSION) return undefined;
  if (buf.readUInt16BE(pos + EventLayout.seqId) !== Attr.EventSequenceNumber || buf[pos + EventLayout.seqId + 2] !== ValueType.Int64) return undefined;
  const dnLen = buf.readUInt32BE(pos + EventLayout.dnLen);
  const dnStart = pos + EventLayout.dn;
  if (dnStart + dnLen + 11 > end) return undefined;
  return {
    type: buf.readUInt32BE(pos + EventLayout.type),
    seq: buf.readUInt32BE(pos + EventLayout.seqValue) * 0x100000000 + buf.readUInt32BE(pos + EventLayout.seqValue + 4),
    dn: buf.latin1Slice(dnStart, dnStart + dnLen),
    connIdAt: dnStart + dnLen + 3,
  };
}

/**
 * Overwrite the EventSequenceNumber of the switch event frame starting at `pos` (a T-Server forwarding in
 * a numbering whose base is not 0). `seq` must be a safe integer.
 */
export function writeEventSeq(buf: Buffer, pos: number, seq: number): void {
  const at = pos + EventLayout.seqValue;
  buf.writeInt32BE(Math.floor(seq / 0x100000000), at);
  buf.writeUInt32BE(seq >>> 0, at + 4);
}

/** Extensions {backup: 1} appended to events a backup forwards: 18 bytes. */
export const BACKUP_MARK = (() => {
  const key = Buffer.from('backup');
  const b = Buffer.alloc(2 + 1 + 2 + 2 + key.length + 1 + 4);
  let p = b.writeUInt16BE(Attr.Extensions, 0);
  b[p++] = ValueType.List;
  p = b.writeUInt16BE(1, p);
  p = b.writeUInt16BE(key.length, p);
  p += key.copy(b, p);
  b[p++] = ValueType.Int32;
  b.writeInt32BE(1, p);
  return b;
})();

/**
 * Collects frames for one socket during one turn and writes them as one buffer (one syscall per turn,
 * not per frame). With `mark`, every switch event gets {@link BACKUP_MARK} appended.
 */
export class BatchWriter {
  private parts: Buffer[] = [];
  private bytes = 0;

  private lastSrc: Buffer | undefined;
  private lastStart = 0;
  private lastEnd = 0;

  /** Queue `src[start, end)`, a whole frame. Adjacent frames of one source buffer stay one slice. */
  push(src: Buffer, start: number, end: number): void {
    this.bytes += end - start;
    if (src === this.lastSrc && start === this.lastEnd) {
      this.lastEnd = end;
      this.parts[this.parts.length - 1] = src.subarray(this.lastStart, end);
      return;
    }
    this.parts.push(src.subarray(start, end));
    this.lastSrc = src;
    this.lastStart = start;
    this.lastEnd = end;
  }

  /** Queue a switch event frame with the backup mark appended. */
  pushMarked(src: Buffer, start: number, end: number): void {
    const out = Buffer.allocUnsafe(end - start + BACKUP_MARK.length);
    src.copy(out, 0, start, end);
    BACKUP_MARK.copy(out, end - start);
    out.writeUInt32BE(out.length - 4, 0);
    out.writeUInt16BE(out.readUInt16BE(EventLayout.attrCount) + 1, EventLayout.attrCount);
    this.parts.push(out);
    this.bytes += out.length;
    this.lastSrc = undefined;
  }

  /** Bytes queued. */
  get size(): number {
    return this.bytes;
  }

  get pending(): boolean {
    return this.bytes > 0;
  }

  /** Take everything queued as one buffer. */
  take(): Buffer {
    // One slice needs no copy: socket reads hand us fresh buffers that nobody else writes to.
    const out = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.bytes);
    this.parts = [];
    this.bytes = 0;
    this.lastSrc = undefined;
    return out;
  }
}

// ---------------------------------------------------------------------------------------------------------
// What a T-Server says: the answers to a handshake, a registration, a query and any other request, as
// attribute sets (encode with encodeMessage, or toAttributes for a decoded frame). One place for their shape
// (docs/protocol.md, "Handshake"); the scripted test peer (scripted-peer.ts) answers with these.

/** The facts about a server that its answers carry. */
export interface ServerFacts {
  /** ServerRole: 0 primary, 1 backup. */
  role: number;
  /** ServerVersion. */
  version: string;
  /** SessionID: one per server process (a new one after a restart). */
  sessionId: bigint;
  /** ServerStartTime, seconds since the epoch. */
  startTime: number;
}

/** `{ReferenceID}` of a request, to echo in its answer; `{}` for a request without one. */
export function referenceOf(req: MessageFrame): { ReferenceID?: number } {
  const ref = getAttr(req, Attr.ReferenceID);
  return typeof ref === 'number' ? { ReferenceID: ref } : {};
}

/** EventServerInfo, the first answer to RequestRegisterClient: who we are and our position `seq`. */
export function serverInfoAnswer(
  server: ServerFacts,
  seq: number | bigint,
  ref: { ReferenceID?: number },
  extensions: Record<string, string | number> = {},
): AttributeInput {
  return {
    ServerRole: server.role,
    ServerVersion: server.version,
    SessionID: server.sessionId,
    ServerStartTime: server.startTime,
    EventSequenceNumber: BigInt(seq),
    ...ref,
    Extensions: extensions,
  };
}

/**
 * EventLinkConnected, the second answer to RequestRegisterClient (and the report of a link that came
 * back): at `atMs` (epoch ms), with the position `seq` when the server reports one.
 */
export function linkConnectedAnswer(appName: string, sessionId: bigint, atMs: number, seq?: number | bigint): AttributeInput {
  return {
    ApplicationName: appName,
    SessionID: sessionId,
    TimeinSecs: Math.floor(atMs / 1000),
    TimeinuSecs: (atMs % 1000) * 1000,
    ...(seq === undefined ? {} : { EventSequenceNumber: BigInt(seq) }),
  };
}

/** EventRegistered, the answer to RequestRegisterAddress for `dn`: events on it after position `seq` follow. */
export function registeredAnswer(dn: string, ref: { ReferenceID?: number }, seq: number | bigint): AttributeInput {
  return { ThisDN: dn, ...ref, EventSequenceNumber: BigInt(seq) };
}

/** EventAddressInfo, the answer to RequestQueryServer. */
export function addressInfoAnswer(server: Pick<ServerFacts, 'role' | 'version'>, seq: number | bigint, ref: { ReferenceID?: number }): AttributeInput {
  return { ServerVersion: server.version, ServerRole: server.role, EventSequenceNumber: BigInt(seq), ...ref };
}

/**
 * A block of `capacity` copies of one pre-encoded switch event (a {@link buildTemplate} frame, so its
 * EventSequenceNumber sits at {@link EventLayout}'s fixed offset): {@link EventBlock.take} copies the first
 * `n` and numbers them with {@link writeEventSeq}: one copy and two integer writes per event, no encoding.
 */
export class EventBlock {
  private readonly block: Buffer;
  readonly frameBytes: number;

  constructor(frame: Buffer, readonly capacity: number) {
    this.frameBytes = frame.length;
    this.block = Buffer.allocUnsafe(frame.length * capacity);
    for (let i = 0; i < capacity; i++) frame.copy(this.block, i * frame.length);
  }

  /** `n` (≤ capacity) consecutive events as one fresh buffer, numbered `firstSeq`, `firstSeq + 1`, … */
  take(n: number, firstSeq: number): Buffer {
    const F = this.frameBytes;
    const b = Buffer.allocUnsafe(n * F);
    this.block.copy(b, 0, 0, n * F);
    for (let i = 0; i < n; i++) writeEventSeq(b, i * F, firstSeq + i);
    return b;
  }
}
