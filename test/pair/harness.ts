import { startSimulation, compareWithOracle, type Simulation, type SimulationOptions } from '../../lib/sim/index.js';
import { TServerPair } from '../../lib/pair/pair.js';
import type { TServerPairOptions } from '../../lib/config.js';
import type { PairEventRecord } from '../../lib/pair/events.js';

/** A simulation plus a pair connected to it, recording everything the pair emitted. */
export interface Rig {
  sim: Simulation;
  pair: TServerPair;
  /** Every public event, in emission order (event payloads reduced to their seq). */
  log: PairEventRecord[];
  /** Sequence numbers delivered through `event`, in order. */
  seqs: number[];
  /** Names of the non-`event` events, in order, with their source where they have one. */
  timeline(): string[];
  /** Lost/duplicated events against the switch's oracle, for the pair's DNs. */
  check(range?: { afterSeq?: number; upToSeq?: number }): ReturnType<typeof compareWithOracle>;
  stop(): Promise<void>;
}

export async function rig(simOpts: SimulationOptions, pairOpts: Partial<TServerPairOptions> = {}): Promise<Rig> {
  const sim = await startSimulation(simOpts);
  const dns = [...sim.routePoints, ...sim.agents];
  const pair = new TServerPair({
    name: 'TestPair',
    primary: { host: sim.primary.host, port: sim.primary.port },
    backup: { host: sim.backup.host, port: sim.backup.port },
    mode: simOpts.mode ?? 'hot',
    dns,
    ...pairOpts,
  });
  const log: PairEventRecord[] = [];
  const seqs: number[] = [];
  // Synchronous listeners (not pair.events()): the log must be current the moment pair.state changes.
  const names = ['EventServerConnected', 'EventServerDisconnected', 'EventLinkConnected', 'EventLinkDisconnected', 'switchover', 'active', 'gap', 'splitBrain'] as const;
  for (const name of names) {
    (pair.on as (n: string, l: (d: unknown) => void) => void)(name, (data) => log.push({ type: name, data } as PairEventRecord));
  }
  pair.on('event', (e) => {
    if (e.seq >= 0) seqs.push(e.seq);
  });
  pair.on('error', () => {});
  return {
    sim,
    pair,
    log,
    seqs,
    timeline: () =>
      log.map((r) => {
        const d = r.data as { source?: string; to?: string; endpoint?: string | null };
        const who = d.source ?? d.to ?? (r.type === 'active' ? String(d.endpoint) : undefined);
        return who ? `${r.type}:${who}` : r.type;
      }),
    check: (range) => compareWithOracle(sim.oracle(), seqs, dns, range),
    stop: async () => {
      await pair.close();
      await sim.stop();
    },
  };
}

/** Resolve when `pred` is true (polled), or reject after `ms`. */
export async function until(pred: () => boolean, ms = 10_000, what: string | (() => string) = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${typeof what === 'function' ? what() : what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
