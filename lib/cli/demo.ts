/**
 * `tserver-ha demo`: the main job on the built-in simulator. A routing application on a TServerPair routes
 * every call while the primary fails; the demo prints the pair's normalized events as they happen and
 * then checks what the application saw against the switch's own log.
 */
import { monotonicMs } from '../clock.js';
import { TServerHaError } from '../errors.js';
import { TServerPair } from '../pair/pair.js';
import type { GapEvent, PairEventRecord, TEvent } from '../pair/events.js';
import { Attr, MessageType } from '../protocol/ids.js';
import { compareWithOracle, startSimulation, type Fault } from '../sim/index.js';
import { isTransportAvailable } from '../transport/index.js';
import { UsageError, intArg, parseCommandArgs, type Command } from './command.js';

const usage = `usage: tserver-ha demo [options]

Starts the simulator (a switch and a primary/backup T-Server pair, real processes on loopback), connects a
TServerPair, routes every EventRouteRequest with RequestRouteCall, injects a fault at the primary, and
prints the normalized events and a verdict against the switch's own log.

options:
  --mode hot|warm|both       standby mode(s) to run (default both)
  --transport auto|native|node
                             transport (default auto: native when the addon is built)
  --fault kill|stop|link-down|switchover
                             what happens to the primary (default kill)
  --rate N                   switch events per second (default 2000)
  --seconds N                traffic before and after the fault, each (default 2)
  --json                     one JSON summary per mode instead of text
  -h, --help                 this text

Exit code 0 when nothing was lost outside a reported gap, nothing was duplicated and every request settled.
`;

const FAULTS: Record<string, Fault> = {
  kill: { kind: 'kill', server: 'primary' },
  stop: { kind: 'stop', server: 'primary' },
  'link-down': { kind: 'link-down', server: 'primary' },
  switchover: { kind: 'switchover' },
};

interface Summary {
  mode: 'hot' | 'warm';
  transport: string;
  fault: string;
  detectionMs: number | null;
  switchover: Record<string, unknown> | null;
  readyMs: number | null;
  events: { delivered: number; expected: number; lost: number; lostInGaps: number; duplicated: number; gaps: { fromSeq: number; toSeq: number }[] };
  requests: { sent: number; routed: number; outcomes: Record<string, number>; failed: Record<string, number>; unsettled: number };
  ok: boolean;
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(pred: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new TServerHaError('ERR_DEMO', `timed out waiting for ${what}`);
    await wait(10);
  }
}

function describe(rec: PairEventRecord): string | null {
  const d = rec.data as unknown as Record<string, unknown>;
  switch (rec.type) {
    case 'event':
      return null;
    case 'switchover':
      return `switchover ${String(d.from)} -> ${String(d.to)} (${String(d.reason)}): requests resume ${(Number(d.completedAt) - Number(d.detectedAt)).toFixed(1)} ms after detection; ` +
        `${String(d.replayed)} events replayed from a window${d.gap ? `, gap ${JSON.stringify(d.gap)}` : ''}`;
    case 'active':
      return d.endpoint ? `active: requests go to ${String(d.endpoint)}` : 'active: none (requests queue)';
    case 'gap':
      return `gap: events ${String(d.fromSeq)}..${String(d.toSeq)} of our DNs may be lost`;
    case 'EventServerDisconnected':
      return `EventServerDisconnected ${String(d.source)} (${String(d.reason)})`;
    case 'splitBrain':
      return `splitBrain: keeping ${String(d.keeping)}`;
    case 'error':
      return `error: ${String((rec.data as Error).message)}`;
    default:
      return `${rec.type} ${String(d.source)}${d.role ? ` (role ${String(d.role)})` : ''}`;
  }
}

async function runMode(mode: 'hot' | 'warm', transport: 'auto' | 'native' | 'node', faultName: string, rate: number, seconds: number, json: boolean): Promise<Summary> {
  const say = (s: string) => {
    if (!json) process.stdout.write(s + '\n');
  };
  const sim = await startSimulation({ mode, rate, promotionDelayMs: 300 });
  const dns = [...sim.routePoints, ...sim.agents];
  const pair = new TServerPair({
    name: 'DemoPair',
    primary: { host: sim.primary.host, port: sim.primary.port },
    backup: { host: sim.backup.host, port: sim.backup.port },
    mode,
    transport,
    dns,
    addp: { timeoutMs: 300 },
    requestTimeoutMs: 1500,
  });
  const kind = transport === 'auto' ? (isTransportAvailable('native') ? 'native' : 'node') : transport;
  const seqs: number[] = [];
  const gaps: GapEvent[] = [];
  let t0 = monotonicMs();
  let faultAt = 0;
  let detectedAt = null as number | null;
  let readyAt = null as number | null;
  let switchover: Record<string, unknown> | null = null;
  const failed: Record<string, number> = {};
  let sent = 0;
  let startSeq = 0;
  let routed = 0;
  /** How each routed call settled: answered, answered-on-repeat (routed by the repeat), done-earlier. */
  const outcomes: Record<string, number> = {};
  let settled = 0;
  let from: string | null = null;
  // Printed from one ordered stream (not from the listener below): a gap shows before the events after it.
  const iter = (async () => {
    for await (const rec of pair.events({ maxBuffered: 1_000_000 })) {
      if (rec.type === 'event') {
        const e = rec.data;
        if (e.source !== from) {
          if (from !== null) say(`  ${(monotonicMs() - t0).toFixed(1).padStart(8)} ms  events now delivered from ${e.source} (seq ${e.seq})`);
          from = e.source;
        }
        continue;
      }
      const line = describe(rec);
      if (line) say(`  ${(monotonicMs() - t0).toFixed(1).padStart(8)} ms  ${line}`);
      if (rec.type === 'gap') gaps.push(rec.data);
      if (rec.type === 'switchover') switchover = { ...rec.data };
      if (faultAt && rec.type === 'EventServerDisconnected' && detectedAt === null) detectedAt = rec.data.timestamp - faultAt;
      if (faultAt && rec.type === 'active' && rec.data.endpoint && readyAt === null) readyAt = rec.data.timestamp - faultAt;
    }
  })();
  pair.on('event', (e: TEvent) => {
    if (e.seq >= 0) seqs.push(e.seq);
    if (e.type !== MessageType.EventRouteRequest) return;
    sent++;
    pair
      .request('RequestRouteCall', { ThisDN: e.get(Attr.ThisDN) as string, ConnID: e.get(Attr.ConnID) as bigint, OtherDN: sim.agents[sent % sim.agents.length]!, RouteType: 2 })
      .then(
        (reply) => {
          routed++;
          outcomes[reply.outcome] = (outcomes[reply.outcome] ?? 0) + 1;
        },
        (err: { name?: string; errorMessage?: string }) => {
          // Each failure with the documented rule behind it (docs/semantics.md "Requests", docs/protocol.md).
          const k = err.name === 'SwitchoverError'
            ? 'SwitchoverError (in doubt: sent to the primary that failed before answering, and the repeat on the new primary could not tell whether it ran)'
            : err.errorMessage ? `${err.name}: ${err.errorMessage.replace(/\d+/g, 'N')}` : (err.name ?? 'Error');
          failed[k] = (failed[k] ?? 0) + 1;
        },
      )
      .finally(() => settled++);
  });
  try {
    say(`\n${mode} standby, ${kind} transport: primary ${sim.primary.host}:${sim.primary.port}, backup ${sim.backup.host}:${sim.backup.port}, ${rate} events/s`);
    t0 = monotonicMs();
    await pair.open();
    if (mode === 'hot') await until(() => pair.state.endpoints.backup.server === 'open', 10_000, 'the backup connection');
    await wait(seconds * 1000);
    // Checked against the oracle from here: every DN registration took effect before this event.
    startSeq = seqs.at(-1) ?? 0;
    say(`  ${(monotonicMs() - t0).toFixed(1).padStart(8)} ms  >>> fault: ${faultName} the primary`);
    faultAt = monotonicMs();
    await sim.fault(FAULTS[faultName]!);
    if (faultName === 'link-down') {
      // Nobody promotes a backup for a link loss: the link comes back after a second.
      await wait(1000);
      say(`  ${(monotonicMs() - t0).toFixed(1).padStart(8)} ms  >>> the primary's CTI link comes back`);
      await sim.fault({ kind: 'link-up', server: 'A' });
    }
    await until(() => readyAt !== null, 15_000, 'the pair to recover');
    await wait(seconds * 1000);
    await sim.setRate(0);
    await until(() => settled === sent, 5000, 'every request to settle').catch(() => {});
    if (faultName === 'stop') await sim.fault({ kind: 'cont', server: 'A' }).catch(() => {});
  } finally {
    await pair.close();
    await iter;
  }
  const cmp = compareWithOracle(sim.oracle(), seqs, dns, { afterSeq: startSeq, upToSeq: seqs.at(-1) ?? 0 });
  await sim.stop();
  const inGap = (s: number) => gaps.some((g) => s >= g.fromSeq && s <= g.toSeq);
  const lostInGaps = cmp.lost.filter(inGap).length;
  const summary: Summary = {
    mode,
    transport: kind,
    fault: faultName,
    detectionMs: detectedAt,
    switchover,
    readyMs: readyAt,
    events: { delivered: seqs.length, expected: cmp.expected, lost: cmp.lost.length - lostInGaps, lostInGaps, duplicated: cmp.duplicated.length, gaps: gaps.map((g) => ({ fromSeq: g.fromSeq, toSeq: g.toSeq })) },
    requests: { sent, routed, outcomes, failed, unsettled: sent - settled },
    ok: cmp.lost.length === lostInGaps && cmp.duplicated.length === 0 && sent === settled,
  };
  if (json) process.stdout.write(JSON.stringify(summary) + '\n');
  else {
    say(`  result: ${cmp.received} events delivered of ${cmp.expected} the switch sent to our DNs from the fault on; ` +
      `lost outside gaps ${summary.events.lost}, lost inside reported gaps ${lostInGaps}, duplicated ${summary.events.duplicated}`);
    say(`          ${sent} calls routed by the application: ${routed} routed (${Object.entries(outcomes).map(([k, n]) => `${n} ${k}`).join(', ') || 'none'}), failed ${JSON.stringify(failed)}, unsettled ${sent - settled}`);
    say(`          detection ${detectedAt?.toFixed(1) ?? '-'} ms after the fault; requests flowing again ${readyAt?.toFixed(1) ?? '-'} ms after the fault`);
    say(`          ${summary.ok ? 'OK' : 'FAILED'}`);
  }
  return summary;
}

async function run(argv: string[]): Promise<number> {
  const v = parseCommandArgs(argv, {
    mode: { type: 'string' },
    transport: { type: 'string' },
    fault: { type: 'string' },
    rate: { type: 'string' },
    seconds: { type: 'string' },
    json: { type: 'boolean' },
  }, usage);
  if (!v) return 0;
  const modeArg = v.mode ?? 'both';
  if (!['hot', 'warm', 'both'].includes(modeArg)) throw new UsageError(`--mode must be hot, warm or both, got '${modeArg}'`);
  const transport = (v.transport ?? 'auto') as 'auto' | 'native' | 'node';
  if (!['auto', 'native', 'node'].includes(transport)) throw new UsageError(`--transport must be auto, native or node, got '${transport}'`);
  if (transport === 'native' && !isTransportAvailable('native')) throw new UsageError('--transport native: the addon is not built or did not load (see nativeStatus())');
  const fault = v.fault ?? 'kill';
  if (!(fault in FAULTS)) throw new UsageError(`--fault must be one of ${Object.keys(FAULTS).join(', ')}, got '${fault}'`);
  const rate = intArg('rate', v.rate, 2000, 1, 200_000);
  const seconds = intArg('seconds', v.seconds, 2, 1, 600);
  const modes = modeArg === 'both' ? (['hot', 'warm'] as const) : [modeArg as 'hot' | 'warm'];
  let ok = true;
  for (const m of modes) ok = (await runMode(m, transport, fault, rate, seconds, Boolean(v.json))).ok && ok;
  return ok ? 0 : 1;
}

/** The `demo` subcommand. */
export const command: Command = { summary: 'fail over a T-Server pair on the simulator and check every event', usage, run };
