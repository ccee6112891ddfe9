/**
 * Shared by the defect regression tests (defects-*.test.ts): a recorder of everything a pair emitted, in
 * emission order, and the oracle checks built on it. Events and gaps are mapped to switch seqs through the
 * simulator's numberings, so the checks hold across a server's sequence reset.
 */
import type { TServerPair } from '../../lib/pair/pair.js';
import type { GapEvent, TEvent } from '../../lib/pair/events.js';
import type { Simulation } from '../../lib/sim/index.js';

/** `toSeq` of a gap with no known end (OPEN_END in lib/pair/events.ts). */
const OPEN_END = Number.MAX_SAFE_INTEGER;

export type Rec =
  | { kind: 'event'; epoch: string | undefined; seq: number; source: string; ref: boolean; at: number }
  | { kind: 'gap'; gap: GapEvent; at: number }
  | { kind: 'other'; name: string; data: unknown; at: number };

const NAMES = ['EventServerConnected', 'EventServerDisconnected', 'EventLinkConnected', 'EventLinkDisconnected', 'switchover', 'active', 'splitBrain'] as const;

/** Everything `pair` emits from now on, in emission order (synchronous listeners). */
export class Recorder {
  readonly log: Rec[] = [];
  constructor(pair: TServerPair) {
    pair.on('event', (e: TEvent) => {
      this.log.push({
        kind: 'event',
        // TEvent.epoch: the numbering of `seq`. (Code before numbering epochs has none: one numbering.)
        epoch: (e as { epoch?: string }).epoch,
        seq: e.seq,
        source: e.source,
        ref: e.message.attributes.some((a) => a.id === 2),
        at: Date.now(),
      });
    });
    pair.on('gap', (g) => this.log.push({ kind: 'gap', gap: g, at: Date.now() }));
    for (const name of NAMES) (pair.on as (n: string, l: (d: unknown) => void) => void)(name, (data) => this.log.push({ kind: 'other', name, data, at: Date.now() }));
  }

  get events(): Extract<Rec, { kind: 'event' }>[] {
    return this.log.filter((r): r is Extract<Rec, { kind: 'event' }> => r.kind === 'event');
  }

  get gaps(): GapEvent[] {
    return this.log.filter((r): r is Extract<Rec, { kind: 'gap' }> => r.kind === 'gap').map((r) => r.gap);
  }

  /** Index in `log` of the first `other` record named `name` (with `source`, when given) at or after `from`. */
  indexOf(name: string, from = 0, source?: string): number {
    for (let i = from; i < this.log.length; i++) {
      const r = this.log[i]!;
      if (r.kind === 'other' && r.name === name && (source === undefined || (r.data as { source?: string }).source === source)) return i;
    }
    return -1;
  }

  /** Sequence-numbered events recorded at or after log index `from`. */
  eventsFrom(from: number): number {
    let n = 0;
    for (let i = from; i < this.log.length; i++) {
      const r = this.log[i]!;
      if (r.kind === 'event' && r.seq >= 0) n++;
    }
    return n;
  }

  /** A one-line account of the non-event records, for failure messages. */
  timeline(from = 0): string {
    return this.log
      .slice(from)
      .filter((r) => r.kind !== 'event')
      .map((r) => (r.kind === 'gap' ? `gap(${r.gap.reason} ${r.gap.epoch} ${r.gap.fromSeq}..${r.gap.toSeq === OPEN_END ? 'end' : r.gap.toSeq})` : `${r.name}:${(r.data as { source?: string; endpoint?: string | null; to?: string }).source ?? (r.data as { to?: string }).to ?? String((r.data as { endpoint?: string | null }).endpoint)}`))
      .join(' ');
  }
}

/** Switch seq of `seq` in numbering `epoch`; an event without an epoch (pre-epoch code) is in the switch's own. */
export function switchSeq(sim: Simulation, epoch: string | undefined, seq: number): number {
  return epoch === undefined ? seq : sim.toSwitchSeq(epoch, seq);
}

/** The switch seqs a gap covers (inclusive; Infinity for an open end), or undefined when it cannot be mapped. */
export function gapSpan(sim: Simulation, g: GapEvent): [number, number] | undefined {
  const epoch = (g as { epoch?: string }).epoch;
  try {
    return [switchSeq(sim, epoch, g.fromSeq), g.toSeq >= OPEN_END ? Infinity : switchSeq(sim, epoch, g.toSeq)];
  } catch {
    return undefined;
  }
}

export interface DeliveryCheck {
  /** Switch events for the DNs in (after, upTo]. */
  expected: number;
  delivered: number;
  /** Switch seqs delivered more than once. */
  duplicated: number[];
  /** Switch seqs delivered after a higher one. */
  outOfOrder: number[];
  /** Expected seqs never delivered. */
  lost: number;
  /** Lost seqs that no gap covered before the first later event was delivered. */
  uncovered: number[];
}

/**
 * Compare what `rec` delivered with the switch's log for `dns` in switch seqs (after, upTo]: every event
 * delivered once, in order, or inside a gap that was reported before any later event was delivered.
 */
export function checkDelivery(sim: Simulation, rec: Recorder, dns: readonly string[], after: number, upTo: number): DeliveryCheck {
  const want = new Set(dns);
  const expected = sim.oracle().events.filter((e) => e.seq > after && e.seq <= upTo && want.has(e.thisDN)).map((e) => e.seq);
  // Every delivered event and gap in emission order, in switch seqs.
  const seen = new Map<number, number>();
  const duplicated: number[] = [];
  const outOfOrder: number[] = [];
  const firstAbove: { sw: number; idx: number }[] = []; // delivered (sw, log index), in order
  const gaps: { span: [number, number]; idx: number }[] = [];
  let max = -Infinity;
  rec.log.forEach((r, idx) => {
    if (r.kind === 'gap') {
      const span = gapSpan(sim, r.gap);
      if (span) gaps.push({ span, idx });
      return;
    }
    if (r.kind !== 'event' || r.seq < 0) return;
    const sw = switchSeq(sim, r.epoch, r.seq);
    if (sw <= after || sw > upTo) return;
    if (seen.has(sw)) duplicated.push(sw);
    else seen.set(sw, idx);
    if (sw < max) outOfOrder.push(sw);
    max = Math.max(max, sw);
    firstAbove.push({ sw, idx });
  });
  const uncovered: number[] = [];
  let lost = 0;
  for (const s of expected) {
    if (seen.has(s)) continue;
    lost++;
    // The gap must come before the first delivered event with a higher switch seq.
    const later = firstAbove.find((d) => d.sw > s)?.idx ?? Infinity;
    if (!gaps.some((g) => g.idx < later && s >= g.span[0] && s <= g.span[1])) uncovered.push(s);
  }
  return { expected: expected.length, delivered: seen.size, duplicated, outOfOrder, lost, uncovered };
}

/** The highest switch seq delivered so far, or -1. */
export function lastDelivered(sim: Simulation, rec: Recorder): number {
  const ev = rec.events;
  for (let i = ev.length - 1; i >= 0; i--) {
    const r = ev[i]!;
    if (r.seq >= 0) {
      try {
        return switchSeq(sim, r.epoch, r.seq);
      } catch {
        return -1;
      }
    }
  }
  return -1;
}

/** What a promise did within `ms`: its value, its error, or 'unsettled'. */
export async function within<T>(p: Promise<T>, ms: number): Promise<{ value: T } | { error: unknown } | 'unsettled'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'unsettled'>((r) => (timer = setTimeout(() => r('unsettled'), ms)));
  try {
    return await Promise.race([p.then((value) => ({ value }), (error: unknown) => ({ error })), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** A {@link within} result as one value for `expect`: the error, `{ resolved: value }`, or 'unsettled'. */
export function outcome<T>(r: { value: T } | { error: unknown } | 'unsettled'): unknown {
  return r === 'unsettled' ? 'unsettled' : 'error' in r ? r.error : { resolved: r.value };
}

/** Poll `pred` every 10 ms for up to `ms`; returns whether it became true (for assertions with a message). */
export async function eventually(pred: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}
