#!/usr/bin/env node
/**
 * `tserver-ha <subcommand>`. Each subcommand lives in its own file and is listed in {@link commands}:
 * adding one is one file and one line here.
 */
import { UsageError, type Command } from './command.js';

/** Subcommands, loaded on demand. */
export const commands: Record<string, () => Promise<Command>> = {
  sim: async () => (await import('./sim.js')).command,
  demo: async () => (await import('./demo.js')).command,
  bench: async () => (await import('./bench.js')).command,
};

function mainUsage(): string {
  return `usage: tserver-ha <command> [options]\n\ncommands:\n${Object.keys(commands).map((c) => `  ${c}`).join('\n')}\n\nRun tserver-ha <command> --help for the options of a command.\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h') {
    process.stdout.write(mainUsage());
    return name === undefined ? 2 : 0;
  }
  const load = commands[name];
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
