/**
 * Watches one TServerPair through one failover, from its public events only (plus the warm reconnect's
 * connect timestamps, read from the pair's endpoint): what the application sees, when, and how every
 * request it made settled. Shared by the simulator and the lab runs.
 */
import { monotonicMs } from '../../clock.js';
import type { Endpoint, EndpointName } from '../../endpoint/endpoint.js';
import { CallElsewhereError, RequestTimeoutError, ServerError, SwitchoverError } from '../../errors.js';
import type { ActiveEvent, GapEvent, SwitchoverEvent, TEvent } from '../../pair/events.js';
import type { TServerPair } from '../../pair/pair.js';
import { Attr, ErrorCode, MessageType } from '../../protocol/ids.js';
import type { RequestReply } from '../../pair/requests.js';
import { PHASES, emptyOutcomes, type FailedRequest, type Outcomes, type Phase, type Resolved, type TimelineMark } from './types.js';

/** One request the bench made, and how it settled. */
export interface RequestRecord {
  connId: bigint;
  thisDN: string;
  otherDN: string;
  sentAt: number;
  phase: Phase;
  /**
   * `ok` (resolved; `resolved` says how), `switchover`, `timeout`, `server:<code>`, `elsewhere`
   * (CallElsewhereError), `other:<code>`; undefined while pending.
   */
  outcome?: string;
  /** How a resolved request settled (the reply's outcome; done-earlier split by the refusal's ErrorCode). */
  resolved?: keyof Resolved;
  /** RequestTimeoutError: whether the request had been written to a server (it may have run). */
  sent?: boolean;
  errorMessage?: string;
}

/** How a reply settled, from its `outcome` (and, for done-earlier, the refusal it carries: 1202 or 1201). */
export function resolvedKind(reply: RequestReply | undefined): keyof Resolved {
  const o = reply?.outcome;
  if (o === 'answered-on-repeat') return 'answered-on-repeat';
  if (o === 'done-earlier') {
    const code = reply!.attributes?.find((a) => a.id === Attr.ErrorCode)?.value;
    return Number(code) === ErrorCode.CallAlreadyRouted ? 'done-earlier-1202' : 'done-earlier-stream';
  }
  return 'answered';
}

/** The pair's endpoints (not public API: the warm reconnect's connect timestamps only). */
export function endpointsOf(pair: TServerPair): Record<EndpointName, Endpoint> {
  const eps = (pair as unknown as { endpoints?: Record<EndpointName, Endpoint> }).endpoints;
  if (!eps?.primary || !eps.backup) throw new Error('bench: TServerPair internals changed (no endpoints)');
  return eps;
}

export const other = (e: EndpointName): EndpointName => (e === 'primary' ? 'backup' : 'primary');

export class RunObserver {
  faultAt: number | null = null;
  /** The endpoint that was primary (taking requests) at the fault. */
  oldEp: EndpointName | null = null;
  /** The endpoint requests are expected on once the pair recovers. */
  recoverOn: EndpointName | null = null;
  disconnectAt: number | null = null;
  linkDownAt: number | null = null;
  switchover: SwitchoverEvent | null = null;
  /** When the application's `switchover` listener ran. */
  switchoverSeenAt: number | null = null;
  recovered: ActiveEvent | null = null;
  /** Requests flow again on the old primary itself, after an interruption (a lab failover that did not move). */
  sameRecovery: ActiveEvent | null = null;
  firstEvent: { at: number; receivedAt: number; seq: number; epoch: string } | null = null;
  lastBeforeFault: { seq: number; epoch: string } | null = null;
  readonly gaps: GapEvent[] = [];
  /** Every (epoch, seq) delivered, in order. */
  readonly received: { epoch: string; seq: number }[] = [];
  readonly requests: RequestRecord[] = [];
  readonly timeline: TimelineMark[] = [];
  private readonly pending = new Set<Promise<void>>();
  private sawInactive = false;
  answering = true;
  /** The warm reconnect (connect start, connected, session open), read when the pair recovers. */
  warmConnect: { connectStartAt?: number; connectedAt?: number; openAt?: number } | null = null;
  private readonly off: (() => void)[] = [];

  /**
   * Hot standby, a switchover to `to`: the client's own part — the read of the socket batch that carried the
   * last report the pair needed (`announcedAt`; native: stamped on the I/O thread) → its decision
   * (`completedAt`: queued requests sent) — and the further wait until the application's listener ran
   * (the outbox delivers the events queued before it first).
   */
  hotOverhead(to: EndpointName | null): { overheadMs: number; listenerLagMs: number } | null {
    const sw = this.switchover;
    if (!sw || sw.to !== to || this.switchoverSeenAt === null) return null;
    return { overheadMs: round3(sw.completedAt - sw.announcedAt), listenerLagMs: round3(this.switchoverSeenAt - sw.completedAt) };
  }

  constructor(
    private readonly pair: TServerPair,
    private readonly opts: {
      /** The destination for an EventRouteRequest, or null: passive, no request is made. */
      routeTo: ((e: TEvent) => string) | null;
      requestTimeoutMs: number;
      /** Recovery is expected after a link-down: the same endpoint again, after `active: null`. */
      sameEndpoint?: boolean;
    },
  ) {
    const on = <K extends Parameters<TServerPair['on']>[0]>(name: K, fn: (...a: never[]) => void) => {
      pair.on(name as never, fn as never);
      this.off.push(() => pair.off(name as never, fn as never));
    };
    on('EventServerDisconnected', (e: { source: EndpointName; timestamp: number; reason: string }) => {
      if (this.faultAt === null) return;
      this.mark(e.timestamp, `EventServerDisconnected ${e.source} (${e.reason})`);
      if (e.source === this.oldEp && this.disconnectAt === null) this.disconnectAt = e.timestamp;
    });
    on('EventLinkDisconnected', (e: { source: EndpointName; timestamp: number }) => {
      if (this.faultAt === null) return;
      this.mark(e.timestamp, `EventLinkDisconnected ${e.source}`);
      if (e.source === this.oldEp && this.linkDownAt === null) this.linkDownAt = e.timestamp;
    });
    on('EventLinkConnected', (e: { source: EndpointName; timestamp: number }) => {
      if (this.faultAt !== null) this.mark(e.timestamp, `EventLinkConnected ${e.source}`);
    });
    on('EventServerConnected', (e: { source: EndpointName; timestamp: number; role: string }) => {
      if (this.faultAt !== null) this.mark(e.timestamp, `EventServerConnected ${e.source} (${e.role})`);
    });
    on('switchover', (e: SwitchoverEvent) => {
      if (this.faultAt === null || this.switchover) return;
      this.switchover = e;
      this.switchoverSeenAt = monotonicMs();
      this.mark(e.detectedAt, `switchover detected (${e.reason})`);
      this.mark(e.announcedAt, `deciding report read (switchover to ${e.to})`);
    });
    on('gap', (g: GapEvent) => {
      this.gaps.push(g);
      if (this.faultAt !== null) this.mark(monotonicMs(), `gap ${g.fromSeq}..${g.toSeq} (${g.reason})`);
    });
    on('active', (e: ActiveEvent) => {
      if (this.faultAt === null) return;
      this.mark(e.timestamp, e.endpoint ? `active: ${e.endpoint}` : 'active: none (requests queue)');
      if (e.endpoint === null) this.sawInactive = true;
      else if (e.endpoint === this.oldEp && this.sawInactive && !this.sameRecovery) this.sameRecovery = e;
      if (this.recovered || e.endpoint === null || e.endpoint !== this.recoverOn) return;
      if (this.opts.sameEndpoint && !this.sawInactive) return;
      this.recovered = e;
      const ep = endpointsOf(pair)[e.endpoint];
      const ts = ep.currentTransport?.timestamps;
      this.warmConnect = { connectStartAt: ts?.connectStartAt, connectedAt: ts?.connectedAt, openAt: ep.session?.openAt };
    });
    on('event', (e: TEvent) => this.onEvent(e));
  }

  private mark(at: number, what: string): void {
    if (this.faultAt !== null) this.timeline.push({ t: round3(at - this.faultAt), what });
  }

  /** The fault happens now; requests are expected on `recoverOn` once the pair has recovered. */
  markFault(oldEp: EndpointName, recoverOn: EndpointName): number {
    this.oldEp = oldEp;
    this.recoverOn = recoverOn;
    const last = this.received.at(-1);
    this.lastBeforeFault = last ?? null;
    this.faultAt = monotonicMs();
    this.timeline.push({ t: 0, what: 'fault' });
    return this.faultAt;
  }

  /** Note a moment seen outside the pair (the simulator's promotion, the fault command's exit). */
  note(at: number, what: string): void {
    this.mark(at, what);
  }

  private onEvent(e: TEvent): void {
    if (e.seq >= 0) this.received.push({ epoch: e.epoch, seq: e.seq });
    if (this.faultAt !== null && !this.firstEvent) {
      const fromNew = this.opts.sameEndpoint ? e.source !== this.oldEp || (this.linkDownAt !== null && e.receivedAt > this.linkDownAt) : e.source !== this.oldEp;
      if (fromNew) {
        this.firstEvent = { at: monotonicMs(), receivedAt: e.receivedAt, seq: e.seq, epoch: e.epoch };
        this.mark(this.firstEvent.at, `first event from ${e.source} (seq ${e.seq})`);
      }
    }
    if (!this.answering || !this.opts.routeTo || e.type !== MessageType.EventRouteRequest) return;
    const connId = e.get(Attr.ConnID);
    const thisDN = e.get(Attr.ThisDN);
    if ((typeof connId !== 'bigint' && typeof connId !== 'number') || typeof thisDN !== 'string') return;
    const otherDN = this.opts.routeTo(e);
    const rec: RequestRecord = {
      connId: BigInt(connId),
      thisDN,
      otherDN,
      sentAt: monotonicMs(),
      phase: this.faultAt === null ? 'before' : this.recovered ? 'after' : 'switching',
    };
    this.requests.push(rec);
    const p = this.pair
      .request('RequestRouteCall', { ThisDN: thisDN, ConnID: rec.connId, OtherDN: otherDN, RouteType: 2 }, { timeoutMs: this.opts.requestTimeoutMs })
      .then(
        (reply) => {
          rec.outcome = 'ok';
          rec.resolved = resolvedKind(reply);
        },
        (err: unknown) => {
          rec.outcome = classify(err);
          if (err instanceof RequestTimeoutError) rec.sent = err.sent;
          rec.errorMessage = err instanceof Error ? err.message : String(err);
        },
      )
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  /** Wait (bounded) for every request to settle; returns how many are still pending. */
  async settle(ms: number): Promise<number> {
    this.answering = false;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.pending]), new Promise((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
    return this.pending.size;
  }

  detach(): void {
    for (const f of this.off.splice(0)) f();
  }

  recoveredSame(): boolean {
    return this.sameRecovery !== null;
  }

  /** Fault → the pair knew the old primary was unusable. */
  detectedAt(): number | null {
    const c = [this.switchover?.detectedAt, this.disconnectAt ?? undefined, this.linkDownAt ?? undefined].filter((x): x is number => x !== undefined);
    return c.length ? Math.min(...c) : null;
  }
}

function classify(err: unknown): string {
  if (err instanceof SwitchoverError) return 'switchover';
  if (err instanceof RequestTimeoutError) return 'timeout';
  if (err instanceof ServerError) return `server:${err.errorCode}`;
  if (err instanceof CallElsewhereError) return 'elsewhere';
  return `other:${(err as { code?: string }).code ?? (err as Error).name}`;
}

/**
 * Count outcomes of `reqs` (all and by phase); `explain` names the documented rule behind a failure, or
 * null; `judge` (simulator) says what the oracle shows of the call and whether the outcome contradicts it.
 * Every failure is listed (`failures`).
 */
export function countOutcomes(
  reqs: readonly RequestRecord[],
  explain: (r: RequestRecord) => string | null,
  judge?: (r: RequestRecord) => { oracle: string; verdict?: 'wrong' | 'in-doubt-routed'; why?: string },
  faultAt: number | null = null,
): {
  all: Outcomes;
  byPhase: Record<Phase, Outcomes>;
  unsettled: number;
  explanations: Record<string, number>;
  failures: FailedRequest[];
  wrong: { connId: string; phase: Phase; outcome: string; oracle: string; why: string }[];
  inDoubtRouted: number;
} {
  const all = emptyOutcomes();
  const byPhase = Object.fromEntries(PHASES.map((p) => [p, emptyOutcomes()])) as Record<Phase, Outcomes>;
  const explanations: Record<string, number> = {};
  const failures: FailedRequest[] = [];
  const wrong: { connId: string; phase: Phase; outcome: string; oracle: string; why: string }[] = [];
  let inDoubtRouted = 0;
  let unsettled = 0;
  for (const r of reqs) {
    for (const o of [all, byPhase[r.phase]]) o.sent++;
    if (r.outcome === undefined) {
      unsettled++;
      continue;
    }
    const add = (f: (o: Outcomes) => void) => {
      f(all);
      f(byPhase[r.phase]);
    };
    const j = judge?.(r);
    if (j?.verdict === 'wrong') wrong.push({ connId: String(r.connId), phase: r.phase, outcome: r.outcome === 'ok' ? r.resolved ?? 'answered' : r.outcome, oracle: j.oracle, why: j.why ?? '' });
    if (j?.verdict === 'in-doubt-routed') inDoubtRouted++;
    if (r.outcome === 'ok') {
      const k = r.resolved ?? 'answered';
      add((o) => {
        o.ok++;
        o.resolved[k]++;
      });
      continue;
    }
    if (r.outcome === 'switchover') add((o) => o.switchover++);
    else if (r.outcome === 'timeout') add((o) => o.timeout++);
    else if (r.outcome.startsWith('server:')) add((o) => o.server++);
    else if (r.outcome === 'elsewhere') add((o) => o.elsewhere++);
    else add((o) => o.other++);
    add((o) => (o.detail[r.outcome!] = (o.detail[r.outcome!] ?? 0) + 1));
    const why = explain(r);
    if (why === null) add((o) => o.unexplained++);
    else explanations[why] = (explanations[why] ?? 0) + 1;
    const f: FailedRequest = { connId: String(r.connId), phase: r.phase, kind: r.outcome, atMs: faultAt === null ? null : round3(r.sentAt - faultAt), error: r.errorMessage ?? r.outcome, explanation: why };
    if (j) {
      f.oracle = j.oracle;
      if (j.verdict) f.verdict = j.verdict;
    }
    failures.push(f);
  }
  return { all, byPhase, unsettled, explanations, failures, wrong, inDoubtRouted };
}

export const round3 = (x: number) => Math.round(x * 1000) / 1000;
