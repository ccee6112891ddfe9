/**
 * bench:pair — what the application pays on its main thread per event, through the public API: a hot
 * TServerPair, an `event` listener (or the `events()` iterator), native vs node transport side by side.
 * µs/event = event-loop active time ÷ events delivered (ELU × wall time), as bench:transport measures the
 * transport alone. The event source is a child process (the scripted peer, lib/sim/scripted-peer.ts,
 * through test/helpers/child-peer.ts) acting as both servers of the pair (two ports, the second says
 * ServerRole 1), so only the pairs run in this process.
 *
 *   npm run bench:pair -- [--json] [--runs 3] [--seconds 3] [--only load,listeners,pairs,idle]
 *
 * Sections: load (one hot pair, listener reading ThisDN and ConnID, 20k / 100k events/s / saturation);
 * listeners (at 100k: reads nothing / two attributes / every attribute / events() reading two);
 * pairs (1, 100, 500 hot pairs sharing 20k events/s); idle (500 idle hot pairs against the synthetic peer,
 * `breaker: false`, ADDP 500 ms: main-thread %, RSS, fds, threads per pair); idle-sim (500 and 1,000 idle hot
 * pairs with the DEFAULT options against the simulator — lib/sim startSimulation with `addpEnforce`, so
 * heartbeats run both ways, and each pair registers the simulator's 12 DNs). Medians of `--runs` runs; the
 * ratio column is native ÷ node. `--idle-pairs 500,1000` picks the idle-sim sizes.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { TServerPair } from '../lib/pair/pair.js';
import type { TEvent } from '../lib/pair/events.js';
import { Attr } from '../lib/protocol/ids.js';
import { createTransport, isTransportAvailable, type Transport } from '../lib/transport/index.js';
import { MessageType, encodeMessage } from '../lib/protocol/index.js';
import { ChildPeer } from '../test/helpers/child-peer.js';
import { startSimulation } from '../lib/sim/index.js';
import { NativeTransport } from '../lib/native/native-transport.js';
import { getHeapSpaceStatistics } from 'node:v8';

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    runs: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '3' },
    only: { type: 'string', default: 'load,listeners,pairs,idle,idle-sim' },
    'idle-pairs': { type: 'string', default: '500,1000' },
    'idle-child': { type: 'string' },
    'sim-host': { type: 'boolean', default: false },
  },
});
const RUNS = Number(args.runs);
const SECONDS = Number(args.seconds);
const only = new Set(args.only.split(','));
const kinds = (['native', 'node'] as const).filter((k) => k === 'node' || isTransportAvailable('native'));
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

type Listener = 'nothing' | 'two' | 'every' | 'iterator' | 'transport';

interface Row {
  section: string;
  kind: string;
  load: string;
  listener: Listener;
  pairs: number;
  delivered: number[];
  eventsPerSec: number;
  usPerEvent: number;
  elu: number;
}

let sink = 0;
/** What each listener variant reads, like a router would. */
function consume(e: TEvent, how: Listener): void {
  if (how === 'nothing') return;
  if (how === 'every') {
    sink += Object.keys(e.attributes).length;
    return;
  }
  const dn = e.get(Attr.ThisDN);
  const conn = e.get(Attr.ConnID);
  if (typeof dn === 'string') sink += dn.length;
  if (typeof conn === 'bigint') sink += Number(conn & 1n);
}

async function openPairs(peer: ChildPeer, n: number, kind: string, how: Listener, count: { n: number }, defaultAddp = false): Promise<{ pairs: TServerPair[]; stop: () => Promise<void> }> {
  const pairs: TServerPair[] = [];
  const abort = new AbortController();
  const iterating: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    const pair = new TServerPair({
      name: `P${i}`,
      primary: { host: '127.0.0.1', port: peer.port },
      backup: { host: '127.0.0.1', port: peer.backupPort! },
      mode: 'hot',
      dns: ['5001'],
      transport: kind as 'native' | 'node',
      // Idle pairs run with the default heartbeat (500 ms): polls are what an idle pair costs.
      ...(defaultAddp ? {} : { addp: { timeoutMs: 5000 } }),
      breaker: false,
      window: { maxFrames: 100_000 },
    });
    if (how === 'iterator') {
      iterating.push((async () => {
        for await (const r of pair.events({ signal: abort.signal, maxBuffered: 1_000_000 })) {
          if (r.type !== 'event') continue;
          count.n++;
          consume(r.data, 'two');
        }
      })());
    } else {
      pair.on('event', (e) => {
        count.n++;
        consume(e, how);
      });
    }
    pairs.push(pair);
  }
  // Open in slices: hundreds of handshakes at once only measure the peer.
  for (let i = 0; i < pairs.length; i += 50) await Promise.all(pairs.slice(i, i + 50).map((p) => p.open()));
  // Hot: wait until every backup is connected too (its window is part of the cost).
  for (;;) {
    if (pairs.every((p) => p.state.endpoints.backup.server === 'open')) break;
    await sleep(20);
  }
  return {
    pairs,
    stop: async () => {
      abort.abort();
      await Promise.all(pairs.map((p) => p.close()));
      await Promise.allSettled(iterating);
    },
  };
}

/**
 * The transport alone (bench:transport's hot pair: one connection delivering, one holding its window), a
 * listener reading each frame's sequence number from the index: the floor the pair adds to.
 */
async function measureTransport(kind: string, rate: number): Promise<{ delivered: number; eventsPerSec: number; usPerEvent: number; elu: number }> {
  const peer = await ChildPeer.start({ backupPort: true });
  const ts: Transport[] = [];
  try {
    let delivered = 0;
    let touch = 0;
    for (const port of [peer.port, peer.backupPort!]) {
      const t = createTransport({ host: '127.0.0.1', port, addp: { timeoutMs: 5000 } }, kind as 'native' | 'node');
      await t.connect();
      const linked = new Promise<void>((resolve) => t.on('frames', (b) => {
        for (let i = 0; i < b.count; i++) if (b.type(i) === MessageType.EventLinkConnected) resolve();
      }));
      t.send(encodeMessage(MessageType.RequestRegisterClient, { ApplicationName: 'bench', ReferenceID: 1 }));
      await linked;
      ts.push(t);
    }
    ts[1]!.hold({ maxFrames: 100_000, maxBytes: 64 << 20 });
    ts[0]!.on('frames', (b) => {
      delivered += b.count;
      for (let i = 0; i < b.count; i++) touch += b.seq(i) & 1;
    });
    peer.stream(rate, 64);
    await sleep(700);
    const d0 = delivered;
    const e0 = performance.eventLoopUtilization();
    const w0 = performance.now();
    await sleep(SECONDS * 1000);
    const e = performance.eventLoopUtilization(e0);
    const wall = performance.now() - w0;
    const n = delivered - d0;
    peer.stopStream();
    sink += touch;
    return { delivered: n, eventsPerSec: Math.round((n / wall) * 1000), usPerEvent: n > 0 ? (e.active * 1000) / n : NaN, elu: e.utilization };
  } finally {
    for (const t of ts) await t.destroy();
    await peer.kill();
  }
}

/** One measurement: `n` pairs, the peer streaming `ratePerPair` (0 = saturation) to each. */
async function measure(kind: string, n: number, ratePerPair: number, how: Listener): Promise<{ delivered: number; eventsPerSec: number; usPerEvent: number; elu: number }> {
  const peer = await ChildPeer.start({ backupPort: true, backlog: 2048 });
  const count = { n: 0 };
  const { stop } = await openPairs(peer, n, kind, how, count);
  try {
    peer.stream(ratePerPair, 64);
    await sleep(700); // warm-up
    const c0 = count.n;
    const e0 = performance.eventLoopUtilization();
    const w0 = performance.now();
    await sleep(SECONDS * 1000);
    const e = performance.eventLoopUtilization(e0);
    const wall = performance.now() - w0;
    const delivered = count.n - c0;
    peer.stopStream();
    return { delivered, eventsPerSec: Math.round((delivered / wall) * 1000), usPerEvent: delivered > 0 ? (e.active * 1000) / delivered : NaN, elu: e.utilization };
  } finally {
    await stop();
    await peer.kill();
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function row(section: string, kind: string, load: string, n: number, ratePerPair: number, how: Listener): Promise<Row> {
  const rs = [];
  for (let r = 0; r < RUNS; r++) rs.push(how === 'transport' ? await measureTransport(kind, ratePerPair) : await measure(kind, n, ratePerPair, how));
  return {
    section, kind, load, listener: how, pairs: n, delivered: rs.map((x) => x.delivered),
    eventsPerSec: median(rs.map((x) => x.eventsPerSec)), usPerEvent: median(rs.map((x) => x.usPerEvent)), elu: median(rs.map((x) => x.elu)),
  };
}

interface IdleRow {
  kind: string;
  /** `peer`: the synthetic child peer, breaker off, ADDP 500 ms; `sim`: the simulator, default options. */
  source: 'peer' | 'sim';
  pairs: number;
  elu: number;
  rssPerPairKiB: number;
  fdsPerPair: number;
  threads: number;
  threadsBefore: number;
  runs?: { elu: number; rssPerPairKiB: number }[];
  /** JS heap in use after a GC, per pair (settled). */
  heapPerPairKiB?: number;
  /** RSS per pair once V8's young generation shrank back after the opening burst. */
  rssSettledPerPairKiB?: number;
  /** Heartbeat records crossing from the I/O thread to JS per second, all pairs (native). */
  heartbeatRecordsPerSec?: number;
}

const fds = () => readdirSync('/proc/self/fd').length;
const threads = () => Number(/Threads:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN);

/** Measured in a fresh process (`--idle-child kind:n:source`): RSS and threads are not disturbed by earlier runs. */
function idleOnce(kind: string, n: number, source: 'peer' | 'sim'): Promise<IdleRow> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--idle-child', `${kind}:${n}:${source}`, '--seconds', String(SECONDS)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as IdleRow) : reject(new Error(`idle child exited with ${code}`))));
  });
}

const optMedian = (xs: (number | undefined)[]) => (xs.some((x) => x === undefined) ? undefined : median(xs as number[]));

/** Median of `--runs` fresh processes (each value on its own). */
async function idle(kind: string, n: number, source: 'peer' | 'sim'): Promise<IdleRow> {
  const rs: IdleRow[] = [];
  for (let r = 0; r < RUNS; r++) rs.push(await idleOnce(kind, n, source));
  return {
    ...rs[0]!, elu: median(rs.map((x) => x.elu)), rssPerPairKiB: median(rs.map((x) => x.rssPerPairKiB)),
    fdsPerPair: median(rs.map((x) => x.fdsPerPair)), heapPerPairKiB: optMedian(rs.map((x) => x.heapPerPairKiB)),
    rssSettledPerPairKiB: optMedian(rs.map((x) => x.rssSettledPerPairKiB)), heartbeatRecordsPerSec: optMedian(rs.map((x) => x.heartbeatRecordsPerSec)), runs: rs.map((x) => ({ elu: x.elu, rssPerPairKiB: x.rssSettledPerPairKiB ?? x.rssPerPairKiB })),
  };
}

/**
 * The simulator in a process of its own (`--sim-host`): its management role talks to its children over IPC
 * many times a second, which is not the pairs' cost and must not land on the measured main thread.
 */
class SimHost {
  private constructor(
    private readonly child: ReturnType<typeof spawn>,
    readonly primary: { host: string; port: number },
    readonly backup: { host: string; port: number },
    readonly routePoints: string[],
    readonly agents: string[],
  ) {}

  static start(): Promise<SimHost> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--sim-host'], { stdio: ['pipe', 'pipe', 'inherit'] });
      let out = '';
      child.stdout!.on('data', (d) => {
        out += d;
        const nl = out.indexOf('\n');
        if (nl < 0) return;
        const s = JSON.parse(out.slice(0, nl)) as { primary: { host: string; port: number }; backup: { host: string; port: number }; routePoints: string[]; agents: string[] };
        resolve(new SimHost(child, s.primary, s.backup, s.routePoints, s.agents));
      });
      child.on('exit', (code) => reject(new Error(`sim host exited with ${code}`)));
    });
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      this.child.once('exit', () => resolve());
      this.child.stdin!.end();
    });
  }
}

async function simHost(): Promise<void> {
  const sim = await startSimulation({ mode: 'hot', addpEnforce: true });
  const ep = (e: { host: string; port: number }) => ({ host: e.host, port: e.port });
  process.stdout.write(`${JSON.stringify({ primary: ep(sim.primary), backup: ep(sim.backup), routePoints: sim.routePoints, agents: sim.agents })}\n`);
  process.stdin.resume();
  await new Promise<void>((r) => process.stdin.once('end', () => r()));
  await sim.stop();
}

/**
 * `n` idle hot pairs with the default options (no `breaker`, `addp`, `window` given) against the simulator:
 * real frames (handshake, link and role reports), the servers' own ADDP polls answered by the transport
 * (`addpEnforce`), our polls answered by the servers, every pair registering the simulator's DNs.
 */
async function idleSimHere(kind: string, n: number): Promise<IdleRow> {
  const sim = await SimHost.start();
  const dnList = [...sim.routePoints, ...sim.agents];
  const open = async (count: number) => {
    const pairs: TServerPair[] = [];
    for (let i = 0; i < count; i++) {
      pairs.push(new TServerPair({
        name: `S${i}`,
        primary: { host: sim.primary.host, port: sim.primary.port },
        backup: { host: sim.backup.host, port: sim.backup.port },
        dns: dnList,
        transport: kind as 'native' | 'node',
      }));
    }
    for (let i = 0; i < pairs.length; i += 50) await Promise.all(pairs.slice(i, i + 50).map((p) => p.open()));
    for (;;) {
      if (pairs.every((p) => p.state.endpoints.backup.server === 'open' && p.state.endpoints.primary.server === 'open')) break;
      await sleep(20);
    }
    return pairs;
  };
  try {
    // Start the I/O thread and warm the code with one pair first.
    const warm = await open(1);
    await Promise.all(warm.map((p) => p.close()));
    await sleep(200);
    global.gc?.();
    const m0 = process.memoryUsage();
    const rss0 = m0.rss;
    const fd0 = fds();
    const th0 = threads();
    const pairs = await open(n);
    try {
      // Let registrations, the first heartbeats and the breakers' windows settle.
      await sleep(2000);
      global.gc?.();
      const m = process.memoryUsage();
      const fd = fds();
      const stopProfile = process.env.BENCH_PAIR_PROFILE ? await profile(process.env.BENCH_PAIR_PROFILE) : null;
      const hb0 = heartbeatRecords;
      const e0 = performance.eventLoopUtilization();
      const w0 = performance.now();
      await sleep(SECONDS * 1000);
      const e = performance.eventLoopUtilization(e0);
      const hbPerSec = ((heartbeatRecords - hb0) * 1000) / (performance.now() - w0);
      await stopProfile?.();
      // Opening hundreds of pairs at once grows V8's young generation to its maximum (32 MiB: a fixed cost,
      // not a per-pair one); V8 shrinks it at a full GC once allocation has stopped — its memory reducer does
      // that on an idle process on its own schedule, here full GCs every 2 s until it has (at most 30 s).
      // The freed pages leave the RSS a moment after the GC (V8 unmaps them on a background thread).
      const settleEnd = Date.now() + 30_000;
      while (Date.now() < settleEnd && newSpaceBytes() > 2 * 1024 * 1024) {
        global.gc?.();
        await sleep(2000);
      }
      global.gc?.();
      await sleep(1000);
      const settled = process.memoryUsage();
      return {
        kind, source: 'sim', pairs: n, elu: e.utilization, rssPerPairKiB: (m.rss - rss0) / 1024 / n, fdsPerPair: (fd - fd0) / n, threads: threads(), threadsBefore: th0,
        heapPerPairKiB: (settled.heapUsed - m0.heapUsed) / 1024 / n, rssSettledPerPairKiB: (settled.rss - rss0) / 1024 / n,
        heartbeatRecordsPerSec: kind === 'native' ? hbPerSec : undefined,
      };
    } finally {
      await Promise.all(pairs.map((p) => p.close()));
    }
  } finally {
    await sim.stop();
  }
}

/** Bytes V8's young generation has now (grows under an allocation burst, shrinks when quiet). */
function newSpaceBytes(): number {
  return getHeapSpaceStatistics().find((x) => x.space_name === 'new_space')?.space_size ?? 0;
}

/** Heartbeat records the native I/O thread delivered to JS in this process (counted at the transport). */
let heartbeatRecords = 0;
{
  const proto = NativeTransport.prototype as unknown as { onHeartbeat: (rtt: number, at: number) => void };
  const original = proto.onHeartbeat;
  proto.onHeartbeat = function (this: NativeTransport, rtt: number, at: number) {
    heartbeatRecords++;
    original.call(this, rtt, at);
  };
}

/** BENCH_PAIR_PROFILE=<file>: a CPU profile of the idle window only (the child's measured seconds). */
async function profile(file: string): Promise<() => Promise<void>> {
  const { Session } = await import('node:inspector/promises');
  const { writeFileSync } = await import('node:fs');
  const s = new Session();
  s.connect();
  await s.post('Profiler.enable');
  await s.post('Profiler.start');
  return async () => {
    const { profile: p } = await s.post('Profiler.stop');
    writeFileSync(file, JSON.stringify(p));
    s.disconnect();
  };
}

async function idleHere(kind: string, n: number): Promise<IdleRow> {
  const peer = await ChildPeer.start({ backupPort: true, backlog: 2048 });
  // The I/O thread starts with the first native transport: start it (and warm the code) with one pair first.
  const warm = await openPairs(peer, 1, kind, 'nothing', { n: 0 }, true);
  await warm.stop();
  global.gc?.();
  const rss0 = process.memoryUsage().rss;
  const fd0 = fds();
  const th0 = threads();
  const { stop } = await openPairs(peer, n, kind, 'nothing', { n: 0 }, true);
  try {
    await sleep(1000);
    global.gc?.();
    const rss = process.memoryUsage().rss;
    const fd = fds();
    const e0 = performance.eventLoopUtilization();
    await sleep(SECONDS * 1000);
    const e = performance.eventLoopUtilization(e0);
    return { kind, source: 'peer', pairs: n, elu: e.utilization, rssPerPairKiB: (rss - rss0) / 1024 / n, fdsPerPair: (fd - fd0) / n, threads: threads(), threadsBefore: th0 };
  } finally {
    await stop();
    await peer.kill();
  }
}

async function main(): Promise<void> {
  if (args['sim-host']) return simHost();
  if (args['idle-child']) {
    const [kind, n, source] = args['idle-child'].split(':');
    console.log(JSON.stringify(source === 'sim' ? await idleSimHere(kind!, Number(n)) : await idleHere(kind!, Number(n))));
    return;
  }
  const rows: Row[] = [];
  const idles: IdleRow[] = [];
  const say = (s: string) => {
    if (!args.json) console.error(s);
  };
  for (const kind of kinds) {
    if (only.has('load')) {
      for (const [label, rate] of [['20k/s', 20_000], ['100k/s', 100_000], ['saturation', 0]] as const) {
        say(`load ${kind} ${label}`);
        rows.push(await row('load', kind, label, 1, rate, 'two'));
        say(`transport ${kind} ${label}`);
        rows.push(await row('transport alone', kind, label, 1, rate, 'transport'));
      }
    }
    if (only.has('listeners')) {
      for (const how of ['nothing', 'two', 'every', 'iterator'] as const) {
        say(`listeners ${kind} ${how}`);
        rows.push(await row('listeners', kind, '100k/s', 1, 100_000, how));
      }
    }
    if (only.has('pairs')) {
      for (const n of [1, 100, 500]) {
        say(`pairs ${kind} ${n}`);
        rows.push(await row('pairs', kind, '20k/s total', n, Math.round(20_000 / n), 'two'));
      }
    }
    if (only.has('idle')) {
      say(`idle ${kind} 500 (synthetic peer)`);
      idles.push(await idle(kind, 500, 'peer'));
    }
  }
  // The simulator rows, native and node side by side per size.
  if (only.has('idle-sim')) {
    for (const n of args['idle-pairs'].split(',').map(Number)) {
      for (const kind of kinds) {
        say(`idle ${kind} ${n} (simulator, default options)`);
        idles.push(await idle(kind, n, 'sim'));
      }
    }
  }
  if (args.json) {
    console.log(JSON.stringify({ runs: RUNS, seconds: SECONDS, rows, idle: idles }));
    return;
  }
  const ratio = (r: Row) => {
    if (r.kind !== 'native') return '';
    const node = rows.find((x) => x.kind === 'node' && x.section === r.section && x.load === r.load && x.listener === r.listener && x.pairs === r.pairs);
    return node ? `${(r.usPerEvent / node.usPerEvent).toFixed(2)}×` : '';
  };
  console.log(`bench:pair — main-thread µs per delivered event through TServerPair (median of ${RUNS} runs of ${SECONDS} s)\n`);
  console.log('| section | transport | load | listener | pairs | delivered ev/s | ELU | µs/event | native ÷ node |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(`| ${r.section} | ${r.kind} | ${r.load} | ${r.listener} | ${r.pairs} | ${r.eventsPerSec.toLocaleString('en-US')} | ${(r.elu * 100).toFixed(1)} % | ${r.usPerEvent.toFixed(2)} | ${ratio(r)} |`);
  }
  if (idles.length) {
    console.log(`\n| idle hot pairs | against | transport | main thread | RSS per pair, settled | RSS per pair, right after opening | of it JS heap | heartbeat records to JS | fds per pair | threads (before → with pairs) | runs (main thread / RSS) |`);
    console.log('|---|---|---|---|---|---|---|---|---|---|---|');
    const kib = (v: number | undefined) => (v === undefined ? '' : `${v.toFixed(0)} KiB`);
    for (const i of idles) {
      const src = i.source === 'sim' ? 'simulator, default options' : 'synthetic peer, breaker off';
      const runs = (i.runs ?? []).map((r) => `${(r.elu * 100).toFixed(2)} % / ${r.rssPerPairKiB.toFixed(0)}`).join(', ');
      const hb = i.heartbeatRecordsPerSec === undefined ? '' : `${i.heartbeatRecordsPerSec.toFixed(0)}/s`;
      console.log(`| ${i.pairs} | ${src} | ${i.kind} | ${(i.elu * 100).toFixed(2)} % | ${kib(i.rssSettledPerPairKiB)} | ${kib(i.rssPerPairKiB)} | ${kib(i.heapPerPairKiB)} | ${hb} | ${i.fdsPerPair.toFixed(2)} | ${i.threadsBefore} → ${i.threads} | ${runs} |`);
    }
  }
  void sink;
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
