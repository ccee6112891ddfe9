/**
 * `tserver-ha bench` against a "lab pair": here the simulator plays the lab, reached only through its
 * endpoints and its control address, with the failover started by `--fault-cmd` (a shell command that
 * writes a fault to the control address) and the failed server brought back by `--restore-cmd`. Checks
 * that the report measures what a client can see and that a passive run routes nothing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { BenchReport } from '../../lib/cli/bench/types.js';
import { startControlServer } from '../../lib/sim/control.js';
import { startSimulation, type Simulation } from '../../lib/sim/index.js';
import { runCli } from './cli.js';

let sim: Simulation | undefined;
let control: { close(): void } | undefined;
afterEach(async () => {
  control?.close();
  control = undefined;
  await sim?.stop();
  sim = undefined;
});

/** A shell command that sends one JSON line to the control address and waits for the reply. */
function controlCmd(port: number, msg: object): string {
  const js = `const s=require("net").connect(${port},"127.0.0.1",()=>s.write(${JSON.stringify(JSON.stringify(msg))}+"\\n"));s.on("data",()=>s.end());s.on("error",()=>process.exit(1))`;
  return `'${process.execPath}' -e '${js}'`;
}

describe('tserver-ha bench against a lab pair', { timeout: 180_000 }, () => {
  it('runs the fault command, measures the failover, restores, and routes only with --route-to', async () => {
    sim = await startSimulation({ mode: 'hot', rate: 1000, promotionDelayMs: 200 });
    const c = await startControlServer(sim, sim.host, 0, () => {});
    control = c;
    const base = [
      'bench', '--primary', `127.0.0.1:${sim.primary.port}`, '--backup', `127.0.0.1:${sim.backup.port}`, '--mode', 'hot', '--transport', 'node',
      '--dns', '7000-7003,5000-5007', '--fault-cmd', controlCmd(c.port, { kind: 'kill', server: 'primary' }),
      // The killed server is the backup now (the management role promoted the other): restart it.
      '--restore-cmd', controlCmd(c.port, { kind: 'restart', server: 'backup' }),
      '--before', '300', '--after', '300', '--wait-timeout', '20000', '--json',
    ];
    const active = await runCli([...base, '--runs', '2', '--route-to', '5001'], 150_000);
    expect(active.code, active.stderr).toBe(0);
    expect(active.stderr).toMatch(/ACTIVE.*RequestRouteCall to 5001/);
    const r = JSON.parse(active.stdout) as BenchReport;
    expect(r.target).toBe('lab');
    const cell = r.cells[0]!;
    expect(cell.key).toBe('hot/node/fault-cmd');
    expect(cell.runs.map((x) => x.error)).toEqual([null, null]);
    for (const m of ['detectMs', 'firstEventMs', 'recoverMs', 'overheadMs'] as const) expect(cell.summary[m]?.count, m).toBe(2);
    expect(cell.summary.readyMs).toBeNull();
    expect(cell.runs[0]!.extra.faultCmdExit).toBe(0);
    // Every DN with traffic is registered: numbers are complete, nothing repeated or missing.
    expect(cell.totals.events.duplicated).toBe(0);
    expect(cell.totals.events.lost).toBe(0);
    expect(cell.totals.requests.sent).toBeGreaterThan(0);
    expect(cell.totals.requests.unsettled).toBe(0);
    expect(cell.totals.requests.unexplained).toBe(0);
    // The calls it routed went where it said.
    const routed = sim.oracle().routes.filter((x) => x.by === 'request');
    expect(routed.length).toBeGreaterThan(0);
    expect(new Set(routed.map((x) => x.destination))).toEqual(new Set(['5001']));

    // Passive: nothing routed by it.
    const before = sim.oracle().routes.filter((x) => x.by === 'request').length;
    const passive = await runCli([...base, '--runs', '1'], 120_000);
    expect(passive.code, passive.stderr).toBe(0);
    expect(passive.stderr).toMatch(/passive/);
    const p = JSON.parse(passive.stdout) as BenchReport;
    expect(p.cells[0]!.totals.requests.sent).toBe(0);
    expect(p.cells[0]!.runs[0]!.error).toBeNull();
    expect(sim.oracle().routes.filter((x) => x.by === 'request').length).toBe(before);
  });
});
