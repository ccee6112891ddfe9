/**
 * Soak: false failovers of live servers under load, with the DEFAULT options (no `addp` given).
 *
 * Per transport: one simulation (`startSimulation({ rate, addpEnforce: true })`: the servers run their own
 * ADDP toward the client, with the remote timeout the client announces), a hot pair registered on every
 * route point and agent (≈ `--rate` events/s) that routes each EventRouteRequest, an idle pair (no DNs:
 * only ADDP crosses its connections), two busy processes per core (started by this process, killed by their
 * PID at the end, and each bounded in time by itself), and a main thread doing a router's work: on
 * `--work-pct` % of events a block of 0.2–2 ms, a `--block-ms` block every `--block-every` ms.
 *
 * Counted: `EventServerDisconnected` per reason; a *false failover* is one with reason `addp-timeout`
 * (our heartbeat gave up on a server) while the simulator never faulted that server — this soak injects no
 * fault, and a management switchover (`sim.events` 'switchover') is reported beside it. A disconnect with
 * another reason (peer-closed, peer-reset: the *server* dropped us, e.g. its own ADDP toward a starved
 * client) is counted apart: a different failure.
 *
 * Measured: the event-loop delay (perf_hooks.monitorEventLoopDelay) of this process and of every simulator
 * process (switch, A, B: a preload given through NODE_OPTIONS samples it there and writes it every second),
 * per second, so each loss can be matched with which process was late around it.
 *
 * `--detect N`: instead of the soak, on a quiet machine, N runs per transport of: open a pair (default
 * options, 100 events/s), SIGSTOP the primary server, time to its EventServerDisconnected.
 *
 * Usage: npm run soak -- [--minutes 10] [--transports node,native] [--rate 5000] [--json] [--detect 5]
 *        [--addp MS] (instead of the default) [--server-addp off] [--work-pct 5] [--block-ms 400]
 *        [--block-every 7000] [--busy-per-core 2] [--seed 1]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { TServerPair, MessageType, type TServerPairOptions } from '../lib/index.js';
import { isTransportAvailable } from '../lib/transport/index.js';
import { startSimulation, type Simulation } from '../lib/sim/index.js';

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    transports: { type: 'string' },
    rate: { type: 'string', default: '5000' },
    json: { type: 'boolean', default: false },
    'work-pct': { type: 'string', default: '5' },
    'block-ms': { type: 'string', default: '400' },
    'block-every': { type: 'string', default: '7000' },
    'busy-per-core': { type: 'string', default: '2' },
    detect: { type: 'string' },
    addp: { type: 'string' },
    seed: { type: 'string', default: '1' },
    'server-addp': { type: 'string', default: 'on' },
  },
});

const minutes = Number(args.minutes);
const rate = Number(args.rate);
const workPct = Number(args['work-pct']);
const blockMs = Number(args['block-ms']);
const blockEvery = Number(args['block-every']);
const busyPerCore = Number(args['busy-per-core']);
const addpOverride = args.addp === undefined ? undefined : Number(args.addp);
const transports = (args.transports ?? 'node,native').split(',').filter((t) => t === 'node' || isTransportAvailable(t as 'native')) as ('node' | 'native')[];

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const log = (s: string) => { if (!args.json) process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${s}\n`); };

// A small deterministic PRNG (mulberry32): the work pattern is the same from run to run.
let seed = Number(args.seed) >>> 0;
function rnd(): number {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

function spin(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) { /* a strategy's work */ }
}

/** Event-loop delay sampler injected into the simulator's processes (NODE_OPTIONS=--require). */
const PRELOAD = `
const { monitorEventLoopDelay } = require('node:perf_hooks');
const { writeFileSync } = require('node:fs');
const dir = process.env.SOAK_ELD_DIR;
if (dir) {
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  const series = [];
  const role = process.argv.slice(2).join(' ').slice(0, 60);
  const t = setInterval(() => {
    series.push([Date.now(), Math.round(h.max / 1e6)]);
    h.reset();
    if (series.length > 4000) series.shift();
    try { writeFileSync(dir + '/eld-' + process.pid + '.json', JSON.stringify({ pid: process.pid, role, series })); } catch {}
  }, 1000);
  t.unref();
}
`;

interface LoadChildren { procs: ChildProcess[]; stop(): void }

/** Two busy processes per core, each ending by itself after `ms` (+ 30 s) even if this process dies. */
function startBusy(ms: number): LoadChildren {
  const n = cpus().length * busyPerCore;
  const procs: ChildProcess[] = [];
  for (let i = 0; i < n; i++) {
    procs.push(spawn(process.execPath, ['-e', `const end = Date.now() + ${ms + 30_000}; while (Date.now() < end) {}`], { stdio: 'ignore', env: { ...process.env, NODE_OPTIONS: '' } }));
  }
  return {
    procs,
    stop() {
      for (const p of procs) if (p.pid !== undefined && p.exitCode === null) { try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ } }
    },
  };
}

async function withEldPreload<T>(dir: string, f: () => Promise<T>): Promise<T> {
  const pre = join(dir, 'eld-preload.cjs');
  writeFileSync(pre, PRELOAD);
  const old = { no: process.env.NODE_OPTIONS, dir: process.env.SOAK_ELD_DIR };
  process.env.NODE_OPTIONS = `${old.no ?? ''} --require ${pre}`.trim();
  process.env.SOAK_ELD_DIR = dir;
  try {
    return await f();
  } finally {
    if (old.no === undefined) delete process.env.NODE_OPTIONS; else process.env.NODE_OPTIONS = old.no;
    if (old.dir === undefined) delete process.env.SOAK_ELD_DIR; else process.env.SOAK_ELD_DIR = old.dir;
  }
}

function pairOptions(sim: Simulation, transport: 'node' | 'native', name: string, dns: string[]): TServerPairOptions {
  return {
    name,
    primary: { host: sim.host, port: sim.primary.port },
    backup: { host: sim.host, port: sim.backup.port },
    mode: 'hot',
    transport,
    dns,
    ...(addpOverride !== undefined ? { addp: { timeoutMs: addpOverride } } : {}),
  };
}

interface Loss { at: number; pair: string; source: string; reason: string; message: string | undefined; simFaulted: boolean }

interface SoakResult {
  transport: string;
  addp: unknown;
  seconds: number;
  events: number;
  routed: number;
  routeFailed: number;
  disconnects: Record<string, number>;
  falseFailovers: number;
  simSwitchovers: number;
  losses: Array<Loss & { eldAround: Record<string, number> }>;
  eld: Record<string, { p50: number; p99: number; max: number; secondsOver250: number; secondsOver500: number }>;
  loadavg: number[];
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

async function soak(transport: 'node' | 'native'): Promise<SoakResult> {
  const dir = mkdtempSync(join(tmpdir(), 'tserver-ha-soak-'));
  const durationMs = minutes * 60_000;
  // The servers' own ADDP toward us ('--server-addp off' to tell their drops from our timeouts).
  const sim = await withEldPreload(dir, () => startSimulation({ rate: 0, addpEnforce: args['server-addp'] !== 'off' }));
  const mainSeries: [number, number][] = [];
  const mainH = monitorEventLoopDelay({ resolution: 10 });
  mainH.enable();
  const sampler = setInterval(() => {
    mainSeries.push([Date.now(), Math.round(mainH.max / 1e6)]);
    mainH.reset();
  }, 1000);
  const losses: Loss[] = [];
  const disconnects: Record<string, number> = {};
  let simSwitchovers = 0;
  let lastSimSwitchoverAt = -Infinity;
  sim.events.on('switchover', () => {
    simSwitchovers++;
    lastSimSwitchoverAt = Date.now();
  });
  let events = 0;
  let routed = 0;
  let routeFailed = 0;
  const hot = new TServerPair(pairOptions(sim, transport, 'hot', [...sim.routePoints, ...sim.agents]));
  const idle = new TServerPair(pairOptions(sim, transport, 'idle', []));
  for (const p of [hot, idle]) {
    p.on('EventServerDisconnected', (e) => {
      if (stopping) return;
      const key = `${p.options.name}:${e.reason}`;
      disconnects[key] = (disconnects[key] ?? 0) + 1;
      // Faulted: this soak injects none; a management switchover in the last 5 s would explain a loss.
      const simFaulted = Date.now() - lastSimSwitchoverAt < 5000;
      losses.push({ at: Date.now(), pair: p.options.name, source: e.source, reason: e.reason, message: e.error?.message, simFaulted });
      log(`${transport}: ${p.options.name} lost ${e.source}: ${e.reason} ${e.error?.message ?? ''}`);
    });
    p.on('error', () => { /* counted through the events */ });
  }
  let stopping = false;
  hot.on('event', (e) => {
    events++;
    if (rnd() * 100 < workPct) spin(0.2 + rnd() * 1.8);
    if (e.type !== MessageType.EventRouteRequest) return;
    hot.request('RequestRouteCall', { ThisDN: e.get('ThisDN'), ConnID: e.get('ConnID'), OtherDN: sim.agents[0]!, RouteType: 2 }, { timeoutMs: 2000 })
      .then(() => routed++, () => routeFailed++);
  });
  await Promise.all([hot.open(), idle.open()]);
  const busy = startBusy(durationMs);
  await sim.setRate(rate);
  const blocker = setInterval(() => spin(blockMs), blockEvery);
  const started = Date.now();
  log(`${transport}: soaking ${minutes} min: rate ${rate}/s, ${busy.procs.length} busy processes, work ${workPct} % of events, ${blockMs} ms block every ${blockEvery} ms`);
  let lastReport = started;
  while (Date.now() - started < durationMs) {
    await sleep(1000);
    if (Date.now() - lastReport >= 60_000) {
      lastReport = Date.now();
      log(`${transport}: ${Math.round((lastReport - started) / 1000)} s, ${events} events, losses ${JSON.stringify(disconnects)}, load ${loadavg()[0]!.toFixed(1)}`);
    }
  }
  stopping = true;
  clearInterval(blocker);
  busy.stop();
  const seconds = (Date.now() - started) / 1000;
  const la = loadavg();
  await sim.setRate(0).catch(() => {});
  await Promise.all([hot.close(), idle.close()]).catch(() => {});
  clearInterval(sampler);
  mainH.disable();
  const pids = sim.pids();
  await sim.stop();
  // Event-loop delay series, per process.
  const series: Record<string, [number, number][]> = { pair: mainSeries.filter(([t]) => t >= started) };
  const nameOf: Record<number, string> = {};
  for (const [k, v] of Object.entries(pids)) if (v !== undefined) nameOf[v] = k === 'A' ? 'serverA' : k === 'B' ? 'serverB' : 'switch';
  for (const f of readdirSync(dir)) {
    if (!f.startsWith('eld-') || !f.endsWith('.json')) continue;
    try {
      const r = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { pid: number; series: [number, number][] };
      series[nameOf[r.pid] ?? `pid${r.pid}`] = r.series.filter(([t]) => t >= started);
    } catch { /* a partial write */ }
  }
  rmSync(dir, { recursive: true, force: true });
  const eld: SoakResult['eld'] = {};
  for (const [k, s] of Object.entries(series)) {
    const v = s.map(([, m]) => m).sort((a, b) => a - b);
    eld[k] = { p50: pct(v, 50), p99: pct(v, 99), max: v[v.length - 1] ?? 0, secondsOver250: v.filter((x) => x >= 250).length, secondsOver500: v.filter((x) => x >= 500).length };
  }
  const around = (at: number): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const [k, s] of Object.entries(series)) out[k] = Math.max(0, ...s.filter(([t]) => t >= at - 2000 && t <= at + 7000).map(([, m]) => m));
    return out;
  };
  return {
    transport,
    addp: hot.options.addp,
    seconds,
    events,
    routed,
    routeFailed,
    disconnects,
    falseFailovers: losses.filter((l) => l.reason === 'addp-timeout' && !l.simFaulted).length,
    simSwitchovers,
    losses: losses.map((l) => ({ ...l, eldAround: around(l.at) })),
    eld,
    loadavg: la,
  };
}

/** Time from SIGSTOP of the primary server to its EventServerDisconnected, default options. */
async function detect(transport: 'node' | 'native', runs: number): Promise<{ transport: string; ms: number[]; median: number; reasons: string[] }> {
  const ms: number[] = [];
  const reasons: string[] = [];
  for (let i = 0; i < runs; i++) {
    const sim = await startSimulation({ rate: 0, addpEnforce: true, hangTimeoutMs: 60_000, autoPromote: false });
    const pair = new TServerPair(pairOptions(sim, transport, 'detect', [...sim.routePoints, ...sim.agents]));
    pair.on('error', () => {});
    await pair.open();
    await sim.setRate(100);
    await sleep(1000);
    const pid = sim.pids().A!;
    const lost = new Promise<{ at: number; reason: string }>((resolve) => {
      pair.on('EventServerDisconnected', (e) => { if (e.source === 'primary') resolve({ at: performance.now(), reason: e.reason }); });
    });
    const t0 = performance.now();
    process.kill(pid, 'SIGSTOP');
    const r = await Promise.race([lost, sleep(30_000).then(() => ({ at: NaN, reason: 'none within 30 s' }))]);
    process.kill(pid, 'SIGCONT');
    ms.push(Math.round((r.at - t0) * 10) / 10);
    reasons.push(r.reason);
    log(`${transport}: run ${i + 1}: ${ms[ms.length - 1]} ms (${r.reason})`);
    await pair.close().catch(() => {});
    await sim.stop();
  }
  const sorted = [...ms].sort((a, b) => a - b);
  return { transport, ms, median: sorted[Math.floor(sorted.length / 2)]!, reasons };
}

async function main(): Promise<void> {
  const out: unknown[] = [];
  for (const t of transports) {
    if (args.detect !== undefined) {
      out.push(await detect(t, Number(args.detect)));
    } else {
      const r = await soak(t);
      out.push(r);
      if (!args.json) {
        log(`${t}: ${r.seconds.toFixed(0)} s, ${r.events} events, routed ${r.routed} (failed ${r.routeFailed}); false failovers ${r.falseFailovers}; disconnects ${JSON.stringify(r.disconnects)}; sim switchovers ${r.simSwitchovers}; load ${r.loadavg.map((x) => x.toFixed(1)).join(' ')}`);
        for (const [k, e] of Object.entries(r.eld)) log(`  event-loop delay ${k}: per-second max p50 ${e.p50} ms, p99 ${e.p99} ms, max ${e.max} ms; seconds ≥250 ms ${e.secondsOver250}, ≥500 ms ${e.secondsOver500}`);
        for (const l of r.losses) log(`  loss ${l.pair}/${l.source} ${l.reason}: delay around it ${JSON.stringify(l.eldAround)}`);
      }
    }
  }
  process.stdout.write(JSON.stringify(out, null, args.json ? 2 : 0) + '\n');
}

main().then(() => process.exit(0), (err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
