#!/usr/bin/env node
/**
 * `tserver-ha <subcommand>`. Each subcommand lives in its own file and is listed in {@link commands}:
 * adding one is one file and one line here.
 */
import { UsageError, type Command } from './command.js';

/**
 * Subcommands, loaded on demand, each with its one-line summary: `--help` prints the summaries without
 * loading any command (loading one loads the pair and so the addon). The summary is the command's own
 * `summary` (test/cli/help.test.ts checks that they agree).
 */
export const commands: Record<string, { summary: string; load: () => Promise<Command> }> = {
  demo: { summary: 'fail over a T-Server pair on the simulator and check every event', load: async () => (await import('./demo.js')).command },
  sim: { summary: 'run a simulated switch and T-Server pair', load: async () => (await import('./sim.js')).command },
  bench: { summary: 'failover benchmark on the simulator or a lab pair, with an HTML report', load: async () => (await import('./bench.js')).command },
};

function mainUsage(): string {
  const names = Object.keys(commands);
  const width = Math.max(...names.map((n) => n.length));
  const lines = names.map((n) => `  ${n.padEnd(width)}  ${commands[n]!.summary}`);
  return `usage: tserver-ha <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nRun tserver-ha <command> --help for the options of a command.\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h') {
    process.stdout.write(mainUsage());
    return name === undefined ? 2 : 0;
  }
  const load = Object.hasOwn(commands, name) ? commands[name]!.load : undefined;
  if (!load) {
    process.stderr.write(`tserver-ha: unknown command '${name}'\n${mainUsage()}`);
    return 2;
  }
  const cmd = await load();
  try {
    return await cmd.run(rest);
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`tserver-ha ${name}: ${(err as Error).message}\n\n${cmd.usage}`);
      return 2;
    }
    if ((err as { code?: string }).code === 'ERR_INVALID_CONFIG') {
      process.stderr.write(`tserver-ha ${name}: ${(err as Error).message}\n`);
      return 2;
    }
    throw err;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`tserver-ha: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
