/**
 * Codec benchmark: main-thread ns/frame to decode batches of realistic EventRouteRequest frames.
 *
 *   npm run bench:codec            table
 *   npm run bench:codec -- --json  JSON
 *   options: --runs N (default 7), --ms M per run (default 150)
 *
 * Decoders: `ts-decoder` (FrameDecoder, the TS reference: builds every frame), `ts-index` (pure-TS
 * validating scanner + lazy view, bench/codec-index/ts-scanner.ts), `native` (the addon's batch decode + the
 * same lazy view). Access patterns: `all` (materialize every attribute), `two` (ThisDN + ConnID),
 * `index` (type + seq only). Each number is the median of several timed runs.
 */
import { nativeStatus } from '../lib/native/index.js';
import { BatchDecoder, type IndexBackend } from './codec-index/index.js';
import { Attr, FrameDecoder, MessageType, encodeMessage, getAttr, type Frame } from '../lib/protocol/index.js';

const argv = process.argv.slice(2);
const opt = (name: string, def: number) => {
  const i = argv.indexOf(name);
  return i >= 0 ? Number(argv[i + 1]) : def;
};
const JSON_OUT = argv.includes('--json');
const RUNS = opt('--runs', 7);
const RUN_MS = opt('--ms', 150);
const BATCHES = [1, 16, 1024];
type Access = 'all' | 'two' | 'index';

function routeRequest(i: number): Buffer {
  return encodeMessage(MessageType.EventRouteRequest, {
    ThisDN: String(7000 + (i % 50)),
    ConnID: 0x0106_0000_0000_0000n + BigInt(i),
    ANI: `+1555${String(1000000 + i).slice(-7)}`,
    DNIS: '8005550100',
    CallType: 2,
    UserData: { segment: i % 3 ? 'gold' : 'silver', attempts: i % 5, score: 0.5, lang: 'fr-CA', account: `AC${100000 + i}`, vip: null },
    EventSequenceNumber: 1000 + i,
    TimeinSecs: 1_700_000_000 + i,
    TimeinuSecs: (i * 7919) % 1_000_000,
  });
}

const FRAMES = Array.from({ length: 1024 }, (_, i) => routeRequest(i));
/** Batches of n frames, cycling through different frames so no single buffer stays hot. */
function batchesOf(n: number): Buffer[] {
  const count = Math.max(1, Math.floor(1024 / n)) * (n === 1 ? 1 : 2);
  return Array.from({ length: count }, (_, b) => Buffer.concat(Array.from({ length: n }, (_, k) => FRAMES[(b * n + k) % 1024]!)));
}

let sink = 0; // defeats dead-code elimination
function touch(v: unknown): void {
  if (typeof v === 'string') sink += v.length;
  else if (typeof v === 'bigint') sink += Number(v & 1n);
  else if (v !== null && v !== undefined) sink += 1;
}

function tsDecoderRun(batches: Buffer[], access: Access): () => number {
  const dec = new FrameDecoder();
  const onFrame = (f: Frame) => {
    if (f.kind !== 1) return;
    if (access === 'all') for (const a of f.attributes) touch(a.value);
    else if (access === 'two') {
      touch(getAttr(f, Attr.ThisDN));
      touch(getAttr(f, Attr.ConnID));
    } else {
      sink += f.type;
      touch(getAttr(f, Attr.EventSequenceNumber));
    }
  };
  let b = 0;
  return () => {
    const buf = batches[b++ % batches.length]!;
    let n = 0;
    dec.write(buf, (f) => {
      n++;
      onFrame(f);
    });
    return n;
  };
}

function indexRun(batches: Buffer[], access: Access, backend: IndexBackend): () => number {
  const dec = new BatchDecoder(undefined, backend);
  let b = 0;
  return () => {
    const { batch } = dec.decode(batches[b++ % batches.length]!);
    const n = batch.count;
    for (let i = 0; i < n; i++) {
      if (access === 'all') for (const a of batch.frame(i).attributes) touch(a.value);
      else if (access === 'two') {
        touch(batch.get(i, Attr.ThisDN));
        touch(batch.get(i, Attr.ConnID));
      } else sink += batch.type(i) + batch.seq(i);
    }
    return n;
  };
}

/** ns/frame of one timed run of about RUN_MS. */
function timedRun(step: () => number): number {
  let frames = 0;
  const t0 = process.hrtime.bigint();
  const deadline = t0 + BigInt(RUN_MS * 1e6);
  let now = t0;
  while (now < deadline) {
    for (let k = 0; k < 16; k++) frames += step();
    now = process.hrtime.bigint();
  }
  return Number(now - t0) / frames;
}

/**
 * Median ns/frame of each step over RUNS runs. The steps take turns within every run, so load from
 * other processes (this machine is shared) hits every decoder alike.
 */
function measure(steps: (() => number)[]): number[] {
  for (const s of steps) timedRun(s); // warm-up
  const results = steps.map(() => [] as number[]);
  for (let run = 0; run < RUNS; run++) steps.forEach((s, i) => results[i]!.push(timedRun(s)));
  return results.map((r) => r.sort((x, y) => x - y)[Math.floor(r.length / 2)]!);
}

interface Row { access: Access; batch: number; decoder: string; nsPerFrame: number; framesPerSec: number; vsTsDecoder: number; vsTsIndex: number }

const status = nativeStatus();
const decoders: [string, (b: Buffer[], a: Access) => () => number][] = [
  ['ts-decoder', tsDecoderRun],
  ['ts-index', (b, a) => indexRun(b, a, 'ts')],
  ...(status.loaded ? [['native', (b: Buffer[], a: Access) => indexRun(b, a, 'native')] as [string, (b: Buffer[], a: Access) => () => number]] : []),
];

const rows: Row[] = [];
for (const access of ['all', 'two', 'index'] as Access[]) {
  for (const n of BATCHES) {
    const batches = batchesOf(n);
    const ns = measure(decoders.map(([, make]) => make(batches, access)));
    decoders.forEach(([name], i) => {
      const v = ns[i]!;
      rows.push({ access, batch: n, decoder: name, nsPerFrame: Math.round(v * 10) / 10, framesPerSec: Math.round(1e9 / v), vsTsDecoder: Math.round((ns[0]! / v) * 100) / 100, vsTsIndex: Math.round((ns[1]! / v) * 100) / 100 });
    });
  }
}

const meta = { node: process.version, native: status, frameBytes: FRAMES[0]!.length, runs: RUNS, runMs: RUN_MS, sink: sink & 1 };
if (JSON_OUT) {
  console.log(JSON.stringify({ ...meta, rows }, null, 2));
} else {
  console.log(`codec bench: Node ${meta.node}, EventRouteRequest ${meta.frameBytes} bytes (9 attributes, UserData of 6), median of ${RUNS} runs`);
  console.log(`native: ${status.loaded ? status.from : `not loaded (${status.reason})`}`);
  console.log('access  batch  decoder      ns/frame   frames/s   vs ts-decoder  vs ts-index');
  for (const r of rows) {
    console.log(`${r.access.padEnd(7)} ${String(r.batch).padStart(5)}  ${r.decoder.padEnd(11)} ${r.nsPerFrame.toFixed(1).padStart(9)} ${String(r.framesPerSec).padStart(10)}   ${(r.vsTsDecoder.toFixed(2) + 'x').padStart(12)}  ${(r.vsTsIndex.toFixed(2) + 'x').padStart(10)}`);
  }
}
