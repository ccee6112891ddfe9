/**
 * What a request's outcome means when a failover put it in doubt: one rule per request kind
 * (docs/semantics.md, "Requests across a failover"). A request is in doubt when it was written to a server
 * that was lost before it answered: it may or may not have run there. The rule says whether it may be sent
 * again to the next primary, and how to read the answer to that repeat.
 */
import { Attr, ErrorCode, MessageType } from '../protocol/ids.js';
import type { AttributeInput } from '../protocol/encoder.js';
import type { Attribute, MessageFrame } from '../protocol/types.js';
import type { ServerError } from '../errors.js';

/**
 * How a request settled, on the reply the promise resolves with:
 * - `answered`: answered by the server it was sent to, nothing in doubt;
 * - `answered-on-repeat`: its first attempt was in doubt (server lost, or refusal that proves nothing ran),
 *   the repeat on the next primary was answered — for RequestRouteCall: *this* repeat routed the call;
 * - `done-earlier`: the repeat was refused because the earlier attempt had already done it — for
 *   RequestRouteCall, the switch's 1202 to the repeat: the call had been routed by a request, i.e. by the
 *   earlier attempt (docs/semantics.md says when that reading holds). The reply is that refusal.
 */
export type RequestOutcome = 'answered' | 'answered-on-repeat' | 'done-earlier';

/** What the answer to a repeat of an in-doubt request means. */
export type RepeatReading =
  /** Resolve with the reply (an answer, or a refusal read as "done earlier"). */
  | { settle: 'resolve'; outcome: Exclude<RequestOutcome, 'answered'> }
  /** Reject: the answer is final and says what happened (the error explains). */
  | { settle: 'reject' }
  /** Still in doubt (nothing proves either way): reject with SwitchoverError carrying the answer. */
  | { settle: 'in-doubt' };

/** What the event stream showed of the request's call, for the rules that can use it. */
export interface Evidence {
  /** The request's destination (RequestRouteCall's OtherDN). */
  destination: string | undefined;
  /** The DN where the call showed up after leaving its route point, when the stream said so. */
  arrivedAt: string | undefined;
}

/** The rule of one request kind. */
export interface RequestRule {
  /** May be sent again after its server was lost before answering (the repeat cannot do harm). */
  readonly repeatable: boolean;
  /** How to read the answer to a repeat, with what the event stream showed of the call. */
  read(answer: MessageFrame | ServerError, evidence: Evidence): RepeatReading;
}

/**
 * EventError codes that prove the request did not run: the server refused it before acting (it is backup,
 * or its CTI link is down). Such a refusal is not final while another server may take the request before
 * its deadline.
 */
export function provesNotRun(err: ServerError): boolean {
  return err.errorCode === ErrorCode.BackupRefused || err.errorCode === ErrorCode.LinkDown;
}

/**
 * EventError codes that leave the outcome open: the server lost track of the request (its CTI link fell
 * with the route on its way to the switch). As good as a lost connection: in doubt, repeated by its rule.
 */
export function leavesInDoubt(err: ServerError): boolean {
  return err.errorCode === ErrorCode.RouteOutcomeUnknown;
}

/** The answer to a repeat of a request that cannot run twice harmfully: an answer is an answer. */
const repeatSafe: RequestRule = {
  repeatable: true,
  read: (a) => (isError(a) ? { settle: 'reject' } : { settle: 'resolve', outcome: 'answered-on-repeat' }),
};

/** Not known to be safe to repeat: an in-doubt request fails with SwitchoverError. */
const notRepeatable: RequestRule = { repeatable: false, read: () => ({ settle: 'in-doubt' }) };

/**
 * RequestRouteCall: the switch refuses to route a call that already left its route point, so a repeat can
 * never route a call twice, and its refusal says how the call left.
 */
const routeCall: RequestRule = {
  repeatable: true,
  read(a, ev) {
    if (!isError(a)) return { settle: 'resolve', outcome: 'answered-on-repeat' };
    switch (a.errorCode) {
      // Routed by a request: ours, the earlier attempt (the application routes its own route points).
      case ErrorCode.CallAlreadyRouted:
        return { settle: 'resolve', outcome: 'done-earlier' };
      // Went to its default destination at its route timeout: no attempt of ours routed it (had the earlier
      // one done so, the switch would answer 1202). Final, and true.
      case ErrorCode.RouteTimedOut:
        return { settle: 'reject' };
      // Gone from the switch: released on its route point, or routed and already ended. The stream tells
      // which: a call that rang our destination was routed there — by the earlier attempt, since the
      // repeat was refused (docs/semantics.md names the one case this cannot tell: a default destination
      // equal to ours). A call that rang elsewhere was not routed by us; one never seen: no evidence.
      case ErrorCode.CallNotFound:
        if (ev.arrivedAt !== undefined && ev.arrivedAt === ev.destination) return { settle: 'resolve', outcome: 'done-earlier' };
        if (ev.arrivedAt !== undefined) return { settle: 'reject' };
        return { settle: 'in-doubt' };
      // Warm standby: the new primary never saw the call; the link fell with the repeat on its way.
      case ErrorCode.CallLostInSwitchover:
      case ErrorCode.RouteOutcomeUnknown:
        return { settle: 'in-doubt' };
      default:
        return { settle: 'reject' };
    }
  },
};

const rules = new Map<number, RequestRule>([
  [MessageType.RequestRouteCall, routeCall],
  // Registrations and queries change nothing a second time.
  [MessageType.RequestRegisterAddress, repeatSafe],
  [MessageType.RequestUnregisterAddress, repeatSafe],
  [MessageType.RequestQueryServer, repeatSafe],
  [MessageType.RequestQueryAddress, repeatSafe],
]);

/**
 * The rule for a request of `type`. `repeat` (the request's option) overrides: `true` = safe to repeat (an
 * application's own request; `idempotent` means the same), `false` = never repeat (an in-doubt request
 * fails with SwitchoverError, as before this rule existed).
 */
export function ruleFor(type: number, repeat: boolean | undefined): RequestRule {
  if (repeat === false) return notRepeatable;
  const r = rules.get(type);
  if (r) return r;
  return repeat === true ? repeatSafe : notRepeatable;
}

/**
 * The call a RequestRouteCall is about (ConnID) and where it asks it to go (OtherDN), when both are given:
 * what the event stream is watched for while the request is outstanding (call-evidence.ts).
 */
export function callOf(type: number, attributes: AttributeInput | readonly Attribute[]): { connId: bigint; destination: string } | undefined {
  if (type !== MessageType.RequestRouteCall) return undefined;
  let conn: unknown;
  let dest: unknown;
  if (Array.isArray(attributes)) {
    for (const a of attributes as readonly Attribute[]) {
      if (a.id === Attr.ConnID) conn ??= a.value;
      else if (a.id === Attr.OtherDN) dest ??= a.value;
    }
  } else {
    conn = (attributes as AttributeInput).ConnID;
    dest = (attributes as AttributeInput).OtherDN;
  }
  const connId = typeof conn === 'bigint' ? conn : typeof conn === 'number' && Number.isInteger(conn) ? BigInt(conn) : undefined;
  return connId !== undefined && typeof dest === 'string' ? { connId, destination: dest } : undefined;
}

function isError(a: MessageFrame | ServerError): a is ServerError {
  return a instanceof Error;
}
