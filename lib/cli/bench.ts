/**
 * `tserver-ha bench`: the failover benchmark, on the built-in simulator (modes × transports × faults, N
 * runs per cell) or against a lab pair of real T-Servers, with latency distributions (HdrHistogram), a
 * terminal table, JSON and a self-contained HTML report; `tserver-ha bench compare a.json b.json`.
 * bench/README.md explains every number.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { TServerPair } from '../pair/pair.js';
import { DEFAULT_ROUTE_TIMEOUT_MS } from '../sim/index.js';
import { isTransportAvailable } from '../transport/index.js';
import { renderHtml } from './bench/html.js';
import { LabSession, type LabConfig } from './bench/lab-runner.js';
import { Progress, compareReports, renderCompare, renderReport } from './bench/output.js';
import { SimCell, type SimCellConfig } from './bench/sim-runner.js';
import { cellOf, verdictOf } from './bench/stats.js';
import { SIM_FAULTS, type BenchReport, type CellResult, type Mode, type RunResult, type SimFault, type TransportName } from './bench/types.js';
import { Interrupted, rng } from './bench/wait.js';
import { UsageError, intArg, parseCommandArgs, type Command } from './command.js';

const usage = `usage: tserver-ha bench [options]              the failover benchmark (simulator by default)
       tserver-ha bench --primary H:P --backup H:P --dns LIST (--fault-cmd CMD | --manual) [options]
       tserver-ha bench compare A.json B.json [--json]

On the built-in simulator (a switch and a primary/backup T-Server pair as real processes on loopback),
every cell (mode × transport × fault) runs --runs failovers: a TServerPair routes every call, the fault hits
the primary, and each run measures detection, the first event from the other server, requests flowing again,
the client's own overhead, events lost/duplicated against the switch's log, and how every request settled.

simulator:
  --modes LIST               hot,warm (default both)
  --transports LIST          native,node (default both; native skipped when the addon is not built)
  --faults LIST              kill,stop,link-down,switchover (default kill)
  --runs N                   runs per cell (default 100)
  --rate N                   switch events per second during a run (default 5000)
  --promotion-delay MS       the management role promotes the backup this long after a failure (default 300)
  --route-timeout MS         a call unrouted this long goes to its default destination (default ${DEFAULT_ROUTE_TIMEOUT_MS})
  --link-down MS             link-down: how long the primary's CTI link stays down (default 500)
  --after MS                 traffic kept after requests flow again (default 300)
  --addp MS                  the pair's ADDP timeout (default: the pair's, 500)
  --request-timeout MS       deadline of each RequestRouteCall (default 1000)
  --seed N                   seeds the bench's own choices (fault moment, agents; default: random)

a lab pair (real T-Servers; nothing is routed unless --route-to names a destination):
  --primary HOST:PORT        the server that is primary now
  --backup HOST:PORT         its backup
  --mode hot|warm            standby mode (default hot)
  --transport native|node    (default native when the addon is built, else node)
  --dns LIST                 DNs to register, e.g. 7000,7001,5000-5019 (default none)
  --fault-cmd "CMD"          shell command that causes the failover, run once per run with TSHA_PRIMARY,
                             TSHA_BACKUP (host:port of the current primary/backup), TSHA_MODE, TSHA_RUN
  --manual                   no command: the operator performs the switchover when prompted (times are
                             then measured from the pair's detection)
  --restore-cmd "CMD"        run after each run to bring the failed server back (TSHA_FAILED, TSHA_PRIMARY)
  --route-to DN              answer every EventRouteRequest on --dns with RequestRouteCall to DN (this
                             changes calls on the switch; without it the bench only listens)
  --runs N                   runs (default 1)
  --before MS / --after MS   traffic watched before the fault / after recovery (default 2000 / 2000)
  --wait-timeout MS          bound of every wait: healthy pair, fault command, recovery (default 60000)
  --app NAME                 ApplicationName (default tserver-ha-bench)

output:
  --json                     the whole report as JSON on stdout (no table, no progress line)
  --out FILE                 also write the JSON report to FILE
  --html FILE                write a self-contained HTML report (charts, works offline)
  --verbose                  one line per run on stderr
  -h, --help                 this text

Progress (cell, run i/N, ETA) goes to stderr on a terminal. Ctrl-C stops after cleaning up and still writes
what was measured (marked interrupted; exit code 130). Exit code 1 when an event was lost outside a gap or
duplicated, a request stayed unsettled, a failed request no documented rule explains, a request's outcome
contradicts the switch's log (simulator), or a call was routed twice.
`;

const list = <T extends string>(name: string, v: string | undefined, def: readonly T[], allowed: readonly T[]): T[] => {
  if (v === undefined) return [...def];
  const items = v.split(',').map((x) => x.trim()).filter(Boolean);
  if (items.length === 0) throw new UsageError(`--${name} is empty`);
  for (const x of items) if (!allowed.includes(x as T)) throw new UsageError(`--${name}: '${x}' is not one of ${allowed.join(', ')}`);
  return [...new Set(items)] as T[];
};

function hostPort(name: string, v: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(v);
  if (!m) throw new UsageError(`--${name} must be HOST:PORT, got '${v}'`);
  const port = Number(m[2]);
  if (port < 1 || port > 65535) throw new UsageError(`--${name}: port out of range in '${v}'`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

/** `7000,7001,5000-5003` → the DNs. */
export function dnList(v: string | undefined): string[] {
  if (!v) return [];
  const out: string[] = [];
  for (const part of v.split(',').map((x) => x.trim()).filter(Boolean)) {
    const r = /^(\d+)-(\d+)$/.exec(part);
    if (r) {
      const [a, b] = [Number(r[1]), Number(r[2])];
      if (b < a || b - a > 100_000) throw new UsageError(`--dns: bad range '${part}'`);
      for (let d = a; d <= b; d++) out.push(String(d).padStart(r[1]!.length, '0'));
    } else out.push(part);
  }
  return [...new Set(out)];
}

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** Ctrl-C / SIGTERM: the first aborts the bench (it cleans up and writes what it has), the second exits now. */
function interruptible(): { signal: AbortSignal; dispose(): void } {
  const ac = new AbortController();
  const on = () => {
    if (ac.signal.aborted) {
      // The simulator's exit hook SIGKILLs its children.
      process.exit(130);
    }
    process.stderr.write('\ntserver-ha bench: interrupted, cleaning up and writing what was measured (Ctrl-C again to quit now)\n');
    ac.abort();
  };
  process.on('SIGINT', on);
  process.on('SIGTERM', on);
  return {
    signal: ac.signal,
    dispose: () => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
    },
  };
}

function runLine(r: RunResult): string {
  const f = (x: number | null | undefined) => (x === null || x === undefined ? '-' : x.toFixed(2));
  if (r.error) return `${r.cell} run ${r.run + 1}: ERROR ${r.error}`;
  const m = r.metrics;
  const q = r.requests;
  return `${r.cell} run ${r.run + 1}: detect ${f(m.detectMs)} firstEvent ${f(m.firstEventMs)} promo ${f(m.promotionMs)} ready ${f(m.readyMs)} recover ${f(m.recoverMs)} overhead ${f(m.overheadMs)} ms; ` +
    `lost ${r.events.lost} (+${r.events.lostInGap} in gap) dup ${r.events.duplicated}; req ${q.sent}: answered ${q.resolved.answered} on-repeat ${q.resolved['answered-on-repeat']} done-earlier ${q.resolved['done-earlier-1202']}+${q.resolved['done-earlier-stream']}; ` +
    `failed sw ${q.switchover} to ${q.timeout} srv ${q.server} else ${q.elsewhere} oth ${q.other}; unexplained ${q.unexplained} wrong ${q.wrongOutcome} twice ${q.doubleRouted} unsettled ${q.unsettled}`;
}

async function compare(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  const files = argv.filter((a) => a !== '--json');
  if (files.includes('-h') || files.includes('--help')) {
    process.stdout.write(usage);
    return 0;
  }
  if (files.length !== 2) throw new UsageError('compare takes two JSON reports: tserver-ha bench compare A.json B.json');
  const load = (f: string): BenchReport => {
    let r: BenchReport;
    try {
      r = JSON.parse(readFileSync(f, 'utf8')) as BenchReport;
    } catch (err) {
      throw new UsageError(`cannot read ${f}: ${(err as Error).message}`);
    }
    if (r?.tool !== 'tserver-ha bench' || !Array.isArray(r.cells)) throw new UsageError(`${f} is not a tserver-ha bench JSON report`);
    return r;
  };
  const [a, b] = [load(files[0]!), load(files[1]!)];
  if (json) {
    const cmp = compareReports(a, b);
    const diff = Object.fromEntries(Object.entries(b.config).filter(([k, x]) => JSON.stringify(a.config[k]) !== JSON.stringify(x)).map(([k, x]) => [k, { a: a.config[k], b: x }]));
    process.stdout.write(JSON.stringify({ a: files[0], b: files[1], load: { a: a.host, b: b.host }, configChanged: diff, significant: cmp.significant, tested: cmp.tested, verdict: cmp.tested === 0 ? 'too few runs' : cmp.significant === 0 ? 'no significant change' : `${cmp.significant} significant difference(s)`, cells: cmp.cells }, null, 2) + '\n');
  } else process.stdout.write(renderCompare(a, b, files[0]!, files[1]!));
  return 0;
}

async function run(argv: string[]): Promise<number> {
  if (argv[0] === 'compare') return compare(argv.slice(1));
  const v = parseCommandArgs(argv, {
    modes: { type: 'string' },
    transports: { type: 'string' },
    faults: { type: 'string' },
    runs: { type: 'string' },
    rate: { type: 'string' },
    'promotion-delay': { type: 'string' },
    'route-timeout': { type: 'string' },
    'link-down': { type: 'string' },
    after: { type: 'string' },
    before: { type: 'string' },
    addp: { type: 'string' },
    'request-timeout': { type: 'string' },
    seed: { type: 'string' },
    primary: { type: 'string' },
    backup: { type: 'string' },
    mode: { type: 'string' },
    transport: { type: 'string' },
    dns: { type: 'string' },
    'fault-cmd': { type: 'string' },
    manual: { type: 'boolean' },
    'restore-cmd': { type: 'string' },
    'route-to': { type: 'string' },
    'wait-timeout': { type: 'string' },
    app: { type: 'string' },
    json: { type: 'boolean' },
    out: { type: 'string' },
    html: { type: 'string' },
    verbose: { type: 'boolean' },
  }, usage);
  if (!v) return 0;
  const lab = v.primary !== undefined || v.backup !== undefined;
  const say = (s: string) => process.stderr.write(s + '\n');
  const progressOn = !v.json && process.stderr.isTTY === true;
  const startedAt = new Date();
  const loadAtStart = loadavg();
  const t0 = Date.now();
  const cells: CellResult[] = [];
  let interrupted = false;
  let config: Record<string, unknown>;
  const stop = interruptible();
  const signal = stop.signal;

  const requestTimeoutMs = intArg('request-timeout', v['request-timeout'], 1000, 1, 600_000);
  const addpMs = v.addp === undefined ? undefined : intArg('addp', v.addp, 0, 10, 3_600_000);

  try {
    if (lab) {
      for (const k of ['modes', 'transports', 'faults', 'rate', 'promotion-delay', 'route-timeout', 'link-down', 'seed'] as const) {
        if (v[k] !== undefined) throw new UsageError(`--${k} is for the simulator, not a lab pair`);
      }
      if (!v.primary || !v.backup) throw new UsageError('a lab pair needs both --primary and --backup');
      if (!v['fault-cmd'] === !v.manual) throw new UsageError('a lab pair needs exactly one of --fault-cmd "CMD" and --manual');
      const mode = (v.mode ?? 'hot') as Mode;
      if (mode !== 'hot' && mode !== 'warm') throw new UsageError(`--mode must be hot or warm, got '${mode}'`);
      const transport = (v.transport ?? (isTransportAvailable('native') ? 'native' : 'node')) as TransportName;
      if (transport !== 'native' && transport !== 'node') throw new UsageError(`--transport must be native or node, got '${transport}'`);
      if (!isTransportAvailable(transport)) throw new UsageError(`--transport ${transport}: not available (the addon is not built or did not load)`);
      const routeTo = v['route-to'] ?? null;
      if (routeTo !== null && !/^[\w.+*#-]{1,64}$/.test(routeTo)) throw new UsageError(`--route-to must be a DN, got '${routeTo}'`);
      const runs = intArg('runs', v.runs, 1, 1, 100_000);
      const cfg: LabConfig = {
        primary: hostPort('primary', v.primary),
        backup: hostPort('backup', v.backup),
        mode,
        transport,
        dns: dnList(v.dns),
        faultCmd: v['fault-cmd'] ?? null,
        manual: Boolean(v.manual),
        restoreCmd: v['restore-cmd'] ?? null,
        routeTo,
        beforeMs: intArg('before', v.before, 2000, 0, 3_600_000),
        afterMs: intArg('after', v.after, 2000, 0, 3_600_000),
        requestTimeoutMs,
        waitTimeoutMs: intArg('wait-timeout', v['wait-timeout'], 60_000, 100, 86_400_000),
        addpMs,
        applicationName: v.app ?? 'tserver-ha-bench',
        say,
      };
      config = { runs, primary: v.primary, backup: v.backup, mode, transport, dns: cfg.dns, faultCmd: cfg.faultCmd, manual: cfg.manual, restoreCmd: cfg.restoreCmd, routeTo, beforeMs: cfg.beforeMs, afterMs: cfg.afterMs, requestTimeoutMs, waitTimeoutMs: cfg.waitTimeoutMs, addpMs: addpMs ?? null };
      say(
        routeTo
          ? `tserver-ha bench: ACTIVE — every EventRouteRequest on ${cfg.dns.length} DN(s) will be answered with RequestRouteCall to ${routeTo}: this routes real calls on the switch.`
          : `tserver-ha bench: passive — registers ${cfg.dns.length} DN(s) as ${cfg.applicationName} and listens; it sends no request that changes the switch (no routing).`,
      );
      say(cfg.manual ? 'tserver-ha bench: you will be prompted to perform each switchover.' : `tserver-ha bench: each run starts the failover with: ${cfg.faultCmd}`);
      const key = `${mode}/${transport}/${cfg.manual ? 'manual' : 'fault-cmd'}`;
      const session = new LabSession(key, cfg);
      const results: RunResult[] = [];
      const progress = new Progress(progressOn && !cfg.manual, runs);
      try {
        await session.start(signal);
        for (let i = 0; i < runs; i++) {
          progress.update(key, 0, 1, i + 1, runs, results.filter((r) => r.error).length);
          const r = await session.run(i, signal);
          results.push(r);
          progress.runDone();
          if (v.verbose || cfg.manual) {
            progress.clear();
            say(runLine(r));
          }
        }
      } catch (err) {
        if (!(err instanceof Interrupted)) throw err;
        interrupted = true;
      } finally {
        progress.clear();
        await session.stop();
        cells.push(cellOf(key, mode, transport, cfg.manual ? 'manual' : 'fault-cmd', results));
      }
    } else {
      for (const k of ['primary', 'backup', 'mode', 'transport', 'dns', 'fault-cmd', 'manual', 'restore-cmd', 'route-to', 'before', 'wait-timeout', 'app'] as const) {
        if (v[k] !== undefined) throw new UsageError(`--${k} is for a lab pair (with --primary and --backup)`);
      }
      const modes = list('modes', v.modes, ['hot', 'warm'], ['hot', 'warm'] as const);
      const explicit = v.transports !== undefined;
      const wanted = list('transports', v.transports, ['native', 'node'], ['native', 'node'] as const);
      const transports = wanted.filter((t) => {
        if (isTransportAvailable(t)) return true;
        if (explicit) throw new UsageError(`--transports ${t}: not available (the addon is not built or did not load)`);
        if (!v.json) say(`tserver-ha bench: transport ${t} not available (addon not built): skipped`);
        return false;
      });
      const faults = list('faults', v.faults, ['kill'], SIM_FAULTS);
      const runs = intArg('runs', v.runs, 100, 1, 100_000);
      const seed = v.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : intArg('seed', v.seed, 0, 0, 2 ** 32 - 1);
      const random = rng(seed);
      const base: Omit<SimCellConfig, 'mode' | 'transport' | 'fault'> = {
        rate: intArg('rate', v.rate, 5000, 1, 1_000_000),
        promotionDelayMs: intArg('promotion-delay', v['promotion-delay'], 300, 0, 600_000),
        addpMs,
        afterMs: intArg('after', v.after, 300, 0, 600_000),
        requestTimeoutMs,
        linkDownMs: intArg('link-down', v['link-down'], 500, 0, 600_000),
        routeTimeoutMs: intArg('route-timeout', v['route-timeout'], DEFAULT_ROUTE_TIMEOUT_MS, 0, 3_600_000),
        warmupEvents: 100,
        stepTimeoutMs: 15_000,
        random,
      };
      config = { runs, modes, transports, faults, seed, rate: base.rate, promotionDelayMs: base.promotionDelayMs, routeTimeoutMs: base.routeTimeoutMs, linkDownMs: base.linkDownMs, afterMs: base.afterMs, addpMs: addpMs ?? null, requestTimeoutMs };
      const plan: { mode: Mode; transport: TransportName; fault: SimFault }[] = [];
      for (const fault of faults) for (const mode of modes) for (const transport of transports) plan.push({ mode, transport, fault });
      const progress = new Progress(progressOn, plan.length * runs);
      try {
        for (const [ci, c] of plan.entries()) {
          const key = `${c.mode}/${c.transport}/${c.fault}`;
          const results: RunResult[] = [];
          let cell: SimCell | undefined;
          try {
            progress.update(key, ci, plan.length, 0, runs, 0);
            cell = await SimCell.start(key, { ...base, ...c });
            for (let i = 0; i < runs; i++) {
              if (signal.aborted) throw new Interrupted();
              progress.update(key, ci, plan.length, i + 1, runs, results.filter((r) => r.error).length);
              const r = await cell.run(i, signal);
              results.push(r);
              progress.runDone();
              if (v.verbose) {
                progress.clear();
                say(runLine(r));
              }
            }
          } finally {
            await cell?.stop();
            if (results.length) cells.push(cellOf(key, c.mode, c.transport, c.fault, results));
          }
        }
      } catch (err) {
        if (!(err instanceof Interrupted)) throw err;
        interrupted = true;
      } finally {
        progress.clear();
      }
    }
  } finally {
    stop.dispose();
  }

  const report: BenchReport = {
    tool: 'tserver-ha bench',
    version: version(),
    node: process.version,
    host: { cpus: cpus().length, loadavg: loadavg(), loadavgAtStart: loadAtStart },
    target: lab ? 'lab' : 'simulator',
    startedAt: startedAt.toISOString(),
    durationMs: Date.now() - t0,
    interrupted,
    command: ['tserver-ha', 'bench', ...argv],
    config,
    cells,
  };
  const json = JSON.stringify(report, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x), 1);
  if (v.out) writeFileSync(v.out, json + '\n');
  if (v.html) writeFileSync(v.html, renderHtml(report));
  if (v.json) process.stdout.write(json + '\n');
  else process.stdout.write(renderReport(report, process.stdout.isTTY === true && !process.env.NO_COLOR));
  if (interrupted) return 130;
  const bad = cells.some((c) => !verdictOf(c).pass);
  return bad ? 1 : 0;
}

// TServerPair is imported so the native transport registers itself (lib/pair/pair.ts) before availability is checked.
void TServerPair;

/** The `bench` subcommand. */
export const command: Command = { summary: 'failover benchmark on the simulator or a lab pair, with an HTML report', usage, run };
