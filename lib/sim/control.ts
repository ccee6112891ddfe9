/**
 * The control address of a running simulation: a loopback TCP port speaking JSON lines. Each line is a
 * fault (`{"kind":"kill","server":"primary"}`) or a command (`{"op":"status"}`, `{"op":"emit","count":10}`,
 * `{"op":"rate","rate":1000}`, `{"op":"oracle"}`, `{"op":"numberings"}`, `{"op":"stop"}`); each gets one JSON line back:
 * `{"ok":true,"result":…}` or `{"ok":false,"error":"…"}`.
 */
import net from 'node:net';
import type { Fault, Simulation } from './index.js';

const MAX_LINE = 64 * 1024;

function json(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));
}

/** Serve the control protocol for `sim`; `onStop` runs after an `{"op":"stop"}` command. */
export async function startControlServer(
  sim: Simulation,
  host: string,
  port: number,
  onStop: () => void,
): Promise<{ host: string; port: number; close(): void }> {
  const handle = async (msg: Record<string, unknown>): Promise<unknown> => {
    if (typeof msg.kind === 'string') return sim.fault(msg as unknown as Fault);
    switch (msg.op) {
      case 'status':
        return sim.status();
      case 'emit':
        return sim.emit(Number(msg.count ?? 1));
      case 'rate':
        await sim.setRate(Number(msg.rate));
        return { rate: Number(msg.rate) };
      case 'oracle': {
        const o = sim.oracle();
        return { path: sim.oraclePath, events: o.events.length, lastSeq: o.events.at(-1)?.seq ?? 0, notes: o.notes };
      }
      case 'numberings':
        return sim.numberings();
      case 'stop':
        setImmediate(onStop);
        return { stopping: true };
      default:
        throw new Error('expected a fault {"kind":…} or a command {"op":"status"|"emit"|"rate"|"oracle"|"numberings"|"stop"}');
    }
  };
  const server = net.createServer((sock) => {
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('error', () => {});
    sock.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > MAX_LINE && !buf.includes('\n')) {
        sock.end(json({ ok: false, error: `line longer than ${MAX_LINE} bytes` }) + '\n');
        return;
      }
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        let msg: Record<string, unknown>;
        try {
          msg = JSON.parse(line) as Record<string, unknown>;
        } catch {
          sock.write(json({ ok: false, error: 'not JSON' }) + '\n');
          continue;
        }
        handle(msg).then(
          (result) => sock.write(json({ ok: true, result }) + '\n'),
          (err: unknown) => sock.write(json({ ok: false, error: err instanceof Error ? err.message : String(err) }) + '\n'),
        );
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => resolve());
  });
  const addr = server.address() as net.AddressInfo;
  return { host, port: addr.port, close: () => server.close() };
}
