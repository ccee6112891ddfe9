import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, rmSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startSimulation } from '../../lib/sim/index.js';
import { until } from './raw-client.js';

const root = join(import.meta.dirname, '..', '..');
const cli = join(root, 'dist', 'lib', 'cli', 'main.js');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function runCli(args: string[]) {
  const p = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return { p, out: () => out, err: () => err };
}

async function controlRequest(port: number, msg: unknown): Promise<{ ok: boolean; result?: unknown; error?: string }> {
  const s = net.connect({ host: '127.0.0.1', port });
  await once(s, 'connect');
  s.write(JSON.stringify(msg) + '\n');
  let buf = '';
  for await (const chunk of s) {
    buf += String(chunk);
    if (buf.includes('\n')) break;
  }
  s.destroy();
  return JSON.parse(buf) as { ok: boolean; result?: unknown; error?: string };
}

describe('simulator lifecycle and CLI', { timeout: 30_000 }, () => {
  it('stop() leaves no child process behind', async () => {
    const sim = await startSimulation();
    const pids = Object.values(sim.pids()) as number[];
    expect(pids).toHaveLength(3);
    expect(pids.every(alive)).toBe(true);
    await sim.stop();
    expect(pids.some(alive)).toBe(false);
    expect(existsSync(sim.dir), 'its working directory is removed').toBe(false);
  });

  it('a start that fails removes only a directory it made: never one it was given', async () => {
    const first = await startSimulation({ rate: 0 });
    const busy = net.createServer();
    busy.listen(0, '127.0.0.1');
    await once(busy, 'listening');
    try {
      const port = (busy.address() as net.AddressInfo).port;
      // Given the running simulation's directory and a port that is taken: the start fails.
      await expect(startSimulation({ rate: 0, dir: first.dir, ports: { switch: port } })).rejects.toThrow();
      expect(existsSync(first.dir), "the running simulation's directory is still there").toBe(true);
    } finally {
      busy.close();
      await first.stop();
    }
    expect(existsSync(first.dir)).toBe(false);
  });

  it('a server whose port is taken fails the start (it is not reported ready while it cannot listen)', async () => {
    const busy = net.createServer();
    busy.listen(0, '127.0.0.1');
    await once(busy, 'listening');
    try {
      const port = (busy.address() as net.AddressInfo).port;
      await expect(startSimulation({ rate: 0, ports: { primary: port } })).rejects.toThrow(/A exited before it was ready/);
      await expect(startSimulation({ rate: 0, ports: { primary: 20001, backup: 20001 } })).rejects.toThrow(/each server needs its own port/);
    } finally {
      busy.close();
    }
  });

  it('children exit when their parent is killed with SIGKILL', async () => {
    const r = runCli(['sim', '--json']);
    await until(() => r.out().includes('\n'), 15_000, 'CLI endpoints');
    const info = JSON.parse(r.out().split('\n')[0]!) as { control: { port: number }; dir: string };
    const st = (await controlRequest(info.control.port, { op: 'status' })) as { ok: boolean; result: { pids: Record<string, number> } };
    expect(st.ok).toBe(true);
    const children = Object.values(st.result.pids);
    expect(children).toHaveLength(3);
    expect(children.every(alive)).toBe(true);
    r.p.kill('SIGKILL');
    await until(() => !children.some(alive), 10_000, 'children to exit');
    // A process killed with SIGKILL cannot remove its working directory: the one who killed it does.
    expect(existsSync(info.dir)).toBe(true);
    rmSync(info.dir, { recursive: true, force: true });
  });

  it('tserver-ha sim: control address runs faults; Ctrl-C (SIGINT) stops everything cleanly', async () => {
    const r = runCli(['sim', '--json', '--mode', 'warm', '--promotion-delay', '100']);
    await until(() => r.out().includes('\n'), 15_000, 'CLI endpoints');
    const info = JSON.parse(r.out().split('\n')[0]!) as { mode: string; control: { port: number }; backup: { port: number }; dir: string };
    expect(info.mode).toBe('warm');
    const bad = await controlRequest(info.control.port, { kind: 'kill', server: 'nobody' });
    expect(bad.ok).toBe(false);
    expect(bad.error).toMatch(/server must be/);
    const killed = await controlRequest(info.control.port, { kind: 'kill', server: 'primary' });
    expect(killed.ok).toBe(true);
    await until(() => r.err().includes('switchover A -> B (crash)'), 10_000, 'switchover line');
    const emitted = await controlRequest(info.control.port, { op: 'emit', count: 5 });
    expect(emitted).toMatchObject({ ok: true, result: { seq: 5 } });
    const nums = (await controlRequest(info.control.port, { op: 'numberings' })) as { ok: boolean; result: { label: string; base: number }[] };
    expect(nums.ok).toBe(true);
    expect(nums.result).toEqual([expect.objectContaining({ label: expect.stringMatching(/^sw-[0-9a-f]{8}$/), base: 0 })]);
    r.p.kill('SIGINT');
    const [code] = (await once(r.p, 'exit')) as [number];
    expect(code).toBe(0);
    expect(existsSync(info.dir), 'its working directory is removed').toBe(false);
  });

  it('bad CLI options exit with code 2 and a clear message', async () => {
    for (const args of [['sim', '--mode', 'cold'], ['sim', '--rate', 'fast'], ['sim', '--bogus'], ['sim', '--primary-port', '70000'], ['nosuch']]) {
      const r = runCli(args);
      const [code] = (await once(r.p, 'exit')) as [number];
      expect(code, args.join(' ')).toBe(2);
      expect(r.err()).toMatch(/tserver-ha/);
    }
  });
});
