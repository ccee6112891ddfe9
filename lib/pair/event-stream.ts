import type { EventEmitter } from 'node:events';
import { TServerHaError } from '../base-error.js';
import type { PairEventRecord } from './events.js';

/**
 * An `events()` iterator fell more than `maxBuffered` events behind (`ERR_EVENTS_OVERFLOW`): it ends with
 * this error instead of buffering without bound. Other listeners and iterators are not affected.
 */
export class EventsOverflowError extends TServerHaError {
  override name = 'EventsOverflowError';
  constructor(readonly maxBuffered: number) {
    super('ERR_EVENTS_OVERFLOW', `an events() consumer fell ${maxBuffered} events behind; it was ended so that memory stays bounded`);
  }
}

/** Default bound of one `events()` iterator's backlog. */
export const DEFAULT_MAX_BUFFERED = 10_000;

/**
 * Every event emitted to `key` (name, payload), in order, until `signal` aborts (events already buffered
 * are yielded first). A consumer that falls `maxBuffered` events behind gets {@link EventsOverflowError}:
 * the switch cannot be paused, so the alternative would be unbounded memory or silent loss.
 */
export async function* eventStream(emitter: EventEmitter, key: symbol, signal: AbortSignal, maxBuffered: number): AsyncGenerator<PairEventRecord> {
  const buf: (PairEventRecord | undefined)[] = [];
  let head = 0;
  let failure: EventsOverflowError | undefined;
  let wake: (() => void) | undefined;
  const onEvent = (type: string, data: unknown) => {
    if (failure) return;
    if (buf.length - head >= maxBuffered) {
      failure = new EventsOverflowError(maxBuffered);
      emitter.off(key, onEvent);
    } else {
      buf.push({ type, data } as PairEventRecord);
    }
    wake?.();
  };
  const onAbort = () => wake?.();
  emitter.on(key, onEvent);
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    for (;;) {
      if (head < buf.length) {
        const r = buf[head]!;
        buf[head++] = undefined;
        if (head === buf.length) {
          buf.length = 0;
          head = 0;
        } else if (head >= 1024 && head * 2 >= buf.length) {
          buf.splice(0, head);
          head = 0;
        }
        yield r;
        continue;
      }
      if (failure) throw failure;
      if (signal.aborted) return;
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
  } finally {
    emitter.off(key, onEvent);
    signal.removeEventListener('abort', onAbort);
  }
}
