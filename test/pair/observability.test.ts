/**
 * What a pair says about itself (docs/semantics.md, "Observability"): the logger's structured lines, the
 * sampled public events (connectFailed, reconnecting, heartbeat, breaker), the OpenTimeoutError's cause,
 * `pair.state` naming each endpoint's transport, and the `tserver-ha:request` TracingChannel — against the
 * simulator's real processes or a refused port. Waits on conditions only.
 */
import diagnostics from 'node:diagnostics_channel';
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { TServerPair } from '../../lib/pair/pair.js';
import type { TServerPairOptions } from '../../lib/config.js';
import { OpenTimeoutError, ServerError, TransportError } from '../../lib/errors.js';
import { escapeControl, logEvent, type RequestTraceContext } from '../../lib/pair/observe.js';
import { startSimulation, type Simulation } from '../../lib/sim/index.js';
import { rig, until, type Rig } from './harness.js';
import { transportsUnderTest } from './transports.js';

/** A loopback port nobody listens on (bound, then closed: connecting to it is refused). */
async function refusedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

interface Line { level: string; fields: Record<string, unknown>; msg: string }
function recorder(): { logger: TServerPairOptions['logger']; lines: Line[] } {
  const lines: Line[] = [];
  const at = (level: string) => (fields: object, msg: string) => lines.push({ level, fields: fields as Record<string, unknown>, msg });
  return { lines, logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } };
}

let r: Rig | undefined;
let pair: TServerPair | undefined;
let sim: Simulation | undefined;
const servers: ReturnType<typeof createServer>[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) s.close();
  await pair?.close();
  pair = undefined;
  await sim?.stop();
  sim = undefined;
  await r?.stop();
  r = undefined;
});

describe('observability', () => {
  it('logs structured fields (pair, endpoint, reason, code, timings): an object first, then the message', async () => {
    const { logger, lines } = recorder();
    r = await rig({ mode: 'hot', rate: 200, promotionDelayMs: 100 }, { transport: 'node', logger });
    await r.pair.open();
    await until(() => r!.pair.state.endpoints.backup.server === 'open', 10_000, 'backup open');
    await r.sim.fault({ kind: 'kill', server: 'primary' });
    await until(() => lines.some((l) => /switchover/.test(l.msg)), 10_000, 'switchover logged');
    const connected = lines.find((l) => l.level === 'info' && l.fields.endpoint === 'primary' && /connected/.test(l.msg))!;
    expect(connected.fields).toMatchObject({ pair: 'TestPair', endpoint: 'primary', role: 'primary' });
    const lost = lines.find((l) => l.level === 'warn' && /lost primary/.test(l.msg))!;
    expect(lost.fields).toMatchObject({ pair: 'TestPair', endpoint: 'primary' });
    expect(['peer-closed', 'peer-reset']).toContain(lost.fields.reason);
    expect(lost.fields.code).toMatch(/^ERR_PEER_/);
    // The Error itself, for pino's err serializer (type, stack), not its message.
    expect(lost.fields.err).toBeInstanceOf(TransportError);
    expect((lost.fields.err as TransportError).code).toBe(lost.fields.code);
    const sw = lines.find((l) => /switchover/.test(l.msg))!;
    expect(sw.level).toBe('warn');
    expect(sw.fields).toMatchObject({ pair: 'TestPair', from: 'primary', to: 'backup', reason: 'crash' });
    expect(sw.fields.recoveryMs).toBeGreaterThanOrEqual(0);
    expect(lines.find((l) => /: open, requests go to/.test(l.msg))?.fields.ms).toBeGreaterThanOrEqual(0);
    // Every line is an object first, then a string.
    for (const l of lines) expect(typeof l.fields.pair).toBe('string');
  });

  it('samples a connect-failure storm: the 1st, 2nd, 4th, 8th… failure, `suppressed` counting the rest', async () => {
    const port = await refusedPort();
    const all: number[] = [];
    const onAttempt = (m: unknown) => {
      const a = m as { pair: string; attempt: number };
      if (a.pair === 'Storm') all.push(a.attempt);
    };
    diagnostics.subscribe('tserver-ha:attempt-failed', onAttempt);
    try {
      pair = new TServerPair({
        name: 'Storm', primary: { host: '127.0.0.1', port }, backup: { host: '127.0.0.1', port: port === 65535 ? port - 1 : port + 1 },
        retry: { minDelayMs: 1, maxDelayMs: 2, fastPhaseMs: 60_000 }, breaker: false, openTimeoutMs: 60_000,
      });
      const failed: { source: string; attempt: number; suppressed: number; error: Error }[] = [];
      const retries: { attempt: number; minDelayMs: number; maxDelayMs: number }[] = [];
      pair.on('connectFailed', (e) => failed.push(e));
      pair.on('reconnecting', (e) => retries.push(e));
      void pair.open().catch(() => {});
      await until(() => all.length >= 200, 30_000, () => `200 attempts (${all.length})`);
      const primary = failed.filter((f) => f.source === 'primary');
      const attempts = primary.map((f) => f.attempt);
      // Powers of two only, in order, and far fewer events than attempts.
      for (const a of attempts) expect(a & (a - 1)).toBe(0);
      expect(attempts).toEqual([...attempts].sort((x, y) => x - y));
      expect(failed.length).toBeLessThanOrEqual(2 * (Math.log2(all.length) + 2));
      // Emitted + suppressed accounts for every failure up to the last emitted one.
      const last = primary[primary.length - 1]!;
      expect(primary.reduce((n, f) => n + 1 + f.suppressed, 0)).toBe(last.attempt);
      expect(last.error).toBeInstanceOf(TransportError);
      expect((last.error as TransportError).code).toBe('ERR_CONNECT_REFUSED');
      // Retries are announced, sampled the same way, with the delay range p-retry draws from.
      expect(retries.length).toBeGreaterThan(0);
      for (const x of retries) {
        expect(x.attempt & (x.attempt - 1)).toBe(0);
        expect(x.minDelayMs).toBeLessThanOrEqual(x.maxDelayMs);
        expect(x.maxDelayMs).toBeLessThanOrEqual(2);
      }
    } finally {
      diagnostics.unsubscribe('tserver-ha:attempt-failed', onAttempt);
    }
  });

  it('open() times out with an OpenTimeoutError carrying the cause and each endpoint\'s last error', async () => {
    const a = await refusedPort();
    const b = await refusedPort();
    pair = new TServerPair({ name: 'Nowhere', primary: { host: '127.0.0.1', port: a }, backup: { host: '127.0.0.1', port: b }, openTimeoutMs: 500 });
    const err = await pair.open().then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(OpenTimeoutError);
    const e = err as OpenTimeoutError;
    expect(e.code).toBe('ERR_OPEN_TIMEOUT');
    expect(e.retryable).toBe(true);
    expect(e.cause).toBeInstanceOf(Error);
    expect(['ERR_CONNECT_REFUSED', 'ERR_BREAKER_OPEN']).toContain((e.cause as { code: string }).code);
    expect(e.endpoints.primary.lastError).toBeInstanceOf(Error);
    expect(e.endpoints.backup.lastError).toBeInstanceOf(Error);
    expect(e.endpoints.primary.address).toBe(`127.0.0.1:${a}`);
    expect(e.message).toMatch(/primary \(127\.0\.0\.1:\d+\): .*last error: /);
  });

  it('opens the breaker and says so (breaker events), and pair.state names the last error', async () => {
    // The backup accepts every connection and hangs up at once: a server that answers, with a failure (the
    // breaker counts those; a refused port it leaves to the reconnect schedule — lib/endpoint/breaker.ts).
    const hangUp = createServer((sock) => sock.destroy());
    await new Promise<void>((res) => hangUp.listen(0, '127.0.0.1', res));
    servers.push(hangUp);
    const port = (hangUp.address() as { port: number }).port;
    sim = await startSimulation({ mode: 'hot', rate: 0 });
    pair = new TServerPair({
      name: 'Breaker', primary: { host: sim.primary.host, port: sim.primary.port }, backup: { host: '127.0.0.1', port },
      transport: 'node', breaker: { volumeThreshold: 2, resetTimeoutMs: 200 },
    });
    const states: string[] = [];
    pair.on('breaker', (e) => {
      expect(e.source).toBe('backup');
      states.push(e.state);
    });
    await pair.open();
    await until(() => states.includes('open') && states.includes('half-open'), 15_000, () => `breaker open then half-open (${states.join(',')})`);
    expect(pair.state.endpoints.backup.breaker).not.toBe('disabled');
    expect(pair.state.endpoints.backup.lastError).toBeInstanceOf(Error);
    expect(pair.state.endpoints.primary.lastError).toBeNull();
  });

  for (const transport of transportsUnderTest()) {
    it(`reports heartbeat round trips, sampled, and names the transport in pair.state (${transport})`, async () => {
      r = await rig({ mode: 'hot', rate: 0 }, { transport, addp: { timeoutMs: 200 } });
      expect(r.pair.state.endpoints.primary.transport).toBe(transport);
      const beats: { source: string; rttMs: number; timestamp: number }[] = [];
      r.pair.on('heartbeat', (e) => beats.push(e));
      await r.pair.open();
      await until(() => beats.filter((b) => b.source === 'primary').length >= 2, 15_000, () => `2 heartbeats (${beats.length})`);
      for (const b of beats) expect(b.rttMs).toBeGreaterThanOrEqual(0);
      // At most one a second per connection: polls go out every 100 ms on a silent connection.
      const p = beats.filter((b) => b.source === 'primary');
      for (let i = 1; i < p.length; i++) expect(p[i]!.timestamp - p[i - 1]!.timestamp).toBeGreaterThanOrEqual(999);
      expect(r.pair.state.endpoints.primary.transport).toBe(transport);
      expect(r.pair.state.endpoints.backup.transport).toBe(transport);
    });
  }

  it('traces every request on the tserver-ha:request TracingChannel: context, reply, typed error', async () => {
    r = await rig({ mode: 'hot', rate: 0 }, { transport: 'node' });
    await r.pair.open();
    const seen: { phase: string; ctx: RequestTraceContext }[] = [];
    const ch = diagnostics.tracingChannel<unknown, RequestTraceContext>('tserver-ha:request');
    const handlers = {
      start: (ctx: RequestTraceContext) => seen.push({ phase: 'start', ctx }),
      end: () => {},
      asyncStart: () => {},
      asyncEnd: (ctx: RequestTraceContext) => seen.push({ phase: 'asyncEnd', ctx }),
      error: (ctx: RequestTraceContext) => seen.push({ phase: 'error', ctx }),
    };
    ch.subscribe(handlers);
    try {
      const dn = r.sim.routePoints[0]!;
      await r.pair.request('RequestQueryServer', {}, { timeoutMs: 5000 }).catch(() => {});
      // A DN the server does not know: EventError → ServerError on the channel's `error`.
      await r.pair.request('RequestRouteCall', { ThisDN: dn, ConnID: 1n, OtherDN: '1', RouteType: 2 }, { timeoutMs: 5000 }).catch(() => {});
    } finally {
      ch.unsubscribe(handlers);
    }
    const starts = seen.filter((s) => s.phase === 'start');
    expect(starts.map((s) => s.ctx.request)).toEqual(['RequestQueryServer', 'RequestRouteCall']);
    expect(starts[0]!.ctx).toMatchObject({ pair: 'TestPair', active: 'primary', timeoutMs: 5000, idempotent: false });
    expect(starts[0]!.ctx.referenceId).toBeGreaterThan(0);
    const ends = seen.filter((s) => s.phase === 'asyncEnd');
    expect(ends).toHaveLength(2);
    for (const e of ends) expect(e.ctx.result !== undefined || e.ctx.error !== undefined).toBe(true);
    const errs = seen.filter((s) => s.phase === 'error');
    for (const e of errs) expect((e.ctx.error as { code?: string }).code).toMatch(/^ERR_/);
  });
});

describe('logger bridge (logEvent)', () => {
  const hostile = 'no such DN\n{"level":50,"msg":"forged line"}\r\x1b[2J\x1b]0;owned\x07\u2028\u202e\x9b31m\x7f';
  const escaped = 'no such DN\\n{"level":50,"msg":"forged line"}\\r\\x1b[2J\\x1b]0;owned\\x07\\u2028\\u202e\\x9b31m\\x7f';

  it('escapeControl escapes C0/C1 controls, DEL, line separators and bidi overrides, and keeps everything else', () => {
    expect(escapeControl(hostile)).toBe(escaped);
    expect(escapeControl('tab\there')).toBe('tab\\there');
    const plain = 'DN 7000: unknown — Überweisung 路由 🙂 \\ "quoted"';
    expect(escapeControl(plain)).toBe(plain);
    // Nothing in the output is a control character any more.
    expect(escapeControl(hostile)).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e]/);
  });

  it('passes the Error object as `err` (pino serializes type and stack) with its code, in every line about an error', () => {
    const { logger, lines } = recorder();
    const server = new ServerError('RequestRegisterAddress', 3, 'DN unknown');
    const transport = new TransportError('ERR_PEER_RESET', 'connection reset by peer', { syscallCode: 'ECONNRESET' });
    logEvent(logger!, 'P', 'error', server);
    logEvent(logger!, 'P', 'EventServerDisconnected', { source: 'primary', reason: 'peer-reset', error: transport, timestamp: 1 });
    logEvent(logger!, 'P', 'connectFailed', { source: 'backup', attempt: 2, suppressed: 0, error: transport, timestamp: 2 });
    expect(lines).toHaveLength(3);
    expect(lines[0]!.fields).toMatchObject({ pair: 'P', code: 'ERR_SERVER' });
    expect(lines[0]!.fields.err).toBe(server);
    expect(lines[1]!.fields).toMatchObject({ pair: 'P', endpoint: 'primary', reason: 'peer-reset', code: 'ERR_PEER_RESET' });
    expect(lines[1]!.fields.err).toBe(transport);
    expect(lines[2]!.fields.err).toBe(transport);
    for (const l of lines) expect(typeof (l.fields.err as Error).stack).toBe('string');
    // A non-Error is passed through as it is; no error, no err field.
    logEvent(logger!, 'P', 'error', 'a string' as never);
    expect(lines[3]!.fields.err).toBe('a string');
    logEvent(logger!, 'P', 'EventServerDisconnected', { source: 'primary', reason: 'local', timestamp: 3 });
    expect(lines[4]!.fields).not.toHaveProperty('err');
  });

  it('escapes server text in the message string, and keeps it verbatim in the structured fields', () => {
    const { logger, lines } = recorder();
    const server = new ServerError('RequestRouteCall', 71, hostile);
    logEvent(logger!, 'P', 'error', server);
    logEvent(logger!, 'P', 'EventServerDisconnected', { source: 'backup', reason: 'protocol-error', error: server, timestamp: 1 });
    logEvent(logger!, 'P', 'connectFailed', { source: 'backup', attempt: 1, suppressed: 0, error: server, timestamp: 2 });
    logEvent(logger!, 'P', 'EventLinkDisconnected', { Event: 'EventLinkDisconnected', source: 'primary', timestamp: 3, ErrorCode: 56, ErrorMessage: hostile });
    expect(lines).toHaveLength(4);
    for (const l of lines) {
      expect(l.msg).toContain(escaped);
      expect(l.msg).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e]/);
    }
    expect(lines[3]!.level).toBe('warn');
    expect(lines[3]!.msg).toBe(`P: CTI link of primary is down: ${escaped}`);
    expect(lines[3]!.fields).toMatchObject({ endpoint: 'primary', link: 'down', code: 56, errorMessage: hostile });
    expect((lines[0]!.fields.err as ServerError).errorMessage).toBe(hostile);
  });
});
