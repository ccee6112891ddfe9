/**
 * Waiting on a pair's public events: the next one that passes a test, and "both servers connected" after
 * open(). Deadlines here are failure guards, never budgets (see wait.ts).
 */
import type { TServerPair } from '../../lib/pair/pair.js';
import type { EventServerConnected } from '../../lib/pair/events.js';

/** Resolves with the next event `name` of `p` that passes `pred`; rejects after `guardMs` (a failure guard, not a budget). */
export function nextEvent<T>(p: TServerPair, name: string, pred: (e: T) => boolean, guardMs: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const on = p.on.bind(p) as (n: string, l: (e: T) => void) => void;
    const off = p.off.bind(p) as (n: string, l: (e: T) => void) => void;
    const timer = setTimeout(() => {
      off(name, l);
      reject(new Error(`no ${what} within ${guardMs} ms`));
    }, guardMs);
    const l = (e: T) => {
      if (!pred(e)) return;
      clearTimeout(timer);
      off(name, l);
      resolve(e);
    };
    on(name, l);
  });
}

/** open() the pair and resolve once both of its servers are connected (watched from before open()). */
export async function openBothConnected(p: TServerPair, guardMs = 60_000): Promise<void> {
  const both = () => p.state.endpoints.primary.server === 'open' && p.state.endpoints.backup.server === 'open';
  const connected = nextEvent<EventServerConnected>(p, 'EventServerConnected', both, guardMs, 'both servers connected');
  await p.open();
  if (!both()) await connected;
  else void connected.catch(() => {});
}
