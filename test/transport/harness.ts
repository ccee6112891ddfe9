/**
 * Shared pieces of the transport conformance suite: the list of transport kinds under test and a small
 * recorder around one transport. To put another implementation under the suite, add one line to KINDS.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, expect } from 'vitest';
import { createTransport, isTransportAvailable } from '../../lib/transport/index.js';
import type { CloseInfo, FrameBatch, Transport, TransportOptions } from '../../lib/transport/types.js';
import type { MessageFrame } from '../../lib/protocol/index.js';
import { TestPeer, type PeerOptions } from '../helpers/peer.js';

export interface KindUnderTest {
  kind: 'node' | 'native';
  create: (o: TransportOptions) => Transport;
  /** undefined when runnable, else why it is skipped. */
  skipReason: () => string | undefined;
}

/**
 * Load lib/native if it exists, so it can register its factory. A path in a variable keeps tsc from
 * requiring the module on branches that do not have it yet.
 */
export async function loadNative(): Promise<string | undefined> {
  const rel = '../../lib/native/index.js';
  const src = fileURLToPath(new URL('../../lib/native/index.ts', import.meta.url));
  if (!existsSync(src)) return 'lib/native/index.ts does not exist on this branch';
  try {
    await import(rel);
    return undefined;
  } catch (err) {
    return `lib/native failed to load: ${(err as Error).message}`;
  }
}

let nativeLoadError: string | undefined = 'not loaded yet';

/** Call once before describing (top-level await in the test file). */
export async function prepareKinds(): Promise<void> {
  nativeLoadError = await loadNative();
}

/** Why the native kind is not available, for the skip message. */
export function nativeSkipReason(): string | undefined {
  return isTransportAvailable('native') ? undefined : `native transport not registered (${nativeLoadError ?? 'lib/native loaded but did not call registerTransport'})`;
}

/** The transport kinds the suites run against: one line per implementation. */
export const KINDS: KindUnderTest[] = [
  { kind: 'node', create: (o) => createTransport(o, 'node'), skipReason: () => undefined },
  { kind: 'native', create: (o) => createTransport(o, 'native'), skipReason: nativeSkipReason },
];

/**
 * Per-suite bookkeeping for kind `k`, registered with `afterEach` (call inside a describe): `cleanups` run
 * after each case, newest first; then every transport made by `transport()` must have closed exactly once,
 * emitted nothing after its close, and say it is not connected. `peer()` starts a TestPeer closed after the case.
 */
export function suiteFor(k: KindUnderTest): {
  cleanups: Array<() => Promise<unknown> | unknown>;
  transport: (o: TransportOptions) => { t: Transport; rec: Recorder };
  peer: (options?: PeerOptions) => Promise<TestPeer>;
} {
  const cleanups: Array<() => Promise<unknown> | unknown> = [];
  const recorders: Recorder[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
    for (const r of recorders.splice(0)) {
      expect(r.closes).toHaveLength(1);
      expect(r.eventsAfterClose).toBe(0);
      expect(r.t.connected).toBe(false);
    }
  });
  const transport = (o: TransportOptions) => {
    const t = k.create({ connectTimeoutMs: 2000, addp: false, ...o });
    cleanups.push(() => t.destroy());
    const rec = new Recorder(t);
    recorders.push(rec);
    return { t, rec };
  };
  const peer = async (options: PeerOptions = {}) => {
    const p = await TestPeer.start(options);
    cleanups.push(() => p.close());
    return p;
  };
  return { cleanups, transport, peer };
}

/** Everything one transport emitted, plus waiting helpers. */
export class Recorder {
  readonly frames: MessageFrame[] = [];
  readonly seqs: number[] = [];
  readonly batches: FrameBatch[] = [];
  readonly connects: number[] = [];
  readonly closes: CloseInfo[] = [];
  /** Events emitted after `close` (must stay 0). */
  eventsAfterClose = 0;
  readonly closed: Promise<CloseInfo>;
  private waiters: Array<() => void> = [];

  constructor(readonly t: Transport) {
    t.on('connect', (at) => {
      if (this.closes.length) this.eventsAfterClose++;
      this.connects.push(at);
    });
    t.on('frames', (b) => {
      if (this.closes.length) this.eventsAfterClose++;
      this.batches.push(b);
      for (let i = 0; i < b.count; i++) {
        this.frames.push(b.frame(i));
        this.seqs.push(b.seq(i));
      }
      this.notify();
    });
    t.on('backpressure', () => {
      if (this.closes.length) this.eventsAfterClose++;
    });
    this.closed = new Promise((resolve) => t.on('close', (info) => {
      if (this.closes.length) this.eventsAfterClose++;
      this.closes.push(info);
      resolve(info);
      this.notify();
    }));
  }

  private notify(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Wait until `cond()` holds, re-checked on every batch. */
  async until(cond: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${what} not reached within ${timeoutMs} ms (frames: ${this.frames.length}, closes: ${this.closes.map((c) => c.reason).join(',')})`);
      await new Promise<void>((resolve) => {
        const tm = setTimeout(resolve, Math.min(left, 50));
        this.waiters.push(() => {
          clearTimeout(tm);
          resolve();
        });
      });
    }
  }

  /** Wait for a frame matching `pred`. */
  async waitFrame(pred: (f: MessageFrame) => boolean, timeoutMs = 5000): Promise<MessageFrame> {
    await this.until(() => this.frames.some(pred), timeoutMs, 'frame');
    return this.frames.find(pred)!;
  }
}

/** Resolve after `ms`. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Reject if `p` does not settle within `ms` (a bound, not a timing assertion). */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
    }),
  ]);
}

/**
 * Bytes the kernel holds for the one TCP connection to/from 127.0.0.1:`serverPort` (Linux, /proc/net/tcp):
 * `tx` is the client socket's send queue (written, not yet acknowledged by the peer's kernel), `rx` the
 * server socket's receive queue (arrived, not yet read by the peer application). Undefined elsewhere or
 * when the connection is not found.
 */
export function kernelQueues(serverPort: number): { tx: number; rx: number } | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/net/tcp', 'utf8');
  } catch {
    return undefined;
  }
  const portHex = serverPort.toString(16).toUpperCase().padStart(4, '0');
  let tx: number | undefined;
  let rx: number | undefined;
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5 || f[3] !== '01') continue; // established only
    const [txq, rxq] = f[4]!.split(':').map((h) => parseInt(h, 16));
    if (f[2] === `0100007F:${portHex}`) tx = txq; // client side: remote is the server
    else if (f[1] === `0100007F:${portHex}`) rx = rxq; // server side: local is the server
  }
  return tx === undefined || rx === undefined ? undefined : { tx, rx };
}

/** Wait until the kernel queues of the connection stop moving (`stableMs` unchanged); returns their sum. */
export async function settledKernelBytes(serverPort: number, stableMs = 300, timeoutMs = 10_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  let since = Date.now();
  for (;;) {
    const q = kernelQueues(serverPort);
    const sum = q ? q.tx + q.rx : -1;
    if (sum !== last) {
      last = sum;
      since = Date.now();
    } else if (sum > 0 && Date.now() - since >= stableMs) {
      return sum;
    }
    if (Date.now() > deadline) throw new Error(`kernel queues of :${serverPort} did not settle (last ${last})`);
    await sleep(20);
  }
}
