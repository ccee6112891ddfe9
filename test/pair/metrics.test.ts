/**
 * tserver-ha/metrics against a real simulator run: a hot pair routes requests, its primary is killed, and
 * the prom-client registry then holds the numbers the pair itself reports (stats, state, switchover) plus
 * every failed connection attempt and every request's outcome. Values are compared with the pair's own
 * counters, never with a speed.
 */
import { execFileSync } from 'node:child_process';
import diagnostics from 'node:diagnostics_channel';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Counter, Registry } from 'prom-client';
import { collectMetrics, METRIC_NAMES } from '../../lib/metrics/index.js';
import { ConfigError, MissingDependencyError } from '../../lib/errors.js';
import { requestChannel, type RequestTraceContext } from '../../lib/pair/observe.js';
import type { TServerPair } from '../../lib/pair/pair.js';
import { rig, until, type Rig } from './harness.js';
import { until as untilAsync } from '../helpers/wait.js';
import { transportsUnderTest } from './transports.js';

let r: Rig | undefined;
afterEach(async () => {
  await r?.stop();
  r = undefined;
});

type Sample = { labels: Record<string, string | number>; value: number; metricName?: string };
async function values(registry: Registry, name: string): Promise<Sample[]> {
  const m = registry.getSingleMetric(name);
  if (!m) throw new Error(`${name} not registered`);
  return (await m.get()).values as Sample[];
}
async function value(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const vs = (await values(registry, name)).filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x));
  return vs.reduce((n, v) => n + v.value, 0);
}

describe('tserver-ha/metrics', () => {
  const transport = transportsUnderTest().includes('native') ? 'native' : 'node';

  it(`registers every metric and reports a switchover, events, requests and attempts (${transport})`, async () => {
    r = await rig({ mode: 'hot', rate: 500, promotionDelayMs: 100 }, { transport });
    const registry = new Registry();
    const stop = collectMetrics(r.pair, { registry });
    for (const n of METRIC_NAMES) expect(registry.getSingleMetric(`tserver_ha_${n}`), n).toBeDefined();
    await r.pair.open();
    await until(() => r!.pair.state.endpoints.backup.server === 'open', 10_000, 'backup open');
    await until(() => r!.seqs.length > 50, 10_000, 'events');

    // Requests: one answered (a query), one refused by the server (EventError).
    const dn = r.sim.routePoints[0]!;
    await r.pair.request('RequestQueryServer', {}, { timeoutMs: 5000 });
    await r.pair.request('RequestRouteCall', { ThisDN: dn, ConnID: 1n, OtherDN: '1', RouteType: 2 }, { timeoutMs: 5000 }).catch(() => {});

    await r.sim.fault({ kind: 'kill', server: 'primary' });
    await until(() => r!.log.some((e) => e.type === 'switchover'), 15_000, 'switchover');
    // The killed primary is retried and refused: attempts fail (all of them counted, not sampled).
    await untilAsync(async () => (await value(registry, 'tserver_ha_connect_attempts_total', { outcome: 'failed' })) > 0, 15_000, 'a failed attempt');

    const stats = r.pair.stats;
    const p = { pair: 'TestPair' };
    expect(await value(registry, 'tserver_ha_switchovers_total', { ...p, reason: 'crash' })).toBe(1);
    expect(await value(registry, 'tserver_ha_events_delivered_total', p)).toBeGreaterThanOrEqual(stats.delivered);
    expect(await value(registry, 'tserver_ha_events_replayed_total', p)).toBeGreaterThanOrEqual(stats.replayed);
    expect(await value(registry, 'tserver_ha_disconnects_total', { ...p, endpoint: 'primary' })).toBe(1);
    expect(await value(registry, 'tserver_ha_connect_attempts_total', { ...p, endpoint: 'primary', outcome: 'opened' })).toBe(1);
    expect(await value(registry, 'tserver_ha_requests_total', { ...p, request: 'RequestQueryServer', outcome: 'ok' })).toBe(1);
    expect(await value(registry, 'tserver_ha_requests_total', { ...p, request: 'RequestRouteCall' })).toBe(1);
    const recovery = (await values(registry, 'tserver_ha_switchover_recovery_seconds')).find((v) => v.metricName === 'tserver_ha_switchover_recovery_seconds_count');
    expect(recovery?.value).toBe(1);
    const latency = (await values(registry, 'tserver_ha_request_duration_seconds')).filter((v) => v.metricName === 'tserver_ha_request_duration_seconds_count');
    expect(latency.reduce((n, v) => n + v.value, 0)).toBe(2);
    // State gauges, read at scrape time.
    expect(await value(registry, 'tserver_ha_endpoint_up', { ...p, endpoint: 'backup' })).toBe(1);
    expect(await value(registry, 'tserver_ha_endpoint_active', { ...p, endpoint: 'backup' })).toBe(1);
    expect(await value(registry, 'tserver_ha_endpoint_transport', { ...p, endpoint: 'backup', transport })).toBe(1);
    expect(await value(registry, 'tserver_ha_queued_requests', p)).toBe(0);
    expect(await value(registry, 'tserver_ha_native_memory_limit_bytes')).toBeGreaterThan(0);
    if (transport === 'native') expect(await value(registry, 'tserver_ha_native_connections')).toBeGreaterThan(0);
    // The text exposition works and names the pair; no label has an empty value (an opened attempt has no code).
    const text = await registry.metrics();
    expect(text).toMatch(/tserver_ha_switchovers_total\{pair="TestPair",reason="crash"\} 1/);
    expect(text).toMatch(/tserver_ha_connect_attempts_total\{pair="TestPair",endpoint="primary",outcome="opened"\} 1/);
    expect(text).toMatch(/tserver_ha_connect_attempts_total\{pair="TestPair",endpoint="primary",outcome="failed",code="ERR_[A-Z_]+"\} \d+/);
    expect(text).not.toContain('=""');

    stop();
    expect(registry.getSingleMetric('tserver_ha_switchovers_total')).toBeUndefined();
  });

});

/**
 * A stand-in for a TServerPair: the name, the events, `stats` and `state` collectMetrics reads. Attempts and
 * requests go through the real diagnostics channels, as the pair publishes them.
 */
function fakePair(name: string): TServerPair & { fire(event: string, payload: object): void } {
  const e = new EventEmitter();
  const endpoint = { server: 'open', role: 'primary', link: 'up', breaker: 'closed', pendingRequests: 0, transport: 'node' };
  return Object.assign(e, {
    options: { name },
    stats: { delivered: 7, duplicatesDropped: 0, replayed: 0, gaps: 0, switchovers: 0, lateReplies: 0 },
    state: { active: 'primary', queuedRequests: 0, endpoints: { primary: endpoint, backup: { ...endpoint, role: 'backup' } } },
    fire(event: string, payload: object) {
      e.emit(event, payload);
    },
  }) as unknown as TServerPair & { fire(event: string, payload: object): void };
}

const attemptFailed = diagnostics.channel('tserver-ha:attempt-failed');
function failAttempt(pair: string): void {
  attemptFailed.publish({ pair, endpoint: 'backup', attempt: 1, error: { code: 'ERR_CONNECT_REFUSED' } });
}
async function request(pair: string, outcome: 'ok' | 'ERR_SERVER'): Promise<void> {
  const ctx: RequestTraceContext = { pair, request: 'RequestQueryServer', referenceId: 1, timeoutMs: 1000, idempotent: false, active: 'primary' };
  await requestChannel.tracePromise(() => (outcome === 'ok' ? Promise.resolve({}) : Promise.reject(Object.assign(new Error('no'), { code: outcome }))), ctx).catch(() => {});
}
function activity(pair: ReturnType<typeof fakePair>): void {
  const name = pair.options.name;
  pair.fire('EventServerConnected', { source: 'primary' });
  pair.fire('switchover', { reason: 'crash', detectedAt: 1, announcedAt: 2, completedAt: 3 });
  pair.fire('gap', { reason: 'switchover' });
  pair.fire('EventServerDisconnected', { source: 'primary', reason: 'peer-closed' });
  pair.fire('breaker', { source: 'backup', state: 'open' });
  pair.fire('heartbeat', { source: 'backup', rttMs: 1 });
  failAttempt(name);
}
/** The pair labels present in the exposition of metrics whose names start with `prefix`. */
async function pairsIn(registry: Registry, prefix: string): Promise<Set<string>> {
  const text = await registry.metrics();
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(prefix)) continue;
    const m = /pair="([^"]*)"/.exec(line);
    if (m) out.add(m[1]!);
  }
  return out;
}
const names = (registry: Registry) => registry.getMetricsAsArray().map((m) => m.name).sort();

describe('tserver-ha/metrics: several pairs and prefixes on one registry', () => {
  it('two pairs on one prefix share the metrics, each labelled by its own name; stopping one removes its series only', async () => {
    const registry = new Registry();
    const mine = new Counter({ name: 'app_requests_total', help: 'the application\'s own', registers: [registry] });
    mine.inc();
    const a = fakePair('A');
    const b = fakePair('B');
    const stopA = collectMetrics(a, { registry });
    const stopB = collectMetrics(b, { registry });
    activity(a);
    await request('A', 'ok');
    await request('B', 'ERR_SERVER');
    expect(await value(registry, 'tserver_ha_switchovers_total', { pair: 'A' })).toBe(1);
    expect(await value(registry, 'tserver_ha_switchovers_total', { pair: 'B' })).toBe(0);
    expect(await value(registry, 'tserver_ha_connect_attempts_total', { pair: 'A', outcome: 'failed', code: 'ERR_CONNECT_REFUSED' })).toBe(1);
    expect(await value(registry, 'tserver_ha_connect_attempts_total', { pair: 'B' })).toBe(0);
    expect(await value(registry, 'tserver_ha_requests_total', { pair: 'A', outcome: 'ok' })).toBe(1);
    expect(await value(registry, 'tserver_ha_requests_total', { pair: 'B', outcome: 'ERR_SERVER' })).toBe(1);
    expect(await registry.metrics()).not.toContain('=""');
    expect(await pairsIn(registry, 'tserver_ha_')).toEqual(new Set(['A', 'B']));

    stopA();
    // Every series of A is gone (event-driven ones at once, scrape-time ones at this scrape); B's stay.
    expect(await pairsIn(registry, 'tserver_ha_')).toEqual(new Set(['B']));
    expect(await value(registry, 'tserver_ha_requests_total', { pair: 'B', outcome: 'ERR_SERVER' })).toBe(1);
    // A stopped pair's events and channel messages count nowhere.
    activity(a);
    await request('A', 'ok');
    expect(await pairsIn(registry, 'tserver_ha_')).toEqual(new Set(['B']));

    stopB();
    expect(names(registry)).toEqual(['app_requests_total']);
    expect(await value(registry, 'app_requests_total')).toBe(1);
  });

  it('two prefixes on one registry are separate sets: each counts only its own pairs, and stopping removes exactly its metrics', async () => {
    const registry = new Registry();
    new Counter({ name: 'app_requests_total', help: 'the application\'s own', registers: [registry] });
    const a = fakePair('A');
    const b = fakePair('B');
    const stopA = collectMetrics(a, { registry, prefix: 'a_' });
    const stopB = collectMetrics(b, { registry, prefix: 'b_' });
    expect(names(registry)).toHaveLength(1 + 2 * METRIC_NAMES.length);
    activity(a);
    activity(b);
    await request('A', 'ok');
    expect(await pairsIn(registry, 'a_')).toEqual(new Set(['A']));
    expect(await pairsIn(registry, 'b_')).toEqual(new Set(['B']));
    expect(await value(registry, 'a_switchovers_total')).toBe(1);
    expect(await value(registry, 'b_switchovers_total')).toBe(1);
    expect(await value(registry, 'a_connect_attempts_total', { outcome: 'failed' })).toBe(1);
    expect(await value(registry, 'b_connect_attempts_total', { outcome: 'failed' })).toBe(1);
    expect(await value(registry, 'a_requests_total')).toBe(1);
    expect(await value(registry, 'b_requests_total')).toBe(0);

    stopA();
    expect(names(registry)).toEqual(['app_requests_total', ...METRIC_NAMES.map((n) => `b_${n}`)].sort());
    expect(await value(registry, 'b_switchovers_total', { pair: 'B' })).toBe(1);
    stopB();
    stopB(); // idempotent
    expect(names(registry)).toEqual(['app_requests_total']);
  });

  it('one pair may be collected under two prefixes; the same prefix twice, another pair of the same name, or a taken metric name is refused without registering anything', async () => {
    const registry = new Registry();
    const a = fakePair('A');
    const stop1 = collectMetrics(a, { registry, prefix: 'x_' });
    const stop2 = collectMetrics(a, { registry, prefix: 'y_' });
    activity(a);
    expect(await value(registry, 'x_switchovers_total', { pair: 'A' })).toBe(1);
    expect(await value(registry, 'y_switchovers_total', { pair: 'A' })).toBe(1);
    expect(() => collectMetrics(a, { registry, prefix: 'x_' })).toThrow(ConfigError);
    expect(() => collectMetrics(a, { registry, prefix: 'x_' })).toThrow(/already collected on this registry with prefix x_/);
    // The channels name pairs only by name: a second pair called A would be counted as A everywhere.
    expect(() => collectMetrics(fakePair('A'), { registry: new Registry() })).toThrow(/another pair named A/);
    const before = names(registry);
    new Counter({ name: 'z_gaps_total', help: 'someone else\'s', registers: [registry] });
    expect(() => collectMetrics(a, { registry, prefix: 'z_' })).toThrow(/already has metrics named z_gaps_total/);
    expect(names(registry)).toEqual([...before, 'z_gaps_total'].sort());
    stop1();
    stop2();
    // Once stopped, the name is free for another pair.
    const stop3 = collectMetrics(fakePair('A'), { registry: new Registry() });
    stop3();
    expect(names(registry)).toEqual(['z_gaps_total']);
  });

  it('without prom-client, importing tserver-ha/metrics works and collectMetrics throws a MissingDependencyError saying to install it', () => {
    // A fresh process in which resolving prom-client fails, as when it is not installed.
    const dir = mkdtempSync(join(tmpdir(), 'tsha-noprom-'));
    try {
      const preload = join(dir, 'no-prom-client.cjs');
      writeFileSync(preload, `
        const Module = require('node:module');
        const resolve = Module._resolveFilename;
        Module._resolveFilename = function (request, ...rest) {
          if (request === 'prom-client') {
            const e = new Error("Cannot find module 'prom-client'");
            e.code = 'MODULE_NOT_FOUND';
            throw e;
          }
          return resolve.call(this, request, ...rest);
        };`);
      const code = `
        const m = await import(process.argv[1]);
        const errors = await import(process.argv[2]);
        try {
          m.collectMetrics({ options: { name: 'P' }, on() {}, off() {} });
          console.log(JSON.stringify({ threw: false }));
        } catch (e) {
          console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message, dependency: e.dependency, typed: e instanceof errors.MissingDependencyError, sameClass: m.MissingDependencyError === errors.MissingDependencyError }));
        }`;
      const root = join(import.meta.dirname, '..', '..');
      const out = execFileSync(process.execPath, ['--require', preload, '--input-type=module', '-e', code, join(root, 'dist', 'lib', 'metrics', 'index.js'), join(root, 'dist', 'lib', 'index.js')], { encoding: 'utf8' });
      const e = JSON.parse(out) as Record<string, unknown>;
      expect(e).toMatchObject({ name: 'MissingDependencyError', code: 'ERR_MISSING_DEPENDENCY', dependency: 'prom-client', typed: true, sameClass: true });
      expect(e.message).toContain('npm install prom-client');
      expect(e.message).toContain('tserver-ha/metrics');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(MissingDependencyError.name).toBe('MissingDependencyError');
  });
});
