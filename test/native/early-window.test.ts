/**
 * The native transport's early window: events that arrived before the thread's window took over (a race
 * between `hold()` on an open connection and blocks already on their way) are held in JS in a HoldWindow,
 * and a release puts them in front of the thread's window (`concatReleases`). The race itself is rare (it
 * made the conformance eviction test fail once on a loaded CI machine: firstSeenSeq came from the kept
 * frames, not from every frame that entered); the merge is tested here directly.
 */
import { describe, expect, it } from 'vitest';
import { NodeFrameBatch } from '../../lib/transport/frame-batch.js';
import { HoldWindow, concatReleases } from '../../lib/transport/hold-window.js';
import type { ReleaseResult } from '../../lib/transport/types.js';
import type { MessageFrame } from '../../lib/protocol/types.js';

const frame = { kind: 1, type: 71, attributes: [] } as unknown as MessageFrame;

/** The early part: a window fed `seqs` in order, bounded by `max` frames, drained whole. */
function early(seqs: number[], max: number): ReleaseResult {
  const w = new HoldWindow<MessageFrame>({ maxFrames: max, maxBytes: 1 << 20 });
  for (const s of seqs) w.push(frame, s, 100);
  return w.drain(-1, 1, (f) => f);
}

/** The thread's part, released with afterSeq -1. */
const thread = (seqs: number[], extra: Partial<ReleaseResult> = {}): ReleaseResult => ({
  batch: new NodeFrameBatch(seqs.map(() => frame), 2, seqs), evictedUpTo: -1, firstSeenSeq: seqs.length ? Math.min(...seqs) : -1,
  lastSeenSeq: seqs.length ? seqs[seqs.length - 1]! : -1, seqDecreased: false, ...extra,
});
const seqsOf = (r: ReleaseResult) => Array.from({ length: r.batch.count }, (_, i) => r.batch.seq(i));

describe('native early window merged into a release', () => {
  it('every frame that entered counts: the lowest seen and the evictions survive eviction', () => {
    const r = concatReleases(early([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], 5), thread([]), 0);
    expect(seqsOf(r)).toEqual([8, 9, 10, 11, 12]);
    expect(r.evictedUpTo).toBe(7);
    expect(r.firstSeenSeq).toBe(1);
    expect(r.lastSeenSeq).toBe(12);
    expect(r.seqDecreased).toBe(false);
  });

  it('early frames go in front of the thread window, both filtered by afterSeq', () => {
    const r = concatReleases(early([1, 2, 3], 10), thread([4, 5, 6]), 2);
    expect(seqsOf(r)).toEqual([3, 4, 5, 6]);
    expect(r.firstSeenSeq).toBe(1);
    expect(r.lastSeenSeq).toBe(6);
  });

  it('a numbering that restarted between the early frames and the thread window returns everything, flagged', () => {
    const r = concatReleases(early([7, 8, 9], 10), thread([1, 2]), 9);
    expect(seqsOf(r)).toEqual([7, 8, 9, 1, 2]);
    expect(r.seqDecreased).toBe(true);
    expect(r.lastSeenSeq).toBe(2);
  });

  it('a restart among early frames that were since evicted still counts', () => {
    const r = concatReleases(early([5, 6, 1, 2, 3, 4], 3), thread([]), 3);
    expect(r.seqDecreased).toBe(true);
    expect(seqsOf(r)).toEqual([2, 3, 4]);
  });
});
