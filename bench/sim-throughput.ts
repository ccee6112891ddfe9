/**
 * Maximum sustained event rate through a hot pair to one raw client, and whether the oracle kept up.
 *
 *   npm run build && node dist/bench/sim-throughput.js [--rates 50000,100000,200000] [--duration 3]
 *        [--client primary|both|all] [--json]
 *
 * For each offered rate the switch runs for `duration` seconds; the client (TS FrameDecoder, every frame
 * fully decoded) is registered on every DN. A rate is sustained when the switch really emitted it, the
 * client received it, and the client drained within 1 s after traffic stopped. `both` = the client holds
 * connections to primary and backup (a hot-standby client), `primary` = to the primary only.
 */
import { createReadStream } from 'node:fs';
import net from 'node:net';
import { parseArgs } from 'node:util';
import { Attr, FrameDecoder, FrameKind, MessageType, encodeMessage, getAttr } from '../lib/protocol/index.js';
import { startSimulation, type Simulation } from '../lib/sim/index.js';
import { isHeldEvent } from '../lib/transport/hold-rule.js';

interface Row {
  client: string;
  offered: number;
  emitted: number;
  delivered: number;
  drainMs: number;
  missing: number;
  duplicated: number;
  sustained: boolean;
}

class CountingClient {
  count = 0;
  maxSeq = 0;
  dups = 0;
  private readonly decoder = new FrameDecoder();
  private replies = new Map<number, () => void>();
  private ref = 1;
  constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk) =>
      this.decoder.write(chunk, (f) => {
        if (f.kind !== FrameKind.Message) return;
        const ref = getAttr(f, Attr.ReferenceID);
        if (typeof ref === 'number') this.replies.get(ref)?.();
        const seq = getAttr(f, Attr.EventSequenceNumber);
        if (typeof seq !== 'bigint') return;
        const s = Number(seq);
        // Switch events only: replies and link/role reports carry positions (docs/protocol.md, hold rule).
        if (!isHeldEvent(f.type, s, typeof ref === 'number' ? ref : -1)) return;
        if (s <= this.maxSeq) this.dups++;
        else this.maxSeq = s;
        this.count++;
      }),
    );
  }
  static async open(port: number, host: string): Promise<CountingClient> {
    const s = net.connect({ port, host });
    await new Promise((r, j) => s.once('connect', r).once('error', j));
    return new CountingClient(s);
  }
  request(type: number, attrs: Record<string, string | number>): Promise<void> {
    const ref = this.ref++;
    return new Promise((resolve) => {
      this.replies.set(ref, resolve);
      this.socket.write(encodeMessage(type, { ...attrs, ReferenceID: ref }));
    });
  }
}

async function oracleLines(path: string): Promise<{ events: number; ordered: boolean }> {
  let events = 0;
  let ordered = true;
  let carry = '';
  let expect = 1;
  for await (const chunk of createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 20 })) {
    const lines = (carry + chunk).split('\n');
    carry = lines.pop()!;
    for (const l of lines) {
      if (l === '' || l.startsWith('#')) continue;
      events++;
      const tab = l.indexOf('\t');
      if (Number(l.slice(0, tab)) !== expect++) ordered = false;
    }
  }
  return { events, ordered };
}

async function measure(sim: Simulation, client: 'primary' | 'both', rate: number, seconds: number): Promise<Row> {
  const dns = [...sim.routePoints, ...sim.agents];
  const ports = client === 'both' ? [sim.primary.port, sim.backup.port] : [sim.primary.port];
  const clients = await Promise.all(ports.map((p) => CountingClient.open(p, sim.host)));
  for (const c of clients) {
    await c.request(MessageType.RequestRegisterClient, { ApplicationName: 'bench' });
    for (const dn of dns) await c.request(MessageType.RequestRegisterAddress, { ThisDN: dn });
  }
  const { seq: startSeq } = await sim.emit(0);
  const primary = clients[0]!;
  await sim.setRate(rate);
  await new Promise((r) => setTimeout(r, 500));
  const s0 = (await sim.emit(0)).seq;
  const c0 = primary.count;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const s1 = (await sim.emit(0)).seq;
  const c1 = primary.count;
  const dt = (performance.now() - t0) / 1000;
  await sim.setRate(0);
  const last = (await sim.emit(0)).seq;
  const tStop = performance.now();
  const deadline = tStop + 10_000;
  while (clients.some((c) => c.maxSeq < last) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  const drainMs = performance.now() - tStop;
  const expected = last - startSeq;
  const missing = Math.max(0, ...clients.map((c) => expected - (c.count - c.dups)));
  const duplicated = Math.max(...clients.map((c) => c.dups));
  for (const c of clients) c.socket.destroy();
  const emitted = (s1 - s0) / dt;
  const delivered = (c1 - c0) / dt;
  return {
    client,
    offered: rate,
    emitted: Math.round(emitted),
    delivered: Math.round(delivered),
    drainMs: Math.round(drainMs),
    missing,
    duplicated,
    sustained: emitted >= rate * 0.95 && delivered >= rate * 0.95 && drainMs < 1000 && missing === 0 && duplicated === 0,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rates: { type: 'string', default: '100000,200000,300000,400000,500000' },
      duration: { type: 'string', default: '3' },
      client: { type: 'string', default: 'all' },
      json: { type: 'boolean', default: false },
    },
  });
  const rates = values.rates.split(',').map(Number);
  const seconds = Number(values.duration);
  if (rates.some((r) => !Number.isInteger(r) || r <= 0) || !(seconds > 0) || !['primary', 'both', 'all'].includes(values.client)) {
    process.stderr.write('usage: sim-throughput [--rates N,N,…] [--duration S] [--client primary|both|all] [--json]\n');
    process.exit(2);
  }
  const kinds = values.client === 'all' ? (['primary', 'both'] as const) : ([values.client] as ['primary' | 'both']);
  const rows: Row[] = [];
  let oracle = { events: 0, ordered: true, lastSeq: 0 };
  for (const kind of kinds) {
    // routeTimeoutMs 0: nobody routes here, so calls go to their agents at once (all four event kinds flow).
    const sim = await startSimulation({ mode: 'hot', routePoints: 10, agents: 100, concurrentCalls: 200, routeTimeoutMs: 0, hangTimeoutMs: 10_000, autoPromote: false });
    try {
      for (const rate of rates) {
        const row = await measure(sim, kind, rate, seconds);
        rows.push(row);
        if (!values.json) process.stderr.write(`  ${kind} ${rate}/s: delivered ${row.delivered}/s, drain ${row.drainMs} ms${row.sustained ? '' : '  (not sustained)'}\n`);
        if (!row.sustained) break;
      }
      const last = (await sim.emit(0)).seq;
      const o = await oracleLines(sim.oraclePath);
      oracle = { events: o.events, ordered: o.ordered && oracle.ordered, lastSeq: last };
      if (o.events !== last) oracle.ordered = false;
    } finally {
      await sim.stop();
    }
  }
  const best = (k: string) => Math.max(0, ...rows.filter((r) => r.client === k && r.sustained).map((r) => r.delivered));
  const summary = {
    maxSustained: Object.fromEntries(kinds.map((k) => [k, best(k)])),
    oracleComplete: oracle.ordered,
    cpus: (await import('node:os')).cpus().length,
    node: process.version,
  };
  if (values.json) {
    process.stdout.write(JSON.stringify({ rows, summary }, null, 2) + '\n');
    return;
  }
  const head = ['client', 'offered/s', 'emitted/s', 'delivered/s', 'drain ms', 'missing', 'dup', 'sustained'];
  const body = rows.map((r) => [r.client, r.offered, r.emitted, r.delivered, r.drainMs, r.missing, r.duplicated, r.sustained ? 'yes' : 'no'].map(String));
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(w[i]!)).join('  ');
  process.stdout.write(`${line(head)}\n${body.map(line).join('\n')}\n\n`);
  process.stdout.write(`max sustained: ${kinds.map((k) => `${k} ${best(k)} events/s`).join(', ')}; oracle complete and ordered: ${oracle.ordered ? 'yes' : 'NO'} (${summary.cpus} CPUs, Node ${process.version})\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
