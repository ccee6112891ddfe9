/** The shape of one `tserver-ha` subcommand, and the usage error that exits with code 2. */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A subcommand: one file under lib/cli exporting `command`. */
export interface Command {
  /** One line saying what it does; `tserver-ha --help` prints the same line from lib/cli/main.ts (a test keeps them equal). */
  summary: string;
  /** Full help text. */
  usage: string;
  /** Run with the arguments after the subcommand name; resolves with the exit code. */
  run(argv: string[]): Promise<number>;
}

/** Bad command-line input: printed with the usage hint, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Parse a non-negative integer option or throw a {@link UsageError} naming it. */
export function intArg(name: string, v: string | undefined, def: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (v === undefined) return def;
  if (!/^\d+$/.test(v)) throw new UsageError(`--${name} must be a whole number, got '${v}'`);
  const n = Number(v);
  if (n < min || n > max) throw new UsageError(`--${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

/**
 * Parse a subcommand's arguments with node:util parseArgs (strict, no positionals) plus `-h/--help`.
 * Returns null after printing `usage` for --help; throws {@link UsageError} for a stray argument.
 */
type CommandOptions = NonNullable<ParseArgsConfig['options']>;
type CommandValues<O extends CommandOptions> = ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>>['values'];

export function parseCommandArgs<const O extends CommandOptions>(argv: string[], options: O, usage: string): CommandValues<O> | null {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: { ...options, help: { type: 'boolean', short: 'h' } },
  });
  if ((values as { help?: boolean }).help) {
    process.stdout.write(usage);
    return null;
  }
  if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  return values as CommandValues<O>;
}
