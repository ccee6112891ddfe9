/**
 * The decision core's inputs and effects in a readable shorthand, for scenario files (test/core/scenarios):
 * what a reader checks by eye is one line per effect, e.g. `gap backup switchover E:11..20`.
 */
import { OPEN_END, type Effect, type Input, type OpenedFacts, type ReleaseFacts } from '../../lib/pair/core/types.js';

export function renderEffect(fx: Effect): string {
  switch (fx.kind) {
    case 'hold':
      return `hold ${fx.ep}`;
    case 'release':
      return `release ${fx.ep}#${fx.gen} after ${fx.afterSeq}`;
    case 'admitWindow':
      return `admitWindow ${fx.ep}#${fx.gen} ${fx.deliver ? 'deliver' : 'discard'}`;
    case 'admitHeld':
      return `admitHeld ${fx.ep}#${fx.gen}`;
    case 'discardHeld':
      return 'discardHeld';
    case 'drop':
      return `drop ${fx.ep} ${fx.reason}`;
    case 'gap': {
      const g = fx.gap;
      return `gap ${g.source} ${g.reason} ${g.epoch}:${g.fromSeq}..${g.toSeq >= OPEN_END ? 'end' : g.toSeq}`;
    }
    case 'switchover': {
      const e = fx.event;
      const gap = e.gap ? ` gap ${e.gap.epoch}:${e.gap.fromSeq}..${e.gap.toSeq >= OPEN_END ? 'end' : e.gap.toSeq}` : '';
      return `switchover ${e.from}->${e.to} ${e.reason} detected ${e.detectedAt} announced ${e.announcedAt} replayed ${e.replayed}${gap}`;
    }
    case 'active':
      return `active ${fx.event.endpoint ?? 'none'}`;
    case 'splitBrain':
      return `splitBrain keeping ${fx.event.keeping} ignoring ${fx.event.ignoring} eventsFrom ${fx.event.eventsFrom ?? 'none'}`;
    case 'dispatch':
      return `dispatch ${fx.ep}`;
    case 'ready':
      return 'ready';
    case 'timer':
      return `timer ${fx.at ?? 'none'}`;
  }
}

/** A scenario step's input, with defaults so files say only what matters. */
export interface StepSpec {
  /** Monotonic ms of this step (inputs carry it). */
  at: number;
  /** One core input, in shorthand: `opened`, `lost`, … with the fields that matter; or `admit`. */
  input: Record<string, unknown> & { kind: string };
  /** Effects expected, in order, rendered (exact match). */
  effects?: string[];
  /** For `admit`: `deliver` or `duplicate`. */
  verdict?: 'deliver' | 'duplicate';
  /** State paths expected after the step, e.g. `{ "delivery.phase": "live" }`. */
  state?: Record<string, unknown>;
}

export function toInput(spec: StepSpec): Input {
  const i = spec.input;
  const at = spec.at;
  switch (i.kind) {
    case 'opened': {
      const f = (i.facts ?? {}) as Partial<OpenedFacts>;
      const facts: OpenedFacts = {
        role: f.role ?? 'primary', link: f.link ?? 'up', epoch: 'epoch' in f ? f.epoch : 'E', serverSeq: f.serverSeq ?? 10,
        registeredSeq: f.registeredSeq ?? f.serverSeq ?? 10, linkReports: f.linkReports ?? [], at,
      };
      return { kind: 'opened', ep: i.ep as never, gen: i.gen as number, facts };
    }
    case 'lost':
      return { kind: 'lost', ep: i.ep as never, gen: i.gen as number, reason: (i.reason ?? 'crash') as never, at };
    case 'role':
      return { kind: 'role', ep: i.ep as never, gen: i.gen as number, role: i.role as never, at, readAt: at };
    case 'link':
      return { kind: 'link', ep: i.ep as never, gen: i.gen as number, up: i.up as boolean, seq: (i.seq ?? -1) as number, at, readAt: at };
    case 'released': {
      const f = (i.facts ?? {}) as Partial<ReleaseFacts>;
      const facts: ReleaseFacts = { evictedUpTo: f.evictedUpTo ?? -1, firstSeenSeq: f.firstSeenSeq ?? -1, seqDecreased: f.seqDecreased ?? false, lastSeenSeq: f.lastSeenSeq ?? -1, lastTimeUs: f.lastTimeUs ?? -1 };
      return { kind: 'released', ep: i.ep as never, gen: i.gen as number, facts, at };
    }
    case 'releaseFailed':
      return { kind: 'releaseFailed', ep: i.ep as never, gen: i.gen as number, at };
    case 'windowAdmitted':
      return { kind: 'windowAdmitted', ep: i.ep as never, gen: i.gen as number, replayed: (i.replayed ?? 0) as number, at };
    case 'heldAdmitted':
      return { kind: 'heldAdmitted', ep: i.ep as never, gen: i.gen as number, at };
    case 'tick':
    case 'manual':
    case 'close':
      return { kind: i.kind, at } as Input;
    default:
      throw new Error(`unknown input kind ${i.kind}`);
  }
}
