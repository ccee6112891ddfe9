import { LENGTH_BYTES } from '../protocol/constants.js';
import { decodeAttribute, decodeBody } from '../protocol/decoder.js';
import { Attr, attrId, messageName, type AttrName } from '../protocol/ids.js';
import { listToRecord, messageToRecord, plainValue } from '../protocol/json.js';
import type { PlainValue } from '../protocol/message.js';
import type { DecodedValue, KVPair, MessageFrame } from '../protocol/types.js';
import type { FrameBatch, FrameBytes, RawFrameBatch } from '../transport/types.js';
import type { EndpointName } from '../endpoint/endpoint.js';

/** What `get()` returns for the attributes this protocol names (docs/protocol.md, attribute table). */
export interface AttrValues {
  ErrorMessage: string;
  ReferenceID: number;
  ConnID: bigint;
  CallState: number;
  Reason: { [key: string]: PlainValue };
  DNIS: string;
  ANI: string;
  ThisDN: string;
  OtherDN: string;
  ErrorCode: number;
  AddressType: number;
  RegisterMode: number;
  /** A null-prototype object: any key from the wire is own data (docs/security.md). */
  UserData: { [key: string]: PlainValue };
  Extensions: { [key: string]: PlainValue };
  CallType: number;
  RouteType: number;
  ServerVersion: string;
  ServerRole: number;
  ApplicationName: string;
  CustomerID: string;
  TimeinSecs: number;
  TimeinuSecs: number;
  SessionID: bigint;
  ServerStartTime: number;
  EventSequenceNumber: bigint | number;
}
/** The value type of attribute `K` (named), or any plain value (numeric id or an unlisted name). */
export type AttrValue<K> = K extends keyof AttrValues ? AttrValues[K] : PlainValue;

function plain(v: DecodedValue): PlainValue {
  return Array.isArray(v) ? listToRecord(v as KVPair[]) : (v as PlainValue);
}

/**
 * A T-Server event (EventRouteRequest, call events, …) delivered once, in order. Built without decoding:
 * type, sequence number, epoch and receive time come from the transport's index, and on the native
 * transport the attributes are read from the event's bytes only when asked for — `get('ThisDN')` decodes
 * that one attribute, `message`/`attributes` the whole event (once). An event stays valid and correct after
 * the listener returns, for as long as the application keeps it.
 */
export class TEvent {
  private decoded: MessageFrame | undefined;
  private attrsCache: ReturnType<typeof messageToRecord> | undefined;
  private readonly raw: FrameBytes | undefined;
  /** Numbering epoch of `seq` (sequence numbers compare only within one epoch; `''` when unannounced). */
  declare readonly epoch: string;
  private readonly off: number;
  private readonly len: number;

  /** @internal Built by the pair from frame `i` of `batch`. */
  constructor(
    batch: FrameBatch,
    i: number,
    /** The endpoint it came from. */
    readonly source: EndpointName,
    /** EventSequenceNumber, or -1. */
    readonly seq: number,
    epoch: string,
    /** Genesys TMessageType id. */
    readonly type: number = batch.type(i),
    /** Monotonic ms when its bytes were read. */
    readonly receivedAt: number = batch.receivedAt,
  ) {
    (this as { epoch: string }).epoch = epoch;
    const r = batch as Partial<RawFrameBatch>;
    if (r.retain) {
      this.raw = r.retain();
      this.off = r.offset!(i);
      this.len = r.length!(i);
    } else {
      this.decoded = batch.frame(i);
      this.off = 0;
      this.len = 0;
    }
  }

  /** Message name, e.g. `EventRouteRequest`. */
  get Event(): string {
    return messageName(this.type);
  }

  /** The whole decoded message (decoded on first use). */
  get message(): MessageFrame {
    if (this.decoded) return this.decoded;
    const raw = this.raw!;
    const at = this.off - raw.base;
    return (this.decoded = decodeBody(raw.bytes, at + LENGTH_BYTES, at + this.len, raw.limits, at) as MessageFrame);
  }

  /**
   * All attributes by Genesys name (built once, on first use). This object and every list in it (UserData,
   * Extensions, …) have a null prototype: keys come from the wire, and none can reach or shadow a
   * prototype (docs/security.md).
   */
  get attributes(): ReturnType<typeof messageToRecord> {
    return (this.attrsCache ??= messageToRecord(this.message));
  }

  /**
   * One attribute by name (`'ThisDN'`, typed) or by TAttribute id, without decoding the others. Lists come
   * back as null-prototype objects (first occurrence of a key wins; any key, `__proto__` included, is an
   * own data property); `undefined` when the event does not carry it.
   */
  get<K extends AttrName>(name: K): AttrValue<K> | undefined;
  get(id: number): PlainValue | undefined;
  get(nameOrId: AttrName | number): PlainValue | undefined {
    const id = typeof nameOrId === 'number' ? nameOrId : attrId(nameOrId);
    if (this.decoded) {
      for (const a of this.decoded.attributes) {
        if (a.id === id) return plainValue(a.type, a.value);
      }
      return undefined;
    }
    const raw = this.raw!;
    const at = this.off - raw.base;
    const v = decodeAttribute(raw.bytes, at + LENGTH_BYTES, at + this.len, raw.limits, id);
    return v === undefined ? undefined : plain(v);
  }
}

/** @internal An event's switch time in µs (TimeinSecs, TimeinuSecs), or -1 when it carries none. */
export function switchTimeUs(e: TEvent): number {
  const secs = e.get(Attr.TimeinSecs);
  if (typeof secs !== 'number') return -1;
  const us = e.get(Attr.TimeinuSecs);
  return secs * 1e6 + (typeof us === 'number' ? us : 0);
}

/** @internal The pair stamps the epoch when it admits the event (it may change while an event waits). */
export function setEpoch(e: TEvent, epoch: string): void {
  (e as { epoch: string }).epoch = epoch;
}
