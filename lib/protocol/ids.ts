/**
 * Genesys numbering (T-Library `tlib_ext.h`, protocol 4.2) for the messages and attributes this project
 * uses. The byte layout around them is the project's own (docs/protocol.md).
 */

/** TMessageType ids. */
export const MessageType = {
  RequestRegisterClient: 0,
  RequestQueryServer: 1,
  RequestQueryAddress: 2,
  RequestRegisterAddress: 3,
  RequestUnregisterAddress: 4,
  RequestRouteCall: 36,
  RequestDistributeUserEvent: 48,
  EventServerConnected: 50,
  EventServerDisconnected: 51,
  EventError: 52,
  EventRegistered: 53,
  EventUnregistered: 54,
  EventQueued: 57,
  EventAbandoned: 59,
  EventRinging: 60,
  EventDialing: 61,
  EventEstablished: 64,
  EventReleased: 65,
  EventRouteRequest: 71,
  EventRouteUsed: 72,
  EventAttachedDataChanged: 85,
  EventAddressInfo: 92,
  EventServerInfo: 93,
  EventLinkDisconnected: 94,
  EventLinkConnected: 95,
  EventUserEvent: 96,
  EventRestoreConnection: 132,
  EventPrimaryChanged: 133,
  RequestLostBackupConnection: 134,
  EventACK: 138,
} as const;
/** A known message name. */
export type MessageName = keyof typeof MessageType;

/** TAttribute ids. */
export const Attr = {
  ProtocolVersion: 0,
  ErrorMessage: 1,
  ReferenceID: 2,
  ConnID: 9,
  CallState: 13,
  Reason: 17,
  DNIS: 18,
  ANI: 19,
  ThisDN: 20,
  OtherDN: 24,
  ErrorCode: 46,
  AddressType: 47,
  RegisterMode: 49,
  UserData: 51,
  Extensions: 53,
  CallType: 54,
  RouteType: 60,
  ServerVersion: 61,
  ServerRole: 62,
  ServerCapabilityMask: 63,
  ApplicationName: 64,
  ApplicationPassword: 65,
  CustomerID: 76,
  TimeinSecs: 86,
  TimeinuSecs: 87,
  XReferenceID: 91,
  ClientID: 102,
  SessionID: 108,
  Host: 109,
  Port: 110,
  ServerStartTime: 147,
  EventSequenceNumber: 148,
} as const;
/** A known attribute name. */
export type AttrName = keyof typeof Attr;

/** ServerRole values carried in EventServerInfo / EventPrimaryChanged. */
export const ServerRole = { Primary: 0, Backup: 1 } as const;
/** RegisterMode values for RequestRegisterAddress. */
export const RegisterMode = { Share: 0, Private: 1, Monitor: 2 } as const;
/** RouteType values for RequestRouteCall. */
export const RouteType = { Default: 1, Label: 2, Reject: 7 } as const;

/**
 * ErrorCode values of EventError (docs/protocol.md, "Error codes"): one table for the client's request rules,
 * the simulator and the tests.
 */
export const ErrorCode = {
  UnknownRequest: 1000,
  NotRegistered: 1001,
  /** The server is a backup: the request was refused before anything was done. */
  BackupRefused: 1002,
  /** The server's CTI link is down: the request was refused before anything was done. */
  LinkDown: 1003,
  MissingAttribute: 1101,
  /** The call does not exist (any more) at the switch: released, or routed and already ended. */
  CallNotFound: 1201,
  /** The call was routed already, by a request. */
  CallAlreadyRouted: 1202,
  /** Warm standby: the call began before this server became primary and is unknown to it. */
  CallLostInSwitchover: 1203,
  /** The call reached its route timeout (or its route point overflowed) and went to its default destination. */
  RouteTimedOut: 1204,
  /** The CTI link went down after the route was passed to the switch: it may or may not have acted on it. */
  RouteOutcomeUnknown: 1205,
} as const;

const messageNames = new Map<number, MessageName>(
  Object.entries(MessageType).map(([k, v]) => [v, k as MessageName]),
);
const attrNames = new Map<number, AttrName>(Object.entries(Attr).map(([k, v]) => [v, k as AttrName]));

/** Name of a message type id, or `Message<id>` for ids this project does not name. */
export function messageName(id: number): string {
  return messageNames.get(id) ?? `Message${id}`;
}

/** Name of an attribute id, or `Attr<id>` for ids this project does not name. */
export function attrName(id: number): string {
  return attrNames.get(id) ?? `Attr${id}`;
}

/** Id of a message given by name or id; throws a TypeError for an unknown name. */
export function messageId(nameOrId: MessageName | number): number {
  if (typeof nameOrId === 'number') return nameOrId;
  const id = MessageType[nameOrId];
  if (id === undefined) throw new TypeError(`unknown message name: ${String(nameOrId)}`);
  return id;
}

// A Map: `Attr[name]` with a different name at each call of one site measured ~2x slower (per-event path).
const attrIds = new Map<string, number>(Object.entries(Attr));

/** Id of an attribute given by name or id; throws a TypeError for an unknown name. */
export function attrId(nameOrId: AttrName | number): number {
  if (typeof nameOrId === 'number') return nameOrId;
  const id = attrIds.get(nameOrId);
  if (id === undefined) throw new TypeError(`unknown attribute name: ${String(nameOrId)}`);
  return id;
}
