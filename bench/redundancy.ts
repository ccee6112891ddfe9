/**
 * bench:redundancy — how soon a hot pair is whole again after a server comes back, and how hard each client
 * knocks on a server that stays away (the reconnect schedule and the circuit breaker together:
 * lib/pair/supervisor.ts, lib/endpoint/breaker.ts). Default pair options unless a row says otherwise.
 *
 *   npm run bench:redundancy -- [--json] [--runs 100] [--ref-runs 20] [--faults restart,stop]
 *     [--transports native,node] [--only return,down,idle] [--clients 100] [--down-seconds 30]
 *     [--baseline DIR] [--baseline-runs 10] [--out report.json] [--idle-pairs 500] [--idle-seconds 5]
 *
 * **return** (one simulation and one hot pair per row; `--runs` cycles): the primary server is
 * - `restart`: killed (SIGKILL) and started again by the simulator (down ≈ 1 s: the management role's
 *   promotion delay, then a new process); t0 = the simulator's `restart` resolved (the new process said
 *   it is listening); with `--down-ms N`, killed and left down N ms before the restart (an outage past
 *   the schedule's 3 s fast phase: attempts every 0.5–1 s by then);
 * - `stop`: stopped (SIGSTOP) until the pair has lost it (ADDP) and `--stop-ms` more (default 1000; a
 *   long one, e.g. 10000, is past the schedule's fast phase), then continued (SIGCONT); t0 = SIGCONT sent.
 * Measured: t0 → both servers connected again (the restarted / continued server's EventServerConnected,
 * its `timestamp`). Before each cycle both sessions are open and the target's has lasted ≥ 3.2 s, so the
 * session pacer (sessions shorter than `retry.fastPhaseMs` are paced) is not what is measured. A value
 * below 0 (the pair connected before the simulator's reply reached us) is recorded as 0 and counted.
 * Rows: `defaults` (this checkout), `breaker: false` (the schedule alone, `--ref-runs` cycles) and, with
 * `--baseline DIR` (a built checkout of an earlier commit: `git worktree add DIR <commit>`, `npm run build`
 * there), that checkout's TServerPair with its defaults (`--baseline-runs` cycles).
 *
 * **down** (`--clients` pairs in one process, one simulation): connection attempts per second at a server
 * that stays away for `--down-seconds`: `absent` = the primary killed and not restarted (refused: a SYN
 * answered by a RST); `failing` = a server that accepts every connection and closes it at once (each attempt
 * costs it a session). Counted from the `tserver-ha:attempt-failed` channel, attempts refused by an open
 * breaker (no network) left out. Per client in three windows after the loss, the peak 100 ms of all
 * clients as a rate, and that scaled to 1,000 clients.
 *
 * **idle**: what the breakers cost while nothing fails —
 * `--idle-pairs` idle hot pairs, default options (ADDP 500 ms included), connected to one child-process
 * peer (the scripted peer, lib/sim/scripted-peer.ts, through test/helpers/child-peer.ts), each row in a
 * fresh process: main-thread utilization over `--idle-seconds` s, for the same rows as above.
 *
 * `--json` prints every row and every sample instead of the tables; `--out FILE` writes that JSON too.
 */
import diagnostics from 'node:diagnostics_channel';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { TServerPair } from '../lib/pair/pair.js';
import type { TServerPairOptions } from '../lib/config.js';
import { monotonicMs } from '../lib/clock.js';
import { startSimulation, type Simulation } from '../lib/sim/index.js';
import { isTransportAvailable } from '../lib/transport/index.js';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { ChildPeer } from '../test/helpers/child-peer.js';

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    runs: { type: 'string', default: '100' },
    'ref-runs': { type: 'string', default: '20' },
    'baseline-runs': { type: 'string', default: '10' },
    baseline: { type: 'string' },
    faults: { type: 'string', default: 'restart,stop' },
    transports: { type: 'string', default: 'native,node' },
    only: { type: 'string', default: 'return,down,idle' },
    clients: { type: 'string', default: '100' },
    'down-seconds': { type: 'string', default: '30' },
    'stop-ms': { type: 'string', default: '1000' },
    'down-ms': { type: 'string', default: '0' },
    out: { type: 'string' },
    'idle-pairs': { type: 'string', default: '500' },
    'idle-seconds': { type: 'string', default: '5' },
    'idle-child': { type: 'string' },
  },
});
const RUNS = Number(args.runs);
const REF_RUNS = Number(args['ref-runs']);
const BASE_RUNS = Number(args['baseline-runs']);
const CLIENTS = Number(args.clients);
const DOWN_S = Number(args['down-seconds']);
const STOP_MS = Number(args['stop-ms']);
const DOWN_MS = Number(args['down-ms']);
const only = new Set(args.only.split(','));
const faults = args.faults.split(',') as ('restart' | 'stop')[];
const kinds = (args.transports.split(',') as ('native' | 'node')[]).filter((k) => k === 'node' || isTransportAvailable('native'));
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const progress = (s: string) => {
  if (!args.json && process.stderr.isTTY) process.stderr.write(`\r\x1b[K${s}`);
};

type PairClass = typeof TServerPair;
interface Config {
  name: string;
  Pair: PairClass;
  options: Partial<TServerPairOptions>;
  runs: number;
}

/** Poll `pred` (the bench, unlike the tests, has a deadline per step: a stuck cycle is reported, not awaited forever). */
async function until(pred: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(2);
  }
}

const attemptListeners = new Set<(m: { pair: string; endpoint: string; error: { code?: string } }) => void>();
diagnostics.subscribe('tserver-ha:attempt-failed', (m) => {
  for (const l of attemptListeners) l(m as { pair: string; endpoint: string; error: { code?: string } });
});

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

interface ReturnRow {
  config: string;
  fault: 'restart' | 'stop';
  /** `stop`: how long the server stayed stopped after the pair lost it (ms). */
  stopMs: number | null;
  /** `restart`: how long it stayed dead before the restart (`--down-ms`; 0: restarted at once). */
  downMs: number | null;
  transport: string;
  runs: number;
  completed: number;
  errors: string[];
  /** t0 → both connected, ms, per cycle. */
  samples: number[];
  clampedNegative: number;
  /** Network attempts at the target per cycle (refused by an open breaker: not counted). */
  attempts: number[];
  breakerOpened: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

async function returnRow(cfg: Config, fault: 'restart' | 'stop', transport: 'native' | 'node'): Promise<ReturnRow> {
  const sim: Simulation = await startSimulation({ mode: 'hot', rate: 0 });
  const name = `R-${cfg.name}-${fault}-${transport}`;
  const pair = new cfg.Pair({
    name,
    primary: { host: sim.primary.host, port: sim.primary.port },
    backup: { host: sim.backup.host, port: sim.backup.port },
    mode: 'hot',
    dns: [sim.routePoints[0]!],
    transport,
    ...cfg.options,
  });
  pair.on('error', () => {});
  const connectedAt = { primary: 0, backup: 0 };
  const lostAt = { primary: 0, backup: 0 };
  pair.on('EventServerConnected', (e) => (connectedAt[e.source] = e.timestamp));
  pair.on('EventServerDisconnected', (e) => (lostAt[e.source] = e.timestamp));
  let breakerOpened = 0;
  pair.on('breaker', (e) => {
    if (e.state === 'open') breakerOpened++;
  });
  const attempts = { primary: 0, backup: 0 };
  const onAttempt = (m: { pair: string; endpoint: string; error: { code?: string } }) => {
    if (m.pair === name && m.error?.code !== 'ERR_BREAKER_OPEN') attempts[m.endpoint as 'primary' | 'backup']++;
  };
  attemptListeners.add(onAttempt);
  const row: ReturnRow = { config: cfg.name, fault, stopMs: fault === 'stop' ? STOP_MS : null, downMs: fault === 'restart' ? DOWN_MS : null, transport, runs: cfg.runs, completed: 0, errors: [], samples: [], clampedNegative: 0, attempts: [], breakerOpened: 0, p50: 0, p90: 0, p99: 0, max: 0 };
  try {
    await pair.open();
    const open = (ep: 'primary' | 'backup') => pair.state.endpoints[ep].server === 'open';
    for (let i = 0; i < cfg.runs; i++) {
      progress(`return ${cfg.name} ${fault} ${transport}: ${i + 1}/${cfg.runs}`);
      const server = sim.roles().A === 0 ? 'A' : 'B';
      const ep = server === 'A' ? 'primary' : 'backup';
      try {
        // A healthy pair: both connected, both links reported up.
        await until(() => open('primary') && open('backup') && pair.state.endpoints.primary.link === 'up' && pair.state.endpoints.backup.link === 'up', 30_000, 'both servers connected with their links up');
        const age = monotonicMs() - connectedAt[ep];
        if (age < 3200) await sleep(3200 - age);
        const before = attempts[ep];
        const lostBefore = lostAt[ep];
        let t0: number;
        if (fault === 'restart') {
          if (DOWN_MS > 0) {
            // A longer outage: killed, left down, then started again (the restart finds it dead).
            await sim.fault({ kind: 'kill', server });
            await sleep(DOWN_MS);
          }
          await sim.fault({ kind: 'restart', server });
          t0 = monotonicMs();
        } else {
          await sim.fault({ kind: 'stop', server });
          await until(() => lostAt[ep] !== lostBefore, 30_000, 'the stopped server lost (ADDP)');
          await sleep(STOP_MS);
          t0 = monotonicMs();
          await sim.fault({ kind: 'cont', server });
        }
        await until(() => open(ep) && connectedAt[ep] > lostAt[ep] && lostAt[ep] !== lostBefore, 60_000, `${ep} connected again`);
        let ms = connectedAt[ep] - t0;
        if (ms < 0) {
          row.clampedNegative++;
          ms = 0;
        }
        row.samples.push(ms);
        row.attempts.push(attempts[ep] - before);
        row.completed++;
      } catch (err) {
        row.errors.push((err as Error).message);
        if (row.errors.length > 5) break;
      }
    }
  } finally {
    attemptListeners.delete(onAttempt);
    await pair.close().catch(() => {});
    await sim.stop();
  }
  row.breakerOpened = breakerOpened;
  const s = [...row.samples].sort((a, b) => a - b);
  Object.assign(row, { p50: pct(s, 50), p90: pct(s, 90), p99: pct(s, 99), max: s[s.length - 1] ?? NaN });
  return row;
}

interface DownRow {
  config: string;
  server: 'absent' | 'failing';
  clients: number;
  seconds: number;
  /** Network attempts per 100 ms bucket, all clients, from the loss (absent) or from open (failing). */
  buckets: number[];
  /** Attempts per client per second in [0, 3 s), [3, 10 s), [10 s, end). */
  perClient: [number, number, number];
  /** Peak 100 ms of all clients, as attempts per second. */
  peakPerSec: number;
  breakerOpened: number;
}

async function downRow(cfg: Config, server: 'absent' | 'failing', transport: 'native' | 'node'): Promise<DownRow> {
  const sim = await startSimulation({ mode: 'hot', rate: 0 });
  let failing: net.Server | undefined;
  let failingPort = 0;
  if (server === 'failing') {
    failing = net.createServer((s) => s.destroy());
    await new Promise<void>((r) => failing!.listen(0, '127.0.0.1', () => r()));
    failingPort = (failing.address() as net.AddressInfo).port;
  }
  const prefix = `D-${cfg.name}-${server}-`;
  const pairs: TServerPair[] = [];
  const target = server === 'absent' ? 'primary' : 'backup';
  const buckets = new Array<number>(Math.ceil(DOWN_S * 10)).fill(0);
  let t0 = Infinity;
  const onAttempt = (m: { pair: string; endpoint: string; error: { code?: string } }) => {
    if (!m.pair.startsWith(prefix) || m.endpoint !== target || m.error?.code === 'ERR_BREAKER_OPEN') return;
    const b = Math.floor((monotonicMs() - t0) / 100);
    if (b >= 0 && b < buckets.length) buckets[b]!++;
  };
  let breakerOpened = 0;
  try {
    for (let i = 0; i < CLIENTS; i++) {
      const p = new cfg.Pair({
        name: `${prefix}${i}`,
        primary: { host: sim.primary.host, port: sim.primary.port },
        backup: server === 'absent' ? { host: sim.backup.host, port: sim.backup.port } : { host: '127.0.0.1', port: failingPort },
        mode: 'hot',
        dns: [sim.routePoints[0]!],
        transport,
        openTimeoutMs: 60_000,
        ...cfg.options,
      });
      p.on('error', () => {});
      p.on('breaker', (e) => {
        if (e.state === 'open' && e.source === target) breakerOpened++;
      });
      pairs.push(p);
    }
    if (server === 'failing') {
      attemptListeners.add(onAttempt);
      t0 = monotonicMs();
    }
    for (let i = 0; i < pairs.length; i += 25) await Promise.all(pairs.slice(i, i + 25).map((p) => p.open()));
    if (server === 'absent') {
      await until(() => pairs.every((p) => p.state.endpoints.backup.server === 'open'), 60_000, 'every backup connected');
      attemptListeners.add(onAttempt);
      await sim.fault({ kind: 'kill', server: 'A' });
      t0 = monotonicMs();
    }
    const end = t0 + DOWN_S * 1000;
    while (monotonicMs() < end) {
      progress(`down ${cfg.name} ${server}: ${Math.round((monotonicMs() - t0) / 1000)}/${DOWN_S} s`);
      await sleep(250);
    }
  } finally {
    attemptListeners.delete(onAttempt);
    await Promise.all(pairs.map((p) => p.close().catch(() => {})));
    await sim.stop();
    failing?.close();
  }
  const sum = (from: number, to: number) => buckets.slice(from * 10, to * 10).reduce((a, b) => a + b, 0);
  const rate = (from: number, to: number) => sum(from, to) / CLIENTS / (to - from);
  return {
    config: cfg.name,
    server,
    clients: CLIENTS,
    seconds: DOWN_S,
    buckets,
    perClient: [rate(0, 3), rate(3, 10), rate(10, DOWN_S)],
    peakPerSec: Math.max(...buckets) * 10,
    breakerOpened,
  };
}

interface IdleRow {
  config: string;
  transport: string;
  pairs: number;
  seconds: number;
  /** Main-thread utilization (event-loop active time ÷ wall time). */
  elu: number;
}

/** In a fresh process: `--idle-pairs` idle hot pairs of one config, then ELU over `--idle-seconds`. */
async function idleHere(cfg: Config, transport: 'native' | 'node', n: number, seconds: number): Promise<IdleRow> {
  const peer = await ChildPeer.start({ backupPort: true, backlog: 2048 });
  const pairs: TServerPair[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const p = new cfg.Pair({ name: `I${i}`, primary: { host: '127.0.0.1', port: peer.port }, backup: { host: '127.0.0.1', port: peer.backupPort! }, mode: 'hot', dns: ['5001'], transport, ...cfg.options });
      p.on('error', () => {});
      pairs.push(p);
    }
    for (let i = 0; i < n; i += 50) await Promise.all(pairs.slice(i, i + 50).map((p) => p.open()));
    await until(() => pairs.every((p) => p.state.endpoints.backup.server === 'open'), 60_000, 'every backup connected');
    // Past a whole rolling window (10 s) after the last attempt: what stays is the idle cost.
    await sleep(11_000);
    const e0 = performance.eventLoopUtilization();
    await sleep(seconds * 1000);
    return { config: cfg.name, transport, pairs: n, seconds, elu: performance.eventLoopUtilization(e0).utilization };
  } finally {
    await Promise.all(pairs.map((p) => p.close().catch(() => {})));
    await peer.kill();
  }
}

function idleRow(cfgIndex: number, transport: 'native' | 'node'): Promise<IdleRow> {
  return new Promise((resolve, reject) => {
    const argv = [fileURLToPath(import.meta.url), '--idle-child', `${cfgIndex}:${transport}`, '--idle-pairs', args['idle-pairs'], '--idle-seconds', args['idle-seconds']];
    if (args.baseline) argv.push('--baseline', args.baseline);
    const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as IdleRow) : reject(new Error(`idle child exited with ${code}`))));
  });
}

async function main(): Promise<void> {
  const configs: Config[] = [
    { name: 'defaults', Pair: TServerPair, options: {}, runs: RUNS },
    { name: 'breaker: false', Pair: TServerPair, options: { breaker: false }, runs: REF_RUNS },
  ];
  if (args.baseline) {
    const url = pathToFileURL(resolvePath(args.baseline, 'dist/lib/pair/pair.js')).href;
    const mod = (await import(url)) as { TServerPair: PairClass };
    configs.push({ name: 'baseline defaults', Pair: mod.TServerPair, options: {}, runs: BASE_RUNS });
  }
  if (args['idle-child']) {
    const [i, transport] = args['idle-child'].split(':') as [string, 'native' | 'node'];
    console.log(JSON.stringify(await idleHere(configs[Number(i)]!, transport, Number(args['idle-pairs']), Number(args['idle-seconds']))));
    return;
  }
  const started = Date.now();
  const returns: ReturnRow[] = [];
  const downs: DownRow[] = [];
  const idles: IdleRow[] = [];
  // Tables are printed row by row as each is measured (a long run shows what it has, and an error in
  // one row is reported in it instead of ending the run); `--out` is rewritten after every row.
  const table = (line: string) => {
    if (!args.json) {
      progress('');
      console.log(line);
    }
  };
  const save = () => {
    if (args.out) writeFileSync(args.out, report());
  };
  const report = () => JSON.stringify({ runs: RUNS, refRuns: REF_RUNS, baselineRuns: BASE_RUNS, baseline: args.baseline ?? null, clients: CLIENTS, downSeconds: DOWN_S, stopMs: STOP_MS, downMs: DOWN_MS, elapsedS: Math.round((Date.now() - started) / 1000), returns, downs, idles });
  const f = (n: number) => (Number.isFinite(n) ? n.toFixed(0) : '–');
  if (only.has('return')) {
    table('bench:redundancy — server back → both servers of a hot pair connected again (ms)\n');
    table('| fault | transport | options | runs | p50 | p90 | p99 | max | attempts per cycle (mean) | breaker opened | errors |');
    table('|---|---|---|---|---|---|---|---|---|---|---|');
    for (const fault of faults) {
      for (const transport of kinds) {
        for (const cfg of configs) {
          if (cfg.runs <= 0) continue;
          const r = await returnRow(cfg, fault, transport).catch((err: Error) => ({ config: cfg.name, fault, stopMs: null, downMs: null, transport, runs: cfg.runs, completed: 0, errors: [err.message], samples: [], clampedNegative: 0, attempts: [], breakerOpened: 0, p50: NaN, p90: NaN, p99: NaN, max: NaN }) satisfies ReturnRow);
          returns.push(r);
          save();
          const mean = r.attempts.length ? r.attempts.reduce((a, b) => a + b, 0) / r.attempts.length : NaN;
          table(`| ${r.fault === 'stop' ? `stop ${STOP_MS} ms` : DOWN_MS ? `restart after ${DOWN_MS} ms down` : r.fault} | ${r.transport} | ${r.config} | ${r.completed}/${r.runs} | ${f(r.p50)} | ${f(r.p90)} | ${f(r.p99)} | ${f(r.max)} | ${mean.toFixed(1)} | ${r.breakerOpened} | ${r.errors.length ? `${r.errors.length}: ${r.errors[0]}` : 0} |`);
        }
      }
    }
  }
  if (only.has('down')) {
    table(`\nAttempts at a server that stays away (${CLIENTS} clients, ${DOWN_S} s; per client per second, and all clients)\n`);
    table(`| server | options | per client 0–3 s | 3–10 s | 10–${DOWN_S} s | ${CLIENTS} clients: peak /s | 1,000 clients: 0–3 s /s | 1,000 clients: 10–${DOWN_S} s /s | breaker opened |`);
    table('|---|---|---|---|---|---|---|---|---|');
    for (const server of ['absent', 'failing'] as const) {
      for (const cfg of configs) {
        if (cfg.name === 'breaker: false' && server === 'absent') continue;
        try {
          const d = await downRow(cfg, server, kinds[0]!);
          downs.push(d);
          save();
          const [a, b, c] = d.perClient;
          table(`| ${d.server} | ${d.config} | ${a.toFixed(2)} | ${b.toFixed(2)} | ${c.toFixed(2)} | ${d.peakPerSec} | ${Math.round(a * 1000)} | ${Math.round(c * 1000)} | ${d.breakerOpened} |`);
        } catch (err) {
          table(`| ${server} | ${cfg.name} | error: ${(err as Error).message} |`);
        }
      }
    }
  }
  if (only.has('idle')) {
    table(`\nIdle hot pairs (default options, nothing failing): main-thread utilization\n`);
    table('| pairs | transport | options | main thread |');
    table('|---|---|---|---|');
    for (let i = 0; i < configs.length; i++) {
      progress(`idle ${configs[i]!.name}`);
      try {
        const r = await idleRow(i, kinds[0]!);
        idles.push(r);
        save();
        table(`| ${r.pairs} | ${r.transport} | ${r.config} | ${(r.elu * 100).toFixed(2)} % |`);
      } catch (err) {
        table(`| – | ${kinds[0]} | ${configs[i]!.name} | error: ${(err as Error).message} |`);
      }
    }
  }
  progress('');
  table(`\n(${Math.round((Date.now() - started) / 1000)} s in all)`);
  if (args.json) console.log(report());
}

await main();
process.exit(0);
