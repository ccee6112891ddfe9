/** Bounded, abortable waits for the bench (every wait has a deadline; Ctrl-C aborts them all). */
import { monotonicMs } from '../../clock.js';

/** Thrown when the bench is interrupted (Ctrl-C). */
export class Interrupted extends Error {
  override name = 'Interrupted';
  constructor() {
    super('interrupted');
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new Interrupted());
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', abort);
    };
    const abort = () => {
      done();
      reject(new Interrupted());
    };
    const t = setTimeout(() => {
      done();
      resolve();
    }, ms);
    signal?.addEventListener('abort', abort, { once: true });
  });
}

/** Poll `pred` every `everyMs` until true; throws after `ms` (naming `what`) or on abort. */
export async function until(pred: () => boolean, ms: number, what: () => string, signal?: AbortSignal, everyMs = 2): Promise<void> {
  const end = monotonicMs() + ms;
  while (!pred()) {
    if (monotonicMs() > end) throw new Error(`timed out after ${ms} ms waiting for ${what()}`);
    await sleep(everyMs, signal);
  }
}

/** `p`, or a rejection after `ms` / on abort. */
export async function bounded<T>(p: Promise<T>, ms: number, what: string, signal?: AbortSignal): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
        if (signal) {
          onAbort = () => reject(new Interrupted());
          if (signal.aborted) onAbort();
          else signal.addEventListener('abort', onAbort, { once: true });
        }
      }),
    ]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}

/** A small seeded PRNG (mulberry32): the bench's own choices are reproducible with --seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
