/**
 * `tserver-ha --help` as a user runs it (the compiled CLI in a child process): one line per command with
 * what it does, the same line as the command's own `summary`, printed without loading any command (so
 * without loading the addon: no native warning even where it is missing).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { command as bench } from '../../lib/cli/bench.js';
import { command as demo } from '../../lib/cli/demo.js';
import { command as sim } from '../../lib/cli/sim.js';

const root = join(import.meta.dirname, '..', '..');
const cli = join(root, 'dist', 'lib', 'cli', 'main.js');
const own: Record<string, string> = { demo: demo.summary, sim: sim.summary, bench: bench.summary };

function run(args: string[]) {
  // An addon path that does not exist: loading the addon would print TSERVER_HA_NO_NATIVE.
  const env: NodeJS.ProcessEnv = { ...process.env, TSERVER_HA_ADDON_PATH: join(root, 'no-such-addon.node') };
  delete env.TSERVER_HA_NATIVE;
  return spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env });
}

/** The `name  summary` lines under "commands:". */
function commandLines(text: string): Record<string, string> {
  const block = text.split('commands:\n')[1]!.split('\n\n')[0]!;
  return Object.fromEntries(block.split('\n').map((l) => {
    const m = /^ {2}(\S+) +(\S.*)$/.exec(l);
    if (!m) throw new Error(`not a command line: ${JSON.stringify(l)}`);
    return [m[1]!, m[2]!];
  }));
}

describe('tserver-ha --help', () => {
  it('lists every command with a one-line summary, the command\'s own, and exits 0 without loading any command', () => {
    const r = run(['--help']);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^usage: tserver-ha <command> \[options\]\n/);
    const lines = commandLines(r.stdout);
    expect(lines).toEqual(own);
    for (const s of Object.values(lines)) expect(s.length).toBeGreaterThan(10);
    // The summaries line up in one column.
    const block = r.stdout.split('commands:\n')[1]!.split('\n\n')[0]!.split('\n');
    expect(new Set(block.map((l, i) => l.indexOf(Object.values(lines)[i]!))).size).toBe(1);
    expect(run(['-h']).stdout).toBe(r.stdout);
  });

  it('without a command, and with an unknown one, prints the same list and exits 2', () => {
    const none = run([]);
    expect(none.status).toBe(2);
    expect(commandLines(none.stdout)).toEqual(own);
    const unknown = run(['frobnicate']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/^tserver-ha: unknown command 'frobnicate'\n/);
    expect(commandLines(unknown.stderr)).toEqual(own);
    // Not a command just because it is a property of every object.
    expect(run(['toString']).status).toBe(2);
  });
});
