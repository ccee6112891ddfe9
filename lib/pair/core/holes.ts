/**
 * The ranges of sequence numbers one connection's stream cannot contain because its server's CTI link was
 * down: from the link-down report's position + 1 to the link-up report's position (docs/protocol.md,
 * "Link reports"). Kept sorted and bounded; when the bound is reached the two oldest ranges merge into one
 * that covers both — reporting too much as possibly lost is safe, forgetting a range is not.
 */
export class Holes {
  private from: number[] = [];
  private to: number[] = [];

  constructor(private readonly max: number) {}

  get size(): number {
    return this.from.length;
  }

  /** Lowest sequence number of the first range, or +Infinity when there is none (one compare per event). */
  get firstFrom(): number {
    return this.from.length > 0 ? this.from[0]! : Infinity;
  }

  /** The link went down after position `seq` (the last number the server had): an open range begins. */
  open(fromSeq: number): void {
    const n = this.from.length;
    // A second "down" without an "up" between them extends nothing: the open range already covers it.
    if (n > 0 && this.to[n - 1] === Infinity) return;
    if (n > 0 && fromSeq <= this.to[n - 1]! + 1) {
      this.to[n - 1] = Infinity;
      return;
    }
    this.from.push(fromSeq);
    this.to.push(Infinity);
    if (this.from.length > this.max) this.mergeOldest();
  }

  /** The link came back: the open range ends at `toSeq` (the switch's position then); -1: unknown yet. */
  close(toSeq: number): void {
    const n = this.from.length;
    if (n === 0 || this.to[n - 1] !== Infinity) return;
    if (toSeq < 0) return; // no position: the range stays open until an event or a release bounds it
    if (toSeq < this.from[n - 1]!) {
      this.from.pop();
      this.to.pop();
      return;
    }
    this.to[n - 1] = toSeq;
  }

  /** Bound an open range at `toSeq` (its end was never reported): everything up to it may be missing. */
  bound(toSeq: number): void {
    const n = this.from.length;
    if (n > 0 && this.to[n - 1] === Infinity && toSeq >= this.from[n - 1]!) this.to[n - 1] = toSeq;
  }

  /** Whether the last range is still open (link down, or up with no position yet). */
  get openEnded(): boolean {
    const n = this.from.length;
    return n > 0 && this.to[n - 1] === Infinity;
  }

  /**
   * Remove every range below `seq` and return the part of them above `after` as one range [from, to]
   * in `out` (ranges below an event are reported together, before it); false when none lies above `after`.
   */
  takeBelow(seq: number, after: number, out: { fromSeq: number; toSeq: number }): boolean {
    let k = 0;
    while (k < this.from.length && this.from[k]! < seq) {
      this.include(k, after, seq - 1);
      if (this.to[k]! >= seq) {
        if (this.to[k] !== Infinity && this.to[k]! > seq) {
          // A reported range the event falls inside (positions disagree): keep the part above it.
          this.from[k] = seq + 1;
        } else {
          // An open range (link still down, or its end never reported): the event proves the stream
          // resumed, so the range ends before it.
          k++;
        }
        break;
      }
      k++;
    }
    return this.take(k, out);
  }

  /** Remove every range that ends at or below `seq` (already covered by what was delivered or reported). */
  dropUpTo(seq: number): void {
    let k = 0;
    while (k < this.from.length && this.to[k]! <= seq) k++;
    if (k > 0) {
      this.from.splice(0, k);
      this.to.splice(0, k);
    }
    if (this.from.length > 0 && this.from[0]! <= seq) this.from[0] = seq + 1;
  }

  /**
   * The closed ranges above `after`, merged into one, removed (the source's link came back: they will never
   * arrive, so they are reported now rather than at the next event). Open ranges stay.
   */
  takeClosedAbove(after: number, out: { fromSeq: number; toSeq: number }): boolean {
    let k = 0;
    while (k < this.from.length && this.to[k] !== Infinity) this.include(k++, after, Infinity);
    return this.take(k, out);
  }

  // The union being taken (scratch: no allocation per event).
  private lo = Infinity;
  private hi = -Infinity;

  /** Add the part of range k above `after` and at or below `limit` to the union being taken. */
  private include(k: number, after: number, limit: number): void {
    const f = Math.max(this.from[k]!, after + 1);
    const t = Math.min(this.to[k]!, limit);
    if (f > t) return;
    if (f < this.lo) this.lo = f;
    if (t > this.hi) this.hi = t;
  }

  /** Drop the first `k` ranges and hand out the union collected from them (false: it was empty). */
  private take(k: number, out: { fromSeq: number; toSeq: number }): boolean {
    if (k > 0) {
      this.from.splice(0, k);
      this.to.splice(0, k);
    }
    const found = this.lo <= this.hi;
    if (found) {
      out.fromSeq = this.lo;
      out.toSeq = this.hi;
    }
    this.lo = Infinity;
    this.hi = -Infinity;
    return found;
  }

  clear(): void {
    this.from.length = 0;
    this.to.length = 0;
  }

  /** The ranges, for `pair.state` and tests. */
  toJSON(): [number, number | null][] {
    return this.from.map((f, i) => [f, this.to[i] === Infinity ? null : this.to[i]!]);
  }

  private mergeOldest(): void {
    this.to[0] = this.to[1]!;
    this.from.splice(1, 1);
    this.to.splice(1, 1);
  }
}
