/**
 * Both servers saying primary for an instant is normal during a switchover (the new one is promoted
 * before the old one hears it is demoted). Split brain is reported only if it lasts `graceMs`; delivery
 * never depends on it — the pair keeps its current source either way (selection is sticky).
 */
export class SplitBrainWatch {
  private reported = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly graceMs: number,
    /** Re-checks the condition when the grace ends, and reports it if it still holds. */
    private readonly confirm: () => boolean,
    private readonly report: () => void,
  ) {}

  /** Feed the current condition after every change. */
  update(split: boolean): void {
    if (!split) {
      this.stop();
      this.reported = false;
      return;
    }
    if (this.reported || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.confirm()) return;
      this.reported = true;
      this.report();
    }, this.graceMs);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
