import type { EventEmitter } from 'node:events';

/**
 * Emits a pair's public events strictly one after another, in the order they were decided. A listener that
 * calls back into the pair (close(), request()) cannot make events nest or overtake each other; a
 * listener that throws does not corrupt the pair's state — its error is rethrown on a fresh stack, as an
 * uncaught exception from any other callback would be.
 */
export class Outbox {
  private readonly items: [string | symbol, unknown][] = [];
  private head = 0;
  private draining = false;

  constructor(private readonly target: EventEmitter, private readonly all: symbol) {}

  push(name: string, payload: unknown): void {
    this.items.push([name, payload]);
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.head < this.items.length) {
        const [n, p] = this.items[this.head++]!;
        try {
          if (n !== 'error' || this.target.listenerCount('error') > 0) this.target.emit(n, p);
          this.target.emit(this.all, n, p);
        } catch (err) {
          queueMicrotask(() => {
            throw err;
          });
        }
      }
    } finally {
      this.items.length = 0;
      this.head = 0;
      this.draining = false;
    }
  }
}
