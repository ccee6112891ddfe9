/**
 * The one rule about EventSequenceNumber order (docs/protocol.md, "Sequence numbers"): on one connection a
 * server's numbers only go up, so a number at or below the one before it means its numbering went back —
 * an in-place restart or a wrap — and from there nothing compares with the numbers before. Used by the hold
 * windows (hold-window.ts) and the decision core's admission (core/admit.ts); the addon applies the same
 * comparison on its I/O thread (native/addon/io_conn.cc, `seqDecreased_`).
 */

/** A frame numbered `seq` arrived after one numbered `prev` (-1: none yet): did the numbering go back? */
export function wentBack(prev: number, seq: number): boolean {
  return prev >= 0 && seq >= 0 && seq <= prev;
}

