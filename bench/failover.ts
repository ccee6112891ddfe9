/**
 * Failover benchmark: for each standby mode × transport, N runs, each in a fresh simulation (switch + two
 * T-Server processes + management role): route traffic answered with RequestRouteCall, the primary killed
 * (or SIGSTOPped), and per run the detection latency, the first event from the new primary, the client's
 * overhead once the new primary is announced, the time to a usable pair after promotion, events lost and
 * duplicated against the switch's oracle, and request outcomes. bench/README.md explains every column.
 *
 * Usage: npm run bench:failover -- [--json] [--runs 10] [--modes hot,warm] [--transports node,native]
 *        [--rate 5000] [--fault kill|stop] [--addp ms] [--promotion-delay 500] [--after 1500]
 *        [--request-timeout 1000] [--retry-min ms --retry-max ms] [--no-breaker]
 */
import { parseArgs } from 'node:util';
// Registers the native transport when the addon loaded (it then gets its own rows).
import '../lib/native/register.js';
import { isTransportAvailable } from '../lib/transport/index.js';
import { runOnce, type RunConfig, type RunResult } from './failover-run.js';

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    runs: { type: 'string', default: '10' },
    modes: { type: 'string', default: 'hot,warm' },
    transports: { type: 'string', default: 'node,native' },
    rate: { type: 'string', default: '5000' },
    fault: { type: 'string', default: 'kill' },
    addp: { type: 'string' },
    'promotion-delay': { type: 'string', default: '500' },
    after: { type: 'string', default: '1500' },
    'request-timeout': { type: 'string', default: '1000' },
    'retry-min': { type: 'string' },
    'retry-max': { type: 'string' },
    'no-breaker': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});

function usage(msg?: string): never {
  if (msg) console.error(`bench:failover: ${msg}`);
  console.error('usage: node dist/bench/failover.js [--json] [--runs N] [--modes hot,warm] [--transports node,native] [--rate N] [--fault kill|stop] [--addp ms] [--promotion-delay ms] [--after ms] [--request-timeout ms] [--retry-min ms --retry-max ms] [--no-breaker]');
  process.exit(msg ? 2 : 0);
}

function intArg(name: string, v: string | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) usage(`--${name} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  return n;
}

function listArg<T extends string>(name: string, v: string, allowed: readonly T[]): T[] {
  const items = v.split(',').map((x) => x.trim()).filter(Boolean);
  for (const x of items) if (!allowed.includes(x as T)) usage(`--${name}: ${JSON.stringify(x)} is not one of ${allowed.join(', ')}`);
  if (items.length === 0) usage(`--${name} is empty`);
  return items as T[];
}

/** Nearest-rank percentile of the non-null values (null when there are none). */
function pct(values: (number | null)[], p: number): number | null {
  const v = values.filter((x): x is number => x !== null && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  return v[Math.min(v.length - 1, Math.max(0, Math.ceil((p / 100) * v.length) - 1))]!;
}

const fmt = (x: number | null) => (x === null ? '-' : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const pair = (vals: (number | null)[]) => `${fmt(pct(vals, 50))} / ${fmt(pct(vals, 99))}`;
const sum = (rs: RunResult[], f: (r: RunResult) => number) => rs.reduce((a, r) => a + f(r), 0);

/** One row per mode × transport. */
function summarize(rs: RunResult[]): Record<string, string | number> {
  const ok = rs.filter((r) => r.error === null);
  return {
    'mode/transport': `${rs[0]!.mode}/${rs[0]!.transport}`,
    runs: `${ok.length}/${rs.length}`,
    'detect p50/p99': pair(ok.map((r) => r.detectMs)),
    'firstEvt p50/p99': pair(ok.map((r) => r.firstEventMs)),
    'promo p50/p99': pair(ok.map((r) => r.promotionMs)),
    'overhead p50/p99': pair(ok.map((r) => r.overheadMs)),
    'ready p50/p99': pair(ok.map((r) => r.readyMs)),
    lost: sum(ok, (r) => r.oracle.lostOutsideGap.length),
    'lost(gap)': sum(ok, (r) => r.oracle.lostInGap),
    dup: sum(ok, (r) => r.oracle.duplicated.length),
    'req ok': sum(ok, (r) => r.requests.ok),
    'fail sw/to/srv/oth': `${sum(ok, (r) => r.requests.switchover)}/${sum(ok, (r) => r.requests.timeout)}/${sum(ok, (r) => r.requests.server)}/${sum(ok, (r) => r.requests.other)}`,
    unsettled: sum(rs, (r) => r.requests.unsettled),
  };
}

function table(rows: Record<string, string | number>[]): void {
  const cols = Object.keys(rows[0]!);
  const w = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length)));
  console.log(cols.map((c, i) => c.padEnd(w[i]!)).join('  '));
  for (const r of rows) console.log(cols.map((c, i) => String(r[c]).padEnd(w[i]!)).join('  '));
}

async function main(): Promise<void> {
  if (args.help) usage();
  const runs = intArg('runs', args.runs, 1)!;
  const modes = listArg('modes', args.modes!, ['hot', 'warm'] as const);
  const wanted = listArg('transports', args.transports!, ['node', 'native'] as const);
  const fault = listArg('fault', args.fault!, ['kill', 'stop'] as const);
  if (fault.length !== 1) usage('--fault takes one kind');
  const retryMin = intArg('retry-min', args['retry-min'], 1);
  const retryMax = intArg('retry-max', args['retry-max'], 1);
  if ((retryMin === undefined) !== (retryMax === undefined)) usage('--retry-min and --retry-max go together');
  const transports = wanted.filter((t) => {
    if (isTransportAvailable(t)) return true;
    console.error(`transport ${t} not available${t === 'native' ? ' (addon not built or lib/native absent)' : ''}: skipped`);
    return false;
  });
  if (transports.length === 0) usage('no requested transport is available');

  const base: Omit<RunConfig, 'mode' | 'transport'> = {
    rate: intArg('rate', args.rate, 1)!,
    fault: fault[0]!,
    addpMs: intArg('addp', args.addp, 10),
    promotionDelayMs: intArg('promotion-delay', args['promotion-delay'], 0)!,
    afterMs: intArg('after', args.after, 0)!,
    requestTimeoutMs: intArg('request-timeout', args['request-timeout'], 1)!,
    retry: retryMin !== undefined ? { minDelayMs: retryMin, maxDelayMs: retryMax! } : undefined,
    breaker: !args['no-breaker'],
    stepTimeoutMs: 10_000,
  };
  if (base.retry && base.retry.maxDelayMs < base.retry.minDelayMs) usage('--retry-max must be >= --retry-min');

  const all: RunResult[] = [];
  const rows: Record<string, string | number>[] = [];
  for (const mode of modes) {
    for (const transport of transports) {
      const rs: RunResult[] = [];
      for (let i = 0; i < runs; i++) {
        const r = await runOnce({ ...base, mode, transport }, i);
        rs.push(r);
        all.push(r);
        const o = r.oracle;
        console.error(
          `${mode}/${transport} run ${i + 1}/${runs}: ` +
            (r.error
              ? `ERROR ${r.error}`
              : `lag ${fmt(r.lagAtFaultMs)} exit ${fmt(r.faultDoneMs)} detect ${fmt(r.detectMs)} firstEvt ${fmt(r.firstEventMs)} promo ${fmt(r.promotionMs)} overhead ${fmt(r.overheadMs)} ready ${fmt(r.readyMs)} ms; ` +
                `lost ${o.lostOutsideGap.length} (+${o.lostInGap} in gap) dup ${o.duplicated.length}; req ok ${r.requests.ok} sw ${r.requests.switchover} to ${r.requests.timeout} srv ${r.requests.server} oth ${r.requests.other} unsettled ${r.requests.unsettled}`),
        );
      }
      rows.push(summarize(rs));
    }
  }
  if (args.json) {
    console.log(JSON.stringify({ node: process.version, config: { runs, modes, transports, ...base }, summary: rows, runs: all }, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2));
  } else {
    console.log();
    console.log(`failover: fault ${base.fault} at the primary, ${base.rate} events/s, promotion delay ${base.promotionDelayMs} ms, ${runs} runs each; ms, p50 / p99 (nearest rank)`);
    table(rows);
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
