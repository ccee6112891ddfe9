/**
 * bench:pair — what the application pays on its main thread per event, through the public API: a hot
 * TServerPair, an `event` listener (or the `events()` iterator), native vs node transport side by side.
 * µs/event = event-loop active time ÷ events delivered (ELU × wall time), as bench:transport measures the
 * transport alone. The event source is a child process (test/helpers/peer-process.mjs) acting as both
 * servers of the pair (two ports, the second says ServerRole 1), so only the pairs run in this process.
 *
 *   npm run bench:pair -- [--json] [--runs 3] [--seconds 3] [--only load,listeners,pairs,idle]
 *
 * Sections: load (one hot pair, listener reading ThisDN and ConnID, 20k / 100k events/s / saturation);
 * listeners (at 100k: reads nothing / two attributes / every attribute / events() reading two);
 * pairs (1, 100, 500 hot pairs sharing 20k events/s); idle (500 idle hot pairs: main-thread %, RSS, fds,
 * threads per pair). Medians of `--runs` runs; the ratio column is native ÷ node.
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

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    runs: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '3' },
    only: { type: 'string', default: 'load,listeners,pairs,idle' },
    'idle-child': { type: 'string' },
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
  pairs: number;
  elu: number;
  rssPerPairKiB: number;
  fdsPerPair: number;
  threads: number;
  threadsBefore: number;
}

const fds = () => readdirSync('/proc/self/fd').length;
const threads = () => Number(/Threads:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN);

/** Measured in a fresh process (`--idle-child kind:n`): RSS and threads are not disturbed by earlier runs. */
function idle(kind: string, n: number): Promise<IdleRow> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--idle-child', `${kind}:${n}`, '--seconds', String(SECONDS)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as IdleRow) : reject(new Error(`idle child exited with ${code}`))));
  });
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
    return { kind, pairs: n, elu: e.utilization, rssPerPairKiB: (rss - rss0) / 1024 / n, fdsPerPair: (fd - fd0) / n, threads: threads(), threadsBefore: th0 };
  } finally {
    await stop();
    await peer.kill();
  }
}

async function main(): Promise<void> {
  if (args['idle-child']) {
    const [kind, n] = args['idle-child'].split(':');
    console.log(JSON.stringify(await idleHere(kind!, Number(n))));
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
      say(`idle ${kind} 500`);
      idles.push(await idle(kind, 500));
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
    console.log('\n| idle hot pairs | transport | main thread | RSS per pair | fds per pair | threads (before → with pairs) |');
    console.log('|---|---|---|---|---|---|');
    for (const i of idles) console.log(`| ${i.pairs} | ${i.kind} | ${(i.elu * 100).toFixed(2)} % | ${i.rssPerPairKiB.toFixed(0)} KiB | ${i.fdsPerPair.toFixed(2)} | ${i.threadsBefore} → ${i.threads} |`);
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
