/**
 * tserver-ha/metrics against a real simulator run: a hot pair routes requests, its primary is killed, and
 * the prom-client registry then holds the numbers the pair itself reports (stats, state, switchover) plus
 * every failed connection attempt and every request's outcome. Values are compared with the pair's own
 * counters, never with a speed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { collectMetrics, METRIC_NAMES } from '../../lib/metrics/index.js';
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
    // The text exposition works and names the pair.
    expect(await registry.metrics()).toMatch(/tserver_ha_switchovers_total\{pair="TestPair",reason="crash"\} 1/);

    stop();
    expect(registry.getSingleMetric('tserver_ha_switchovers_total')).toBeUndefined();
  });

  it('refuses a second pair of the same name on one registry, and shares metrics between pairs', async () => {
    r = await rig({ mode: 'hot', rate: 0 }, { transport: 'node' });
    const registry = new Registry();
    const stop = collectMetrics(r.pair, { registry, prefix: 'x_' });
    expect(() => collectMetrics(r!.pair, { registry })).toThrow(/already collected/);
    expect(registry.getSingleMetric('x_events_delivered_total')).toBeDefined();
    stop();
  });
});
