/**
 * Transport benchmarks (node transport; the native one gets a column by registering its factory):
 *  1. throughput: delivered events/s and main-thread cost per event (event-loop active time ÷ events), one
 *     connection and a hot pair (one delivering, one holding), at fixed offered loads and at saturation;
 *  2. stall immunity: ADDP 200 ms on both sides, the JS thread blocked 2 s every 5 s, counting disconnects
 *     of a healthy peer;
 *  3. silent-peer detection: the peer process is SIGSTOPped; time from the stop to `close`, p50/p99;
 *     with --busy N the JS thread is also kept busy (blocked N ms, then one loop turn, repeatedly) while
 *     the loss is pending, as under a heavy routing load.
 * Kinds: node always; native when lib/native loads and registers it (one column per kind).
 * The event source is a child process (the scripted peer, lib/sim/scripted-peer.ts, through
 * test/helpers/child-peer.ts) on loopback sending pre-encoded EventRouteRequest frames in batched writes.
 *
 * Usage: npm run build && node dist/bench/transport.js [--json] [--only throughput|stall|detect]
 *        [--seconds 3] [--loads 20000,100000,0] [--stall-seconds 60] [--addp 200] [--runs 20] [--busy 0]
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
// Registers the native transport when the addon loaded (it then gets its own rows).
import '../lib/native/register.js';
import { monotonicMs } from '../lib/clock.js';
import { MessageType, encodeMessage } from '../lib/protocol/index.js';
import { createTransport, isTransportAvailable } from '../lib/transport/index.js';
import type { CloseInfo, Transport, TransportOptions } from '../lib/transport/types.js';
import { ChildPeer } from '../test/helpers/child-peer.js';

const { values: args } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    only: { type: 'string' },
    seconds: { type: 'string', default: '3' },
    loads: { type: 'string', default: '20000,100000,0' },
    'stall-seconds': { type: 'string', default: '60' },
    'stall-every': { type: 'string', default: '5000' },
    'stall-ms': { type: 'string', default: '2000' },
    addp: { type: 'string', default: '200' },
    runs: { type: 'string', default: '20' },
    busy: { type: 'string', default: '0' },
  },
});

interface BenchKind {
  name: string;
  create: (o: TransportOptions) => Transport;
}

function kinds(): BenchKind[] {
  const out: BenchKind[] = [{ name: 'node', create: (o) => createTransport(o, 'node') }];
  if (isTransportAvailable('native')) out.push({ name: 'native', create: (o) => createTransport(o, 'native') });
  return out;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const register = (ref: number) => encodeMessage(MessageType.RequestRegisterClient, { ApplicationName: 'bench', ReferenceID: ref });

/** Connect, register, and resolve once the peer has answered the handshake. */
async function open(kind: BenchKind, port: number, o: Partial<TransportOptions> = {}): Promise<Transport> {
  const t = kind.create({ host: '127.0.0.1', port, addp: { timeoutMs: 1000 }, ...o });
  await t.connect();
  const linked = new Promise<void>((resolve, reject) => {
    const on = (b: { count: number; type(i: number): number }) => {
      for (let i = 0; i < b.count; i++) if (b.type(i) === MessageType.EventLinkConnected) {
        t.off('frames', on);
        return resolve();
      }
    };
    t.on('frames', on);
    t.once('close', (info: CloseInfo) => reject(new Error(`closed during handshake: ${info.reason}`)));
  });
  t.send(register(1));
  await linked;
  return t;
}

// ---------------------------------------------------------------- throughput
interface ThroughputRow {
  kind: string;
  connections: 1 | 2;
  offered: number | 'saturation';
  delivered: number;
  eventsPerSec: number;
  elu: number;
  usPerEvent: number;
  closes: string[];
}

async function throughput(kind: BenchKind, connections: 1 | 2, rate: number, seconds: number): Promise<ThroughputRow> {
  const peer = await ChildPeer.start();
  const closes: string[] = [];
  const ts: Transport[] = [];
  try {
    const primary = await open(kind, peer.port);
    ts.push(primary);
    if (connections === 2) {
      const backup = await open(kind, peer.port);
      backup.hold({ maxFrames: 50_000, maxBytes: 32 << 20 });
      ts.push(backup);
    }
    for (const t of ts) t.on('close', (i) => closes.push(i.reason));
    let delivered = 0;
    let checksum = 0;
    primary.on('frames', (b) => {
      delivered += b.count;
      for (let i = 0; i < b.count; i++) checksum += b.seq(i) & 1; // touch the index like a real consumer
    });
    peer.stream(rate, 64);
    await sleep(500); // warm-up
    const d0 = delivered;
    const e0 = performance.eventLoopUtilization();
    const w0 = performance.now();
    await sleep(seconds * 1000);
    const e = performance.eventLoopUtilization(e0);
    const wall = performance.now() - w0;
    const n = delivered - d0;
    peer.stopStream();
    void checksum;
    return {
      kind: kind.name, connections, offered: rate === 0 ? 'saturation' : rate, delivered: n,
      eventsPerSec: Math.round((n / wall) * 1000), elu: e.utilization, usPerEvent: n > 0 ? (e.active * 1000) / n : NaN, closes: [...closes],
    };
  } finally {
    for (const t of ts) await t.destroy();
    await peer.kill();
  }
}

// ---------------------------------------------------------------- stall immunity
interface StallRow {
  kind: string;
  addpMs: number;
  /** The peer's own ADDP timeout (0 = the peer never drops us: only our side can false-disconnect). */
  peerAddpMs: number;
  stalls: number;
  seconds: number;
  disconnects: number;
  byReason: Record<string, number>;
  peerAddpDrops: number;
  eventsDelivered: number;
}

async function stallImmunity(kind: BenchKind, addpMs: number, peerAddpMs: number, seconds: number, everyMs: number, stallMs: number): Promise<StallRow> {
  const peer = await ChildPeer.start({ addpTimeoutMs: peerAddpMs });
  const byReason: Record<string, number> = {};
  let disconnects = 0;
  let delivered = 0;
  let stalls = 0;
  let current: Transport | null = null;
  let running = true;
  const connectLoop = async () => {
    while (running) {
      try {
        const t = await open(kind, peer.port, { addp: { timeoutMs: addpMs } });
        current = t;
        t.on('frames', (b) => (delivered += b.count));
        const info = await new Promise<CloseInfo>((r) => t.once('close', r));
        if (!running) return;
        disconnects++;
        byReason[info.reason] = (byReason[info.reason] ?? 0) + 1;
      } catch {
        await sleep(10);
      }
    }
  };
  const loop = connectLoop();
  await sleep(300);
  peer.stream(1000, 8);
  const blocker = new Int32Array(new SharedArrayBuffer(4));
  const end = Date.now() + seconds * 1000;
  while (Date.now() + everyMs <= end) {
    await sleep(everyMs - stallMs);
    Atomics.wait(blocker, 0, 0, stallMs); // the whole JS thread: no timers, no I/O callbacks
    stalls++;
  }
  await sleep(Math.max(0, end - Date.now()));
  running = false;
  const stats = await peer.stats();
  await (current as Transport | null)?.destroy();
  await loop;
  await peer.kill();
  return { kind: kind.name, addpMs, peerAddpMs, stalls, seconds, disconnects, byReason, peerAddpDrops: stats.addpDrops, eventsDelivered: delivered };
}

// ---------------------------------------------------------------- silent-peer detection
interface DetectRow {
  kind: string;
  addpMs: number;
  busyMs: number;
  runs: number;
  p50: number;
  p99: number;
  min: number;
  max: number;
  reasons: Record<string, number>;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

async function detection(kind: BenchKind, addpMs: number, runs: number, busyMs = 0): Promise<DetectRow> {
  const peer = await ChildPeer.start();
  const times: number[] = [];
  const reasons: Record<string, number> = {};
  try {
    for (let r = 0; r < runs; r++) {
      const t = await open(kind, peer.port, { addp: { timeoutMs: addpMs } });
      const closed = new Promise<CloseInfo>((res) => t.once('close', res));
      await sleep(addpMs + Math.random() * addpMs * 2); // random phase against the ADDP timer
      const stoppedAt = monotonicMs();
      peer.sigstop();
      let pending = true;
      if (busyMs > 0) {
        const blocker = new Int32Array(new SharedArrayBuffer(4));
        void (async () => {
          while (pending && monotonicMs() - stoppedAt < addpMs * 4 + 5000) {
            Atomics.wait(blocker, 0, 0, busyMs); // busy JS thread: timers and I/O callbacks wait
            await new Promise<void>((r) => setImmediate(r));
          }
        })();
      }
      const info = await Promise.race([closed, sleep(addpMs * 4 + 5000).then(() => null)]);
      pending = false;
      peer.sigcont();
      if (!info) {
        reasons['not-detected'] = (reasons['not-detected'] ?? 0) + 1;
        await t.destroy();
        continue;
      }
      reasons[info.reason] = (reasons[info.reason] ?? 0) + 1;
      times.push((info.timestamps.lossDetectedAt ?? info.timestamps.closedAt!) - stoppedAt);
      await t.destroy();
    }
  } finally {
    await peer.kill();
  }
  times.sort((a, b) => a - b);
  return { kind: kind.name, addpMs, busyMs, runs, p50: quantile(times, 0.5), p99: quantile(times, 0.99), min: times[0] ?? NaN, max: times.at(-1) ?? NaN, reasons };
}

// ---------------------------------------------------------------- main
function table(rows: Array<Record<string, unknown>>): void {
  if (rows.length === 0) return;
  const cols = Object.keys(rows[0]!);
  const cell = (v: unknown) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(3)) : typeof v === 'object' ? JSON.stringify(v) : String(v));
  const w = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  console.log(cols.map((c, i) => c.padEnd(w[i]!)).join('  '));
  for (const r of rows) console.log(cols.map((c, i) => cell(r[c]).padEnd(w[i]!)).join('  '));
  console.log();
}

async function main(): Promise<void> {
  const only = args.only;
  const seconds = Number(args.seconds);
  const loads = args.loads!.split(',').map(Number);
  const addp = Number(args.addp);
  const result: { throughput?: ThroughputRow[]; stall?: StallRow[]; detect?: DetectRow[] } = {};
  const log = (s: string) => !args.json && console.log(s);

  if (!only || only === 'throughput') {
    result.throughput = [];
    for (const k of kinds()) for (const c of [1, 2] as const) for (const rate of loads) {
      result.throughput.push(await throughput(k, c, rate, seconds));
    }
    log('# throughput (events delivered on one connection; pair = second connection holding)');
    if (!args.json) table(result.throughput.map((r) => ({ ...r, elu: `${(r.elu * 100).toFixed(1)}%`, usPerEvent: r.usPerEvent, closes: r.closes.join(',') || '-' })));
  }
  if (!only || only === 'detect') {
    result.detect = [];
    for (const k of kinds()) result.detect.push(await detection(k, addp, Number(args.runs), Number(args.busy)));
    log(`# silent-peer detection (peer SIGSTOPped; ms from stop to loss detected; ADDP ${addp} ms: loss is declared ${addp} ms after the last byte, which an idle peer sent up to ${addp / 2} ms before it stopped: expect ${addp / 2}..${addp} ms + timer slack` +
      `${Number(args.busy) > 0 ? `; JS thread busy in ${args.busy} ms slices meanwhile` : ''})`);
    if (!args.json) table(result.detect as unknown as Array<Record<string, unknown>>);
  }
  if (!only || only === 'stall') {
    result.stall = [];
    for (const k of kinds()) for (const peerAddp of [addp, 0]) {
      result.stall.push(await stallImmunity(k, addp, peerAddp, Number(args['stall-seconds']), Number(args['stall-every']), Number(args['stall-ms'])));
    }
    log(`# stall immunity (healthy peer, with its own ADDP ${addp} ms and without; JS blocked ${args['stall-ms']} ms every ${args['stall-every']} ms)`);
    if (!args.json) table(result.stall as unknown as Array<Record<string, unknown>>);
  }
  if (args.json) console.log(JSON.stringify({ node: process.version, ...result }, null, 2));
}

await main();
