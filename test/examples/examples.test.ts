/**
 * Every program in examples/ runs as a user would run it — `node examples/x.mjs --primary … --backup …`,
 * importing the package by its name (`tserver-ha` resolves to this package through its own `exports`) —
 * against the simulator's real processes. Each is stopped with SIGTERM (or stops itself) and must exit 0
 * with the output it promises; no child is left behind. Needs dist/ (npm test's pretest builds it).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulation, type Simulation } from '../../lib/sim/index.js';
import { until } from '../helpers/wait.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
let sim: Simulation;
const children: ChildProcess[] = [];

interface Run {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exited: Promise<number | null>;
}

function run(file: string, extra: string[] = []): Run {
  const rp = sim.routePoints[0]!;
  const agent = sim.agents[0]!;
  const child = spawn(process.execPath, [join(root, 'examples', file), '--primary', `${sim.primary.host}:${sim.primary.port}`,
    '--backup', `${sim.backup.host}:${sim.backup.port}`, '--dns', `${rp},${agent}`, ...extra], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, out: () => out, err: () => err, exited };
}

async function exitOf(r: Run, ms = 20_000): Promise<number | null> {
  let t: NodeJS.Timeout | undefined;
  const code = await Promise.race([r.exited, new Promise<'late'>((res) => (t = setTimeout(res, ms, 'late')))]);
  clearTimeout(t);
  if (code === 'late') throw new Error(`example did not exit within ${ms} ms\n${r.out()}\n${r.err()}`);
  return code;
}

beforeAll(async () => {
  if (!existsSync(join(root, 'dist', 'lib', 'index.js'))) throw new Error('dist/ missing: npm run build first');
  sim = await startSimulation({ mode: 'hot', rate: 200, routeTimeoutMs: 5000 });
}, 60_000);

afterAll(async () => {
  const alive = children.filter((c) => c.exitCode === null && c.signalCode === null);
  for (const c of alive) c.kill('SIGKILL');
  await sim?.stop();
  expect(alive.map((c) => c.spawnargs[1])).toEqual([]);
});

describe('examples/', { timeout: 60_000 }, () => {
  it('route.mjs (ESM) opens, routes calls, and closes on SIGTERM, letting routes already sent be answered', async () => {
    // The switch acts on a route at once and the answer leaves 300 ms later: SIGTERM lands in between.
    await sim.fault({ kind: 'route-reply-latency', server: 'primary', ms: 300 });
    try {
      const r = run('route.mjs');
      await until(() => /open: requests go to primary/.test(r.out()), 20_000, () => `open\n${r.out()}\n${r.err()}`);
      await until(() => sim.oracle().routes.some((x) => x.by === 'request'), 20_000, 'a routed call');
      r.child.kill('SIGTERM');
      expect(await exitOf(r)).toBe(0);
      expect(r.out()).toMatch(/connected primary \(role primary\)/);
      expect(r.out()).toMatch(/routed [1-9]\d* calls; delivered [1-9]\d* events/);
      expect(r.err()).toBe('');
    } finally {
      await sim.fault({ kind: 'route-reply-latency', server: 'primary', ms: 0 });
    }
  });

  it('commonjs.cjs loads the package with require()', async () => {
    const r = run('commonjs.cjs', ['--run-ms', '300']);
    expect(await exitOf(r)).toBe(0);
    expect(r.out()).toMatch(/open: requests go to primary; native addon loaded: (true|false)/);
    expect(r.out()).toMatch(/closed; delivered \d+ events/);
    expect(r.err()).not.toMatch(/ERR_REQUIRE_ESM|ERR_REQUIRE_ASYNC_MODULE/);
  });

  it('metrics.mjs serves prom-client metrics with the pair\'s numbers', async () => {
    const r = run('metrics.mjs');
    await until(() => /metrics on (http:\S+)/.test(r.out()), 20_000, () => `listening\n${r.out()}\n${r.err()}`);
    const url = /metrics on (http:\S+)/.exec(r.out())![1]!;
    let text = '';
    await until(async () => {
      text = await (await fetch(url)).text();
      return /tserver_ha_events_delivered_total\{pair="ExamplePair"\} [1-9]/.test(text);
    }, 20_000, () => `delivered events in /metrics\n${text.slice(0, 2000)}`);
    expect(text).toMatch(/tserver_ha_endpoint_up\{pair="ExamplePair",endpoint="primary"\} 1/);
    expect(text).toMatch(/process_cpu_user_seconds_total/);
    r.child.kill('SIGTERM');
    expect(await exitOf(r)).toBe(0);
  });

  it('health.mjs: /healthz (liveness) stays 200 through an outage of the primary; /readyz says whether a server takes requests', async () => {
    const r = run('health.mjs');
    await until(() => /ready/.test(r.out()), 20_000, () => `ready\n${r.out()}\n${r.err()}`);
    const base = /health on (http:\S+)\/healthz/.exec(r.out())![1]!;
    const ok = await fetch(`${base}/healthz`);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ live: true, ready: true, active: 'primary' });
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    // The primary's CTI link drops: no server takes requests until the backup is promoted or the link
    // returns. Liveness must not flap (a liveness probe would restart the pod at every switchover).
    await sim.fault({ kind: 'link-down', server: 'primary' });
    const live: number[] = [];
    await until(async () => {
      live.push((await fetch(`${base}/healthz`)).status);
      return live.length >= 40;
    }, 20_000, () => `40 polls (${live.length})`, 5);
    await sim.fault({ kind: 'link-up', server: 'primary' });
    await until(async () => (await fetch(`${base}/readyz`)).status === 200, 20_000, 'ready again');
    expect(live.filter((c) => c !== 200)).toEqual([]);
    r.child.kill('SIGTERM');
    expect(await exitOf(r)).toBe(0);
  });

  it('graceful-shutdown.mjs settles in-flight requests and closes on SIGTERM, exit 0', async () => {
    const r = run('graceful-shutdown.mjs');
    await until(() => /open: requests go to/.test(r.out()), 20_000, () => `open\n${r.out()}\n${r.err()}`);
    r.child.kill('SIGTERM');
    expect(await exitOf(r)).toBe(0);
    expect(r.out()).toMatch(/SIGTERM: stopping, \d+ requests in flight/);
    expect(r.out()).toMatch(/closed cleanly after \d+ events/);
  });
});
