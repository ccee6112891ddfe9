/**
 * The promises of docs/semantics.md as checks on what a `TServerPair` did, observed only through its
 * public API, against an oracle (the switch's own log). Shared by the decision-core simulation
 * (`npm run check:sim`) and the randomized real-process runs (`npm run chaos`).
 */
import { ConfigError, RequestTimeoutError, ServerError, TServerHaError } from '../lib/errors.js';
import type { TServerPair } from '../lib/pair/pair.js';
import type { GapEvent, PairEventRecord, SplitBrainEvent, TEvent } from '../lib/pair/events.js';
import { Attr, ErrorCode } from '../lib/protocol/ids.js';
import type { MessageFrame } from '../lib/protocol/types.js';

/** What the checker needs to know about the world the pair talked to. */
export interface Oracle {
  /** The switch's number of a delivered event, or undefined if it is not a switch event. */
  switchNo(e: TEvent): number | undefined;
  /** The switch numbers a gap covers, as an inclusive range (Infinity for an open end). */
  gapSpan(g: GapEvent): [number, number] | undefined;
  /** Switch numbers of every event for the checked DNs, ascending. */
  expected(): number[];
  /** How many times servers acted on the request with this identity (its OtherDN): refusals that prove nothing ran not counted. */
  executions(id: string): number;
  /** Whether the switch routed the call of this request (by any of its attempts); undefined where not modelled. */
  routed(id: string): boolean | undefined;
}

export interface Violation {
  invariant: string;
  detail: string;
}

interface Tracked {
  id: string;
  /** May be repeated when in doubt (its rule; false when the request opted out with `repeat: false`). */
  repeatable: boolean;
  submittedAt: number;
  deadline: number;
  /** The deadline was beyond what a timer can keep: the request must be refused at once. */
  invalid: boolean;
  settledAt?: number;
  outcome?: string;
}

/** Names of the public events other than `event`, recorded in order with the events. */
const NAMES = ['EventServerConnected', 'EventServerDisconnected', 'EventLinkConnected', 'EventLinkDisconnected', 'switchover', 'active', 'gap', 'splitBrain', 'connectFailed', 'reconnecting', 'heartbeat', 'breaker'] as const;

export class Checker {
  /** Every public event in emission order (what a synchronous listener saw). */
  readonly stream: PairEventRecord[] = [];
  /** What one `events()` iterator saw. */
  readonly iterated: PairEventRecord[] = [];
  /** Losses could not be judged: a gap lies in a numbering whose switch numbers nobody knows (see checkLosses). */
  lossUnjudged = false;
  private readonly delivered = new Map<number, number>(); // switch number → index in stream
  private readonly requests: Tracked[] = [];
  private readonly byId = new Map<string, Tracked>();
  /** Gaps in the order reported; their spans are resolved at the end (a numbering's base may be learned later). */
  private readonly gaps: { gap: GapEvent; at: number }[] = [];
  /** Switch number minus sequence number, per numbering epoch, from the events delivered in it. */
  private readonly epochBases = new Map<string, number>();
  private lastEpoch: string | null = null;
  private lastSeq = -1;
  private connected = { primary: false, backup: false };
  private link: Record<string, string> = { primary: 'unknown', backup: 'unknown' };
  private violation: Violation | null = null;
  /** The endpoint the last `active` event named (undefined before the first). */
  private lastActive: string | null | undefined;
  private iterating: Promise<void> | undefined;
  private closedAt: number | undefined;

  constructor(
    private readonly pair: TServerPair,
    private readonly oracle: Oracle,
    private readonly now: () => number,
    /** `tolMs`: slack on deadlines (the virtual clock needs 1 ms; a real one what the event loop was late by). */
    private readonly opts: { tolMs: () => number; maxPending: number },
  ) {
    for (const name of NAMES) (pair.on as (n: string, l: (d: unknown) => void) => void)(name, (data) => this.onPublic(name, data));
    pair.on('event', (e) => this.onEvent(e));
    // Listener exceptions arrive here (ListenerError); they are part of the stream events() yields.
    pair.on('error', (err) => this.stream.push({ type: 'error', data: err }));
    this.iterating = (async () => {
      for await (const r of pair.events({ maxBuffered: 1_000_000 })) this.iterated.push(r);
    })();
  }

  /** The first broken promise, if any. */
  get failed(): Violation | null {
    return this.violation;
  }

  fail(invariant: string, detail: string): void {
    this.violation ??= { invariant, detail };
  }

  /**
   * Track a request the schedule made; `id` is its identity (the simulated servers echo it in OtherDN).
   * `kind` 'address' is a registerAddress/unregisterAddress call (its deadline is the pair's default).
   */
  request(p: Promise<MessageFrame | void>, id: string, timeoutMs: number, repeatable: boolean): void {
    const t: Tracked = { id, repeatable, submittedAt: this.now(), deadline: this.now() + timeoutMs, invalid: !(Number.isInteger(timeoutMs) && timeoutMs >= 1 && timeoutMs <= 0x7fffffff) };
    this.requests.push(t);
    this.byId.set(id, t);
    p.then(
      (frame) => {
        t.settledAt = this.now();
        t.outcome = 'reply';
        if (!frame) return;
        // Never "routed" for a call the switch did not route by one of this request's attempts.
        if (this.oracle.routed(id) === false) this.fail('outcome', `request ${id} resolved (${String((frame as { outcome?: string }).outcome)}) but the switch never routed its call`);
        if ((frame as { outcome?: string }).outcome === 'done-earlier') return;
        const r = frame.attributes.find((a) => a.id === Attr.OtherDN)?.value;
        if (r !== undefined && r !== id) this.fail('reply-matches', `request ${id} resolved with the reply to ${String(r)}`);
      },
      (err: unknown) => {
        t.settledAt = this.now();
        t.outcome = err instanceof TServerHaError ? err.code : `non-typed:${String(err)}`;
        if (!(err instanceof TServerHaError)) this.fail('typed-errors', `request ${id} rejected with ${String(err)}`);
        // Never a failure that misreads the switch: a 1202 answers a repeat of a call routed by an earlier attempt.
        if (err instanceof ServerError && err.errorCode === ErrorCode.CallAlreadyRouted) {
          this.fail('outcome', `request ${id} failed with 1202 (already routed): its own earlier attempt routed the call`);
        }
        // A refusal given as the final answer says nothing ran: then the switch must not have routed it.
        if (err instanceof ServerError && (err.errorCode === ErrorCode.BackupRefused || err.errorCode === ErrorCode.LinkDown) && this.oracle.routed(id) === true) {
          this.fail('outcome', `request ${id} failed with refusal ${err.errorCode} (nothing ran) but the switch routed its call`);
        }
        if (err instanceof RequestTimeoutError && t.settledAt < t.deadline - this.opts.tolMs()) {
          this.fail('deadline', `request ${id} timed out at ${t.settledAt - t.submittedAt} ms, before its ${timeoutMs} ms deadline`);
        }
        if (t.invalid && !(err instanceof ConfigError)) this.fail('deadline', `request ${id} with timeoutMs ${timeoutMs} settled with ${t.outcome}, not ConfigError`);
      },
    );
  }

  /** When the tracked request `id` settled (undefined: not yet, or not tracked). */
  settledAt(id: string): number | undefined {
    return this.byId.get(id)?.settledAt;
  }

  /** Invariants that hold after every step. */
  step(): Violation | null {
    const now = this.now();
    // Once the events of a step are out, the last `active` names where requests go.
    if (this.lastActive !== undefined && this.closedAt === undefined && this.pair.state.open && this.lastActive !== this.pair.state.active) {
      this.fail('claims', `the last active event named ${String(this.lastActive)}, but requests go to ${String(this.pair.state.active)}`);
    }
    for (const t of this.requests) {
      if (t.settledAt === undefined && !t.invalid && now > t.deadline + this.opts.tolMs()) {
        this.fail('settles-by-deadline', `request ${t.id} (deadline ${t.deadline - t.submittedAt} ms) unsettled ${now - t.submittedAt} ms after submission`);
      }
      // A request that may not be repeated is acted on at most once (refusals that prove nothing ran aside).
      const n = this.oracle.executions(t.id);
      if (n > 1 && !t.repeatable) this.fail('at-most-once', `request ${t.id} (repeat: false) was acted on ${n} times`);
    }
    const inner = (this.pair as unknown as Record<symbol, () => Record<string, number>>)[Symbol.for('tserver-ha.internals')]!();
    const bound = this.opts.maxPending;
    const waiting = inner.queue! + inner.requeued! + (inner.parked ?? 0);
    if (waiting > inner.live! || inner.live! > bound) {
      this.fail('bounded', `request book holds ${inner.queue} queued + ${inner.requeued} re-queued + ${inner.parked ?? 0} parked for ${inner.live} unsettled (max ${bound})`);
    }
    if (inner.pendingPrimary! > inner.live! + inner.addressCalls! + 64 || inner.pendingBackup! > inner.live! + inner.addressCalls! + 64) {
      this.fail('bounded', `endpoint calls ${inner.pendingPrimary}/${inner.pendingBackup} exceed the requests they serve (${inner.live})`);
    }
    if (this.pair.state.queuedRequests !== waiting) this.fail('bounded', 'state.queuedRequests disagrees with the queue');
    return this.violation;
  }

  /** Call once the pair is closed (and the iterator ended): the checks that need the whole history. */
  async finish(): Promise<Violation | null> {
    await this.iterating;
    this.checkLosses();
    this.compareIterator();
    return this.violation;
  }

  /** Switch number minus sequence number in `epoch`, learned from its delivered events (undefined: none yet). */
  learnedBase(epoch: string): number | undefined {
    return this.epochBases.get(epoch);
  }

  markClosed(): void {
    this.closedAt ??= this.stream.length;
  }

  private onEvent(e: TEvent): void {
    this.stream.push({ type: 'event', data: e });
    if (this.closedAt !== undefined) this.fail('nothing-after-close', `event ${e.seq} delivered after close()`);
    const ref = e.message.attributes.find((a) => a.id === Attr.ReferenceID)?.value;
    if (typeof ref === 'number' && ref > 0) this.fail('no-reply-as-event', `${e.Event} with ReferenceID ${ref} (a reply) was emitted as an event`);
    const sw = this.oracle.switchNo(e);
    if (sw === undefined) return;
    if (this.delivered.has(sw)) this.fail('exactly-once', `switch event ${sw} (seq ${e.seq}, epoch ${e.epoch}) delivered twice`);
    this.delivered.set(sw, this.stream.length - 1);
    if (e.seq >= 0) {
      // One epoch is one numbering: the same offset from the switch's numbers for every event in it.
      const base = sw - e.seq;
      const known = this.epochBases.get(e.epoch);
      if (known === undefined) this.epochBases.set(e.epoch, base);
      else if (known !== base) this.fail('one-numbering-per-epoch', `epoch '${e.epoch}' mixes numberings: seq ${e.seq} is switch event ${sw} (offset ${base}, earlier ${known})`);
      if (e.epoch === this.lastEpoch && e.seq <= this.lastSeq) this.fail('in-order', `seq ${e.seq} after ${this.lastSeq} in epoch '${e.epoch}'`);
      this.lastEpoch = e.epoch;
      this.lastSeq = e.seq;
    }
  }

  private onPublic(name: (typeof NAMES)[number], data: unknown): void {
    this.stream.push({ type: name, data } as PairEventRecord);
    const d = data as { source?: 'primary' | 'backup' };
    switch (name) {
      case 'EventServerConnected':
        if (this.connected[d.source!]) this.fail('event-order', `EventServerConnected for ${d.source} twice without a disconnect`);
        this.connected[d.source!] = true;
        break;
      case 'EventServerDisconnected':
        if (!this.connected[d.source!]) this.fail('event-order', `EventServerDisconnected for ${d.source} without a connect`);
        this.connected[d.source!] = false;
        this.link[d.source!] = 'unknown';
        break;
      case 'EventLinkConnected':
      case 'EventLinkDisconnected': {
        const state = name === 'EventLinkConnected' ? 'up' : 'down';
        if (!this.connected[d.source!]) this.fail('event-order', `${name} for ${d.source} while not connected`);
        if (this.link[d.source!] === state) this.fail('event-order', `${name} for ${d.source} repeats its state`);
        this.link[d.source!] = state;
        break;
      }
      case 'gap':
        this.gaps.push({ gap: data as GapEvent, at: this.stream.length - 1 });
        break;
      case 'active': {
        const prev = this.stream[this.stream.length - 2];
        const a = data as { endpoint: string | null };
        if (prev?.type === 'switchover' && (prev.data as { to: string }).to !== a.endpoint) this.fail('event-order', 'switchover not followed by active naming its target');
        this.lastActive = a.endpoint;
        break;
      }
      case 'switchover': {
        // Its times tell a story in order: the report it waited for came before the switch completed.
        const e = data as { from: string; to: string; detectedAt: number; announcedAt: number; completedAt: number };
        if (e.from === e.to) this.fail('claims', `switchover from ${e.from} to itself`);
        if (e.announcedAt > e.completedAt) this.fail('claims', `switchover announced at ${e.announcedAt} ms, after it completed at ${e.completedAt} ms`);
        if (e.detectedAt > e.completedAt) this.fail('claims', `switchover detected at ${e.detectedAt} ms, after it completed at ${e.completedAt} ms`);
        break;
      }
      case 'splitBrain': {
        // What the event says must be what the pair does. A split is reported from a timer of its own (one
        // decision), so the pair's state when the event is emitted is the state the event describes.
        const e = data as SplitBrainEvent;
        const st = this.pair.state;
        if (st.active !== null && e.keeping !== st.active) this.fail('claims', `splitBrain says keeping ${e.keeping}, but requests go to ${st.active}`);
        if (e.ignoring === e.keeping) this.fail('claims', `splitBrain keeps and ignores ${e.keeping}`);
        if (e.eventsFrom !== st.source) this.fail('claims', `splitBrain says events come from ${String(e.eventsFrom)}, but the source is ${String(st.source)}`);
        break;
      }
    }
  }

  /**
   * Every expected event is delivered, or lies inside a gap reported before the first later event
   * delivered. Events after the last delivery are not judged (nothing later overtook them).
   */
  private checkLosses(): void {
    const expected = this.oracle.expected();
    const deliveredSw = [...this.delivered.keys()].sort((a, b) => a - b);
    if (deliveredSw.length === 0) return;
    // Positions in the stream of the first delivery after each switch number (suffix minimum).
    const firstLater = new Map<number, number>();
    let minAt = Infinity;
    for (let i = deliveredSw.length - 1; i >= 0; i--) {
      const at = this.delivered.get(deliveredSw[i]!)!;
      if (at < minAt) minAt = at;
      firstLater.set(deliveredSw[i]!, minAt);
    }
    let unmapped = false;
    const gaps = this.gaps.flatMap((g) => {
      const span = this.oracle.gapSpan(g.gap);
      if (!span) unmapped = true;
      return span ? [{ span, at: g.at }] : [];
    });
    const firstSw = deliveredSw[0]!;
    let j = 0;
    for (const sw of expected) {
      if (sw <= firstSw || this.delivered.has(sw)) continue;
      while (j < deliveredSw.length && deliveredSw[j]! <= sw) j++;
      if (j >= deliveredSw.length) break; // nothing later was delivered
      const overtakenAt = firstLater.get(deliveredSw[j]!)!;
      const covered = gaps.some((g) => g.at < overtakenAt && sw >= g.span[0] && sw <= g.span[1]);
      if (!covered) {
        // A gap in a numbering the client named itself (an in-place restart it saw), with nothing delivered
        // in it, cannot be placed on the switch's numbers: such a history is not judged for losses.
        if (unmapped) {
          this.lossUnjudged = true;
          return;
        }
        this.fail('no-silent-loss', `switch event ${sw} was never delivered and no gap reported before event ${deliveredSw[j]} covers it`);
        return;
      }
    }
  }

  private compareIterator(): void {
    const a = this.stream;
    const b = this.iterated;
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) {
      if (a[i]!.type !== b[i]!.type || a[i]!.data !== b[i]!.data) {
        this.fail('same-stream', `events() differs from the listeners at #${i}: ${b[i]!.type} vs ${a[i]!.type}`);
        return;
      }
    }
    if (a.length !== b.length) this.fail('same-stream', `events() yielded ${b.length} events, the listeners saw ${a.length}`);
  }
}
