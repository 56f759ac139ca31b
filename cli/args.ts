// Argument parsing shared by the subcommands: node's parseArgs, with our usage errors.
import { parseArgs, type ParseArgsConfig } from 'node:util';

export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * Parses `argv` strictly: an unknown flag, or any positional argument for a command that
 * takes none (`{ positionals: false }`), is a UsageError.
 */
export function parse<T extends NonNullable<ParseArgsConfig['options']>>(
  argv: string[],
  options: T,
  { positionals = true }: { positionals?: boolean } = {},
) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: positionals, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/**
 * Refuses each flag of `names` (name → what it must name) given empty, as `--state "$UNSET"`
 * gives it: a path that names nothing, or, read as no flag at all, what the flag asks for
 * (a --state check, an --out file) dropped without a word.
 * @throws UsageError naming the first such flag.
 */
export function refuseEmpty(
  values: Readonly<Record<string, unknown>>,
  names: Readonly<Record<string, string>>,
): void {
  for (const [name, what] of Object.entries(names))
    if (values[name] === '') throw new UsageError(`--${name} must name ${what}, got ""`);
}

export function intOption(
  value: string | undefined,
  name: string,
  fallback: number,
  min = 0,
  max = 65_535,
): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new UsageError(
      `--${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`,
    );
  }
  return Number(value);
}

export function requireEnv(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) throw new UsageError(`${name} is not set`);
  return value;
}

/** An error of a file system call (it carries an errno code and the call's name). */
export function isFileSystemError(error: unknown): error is NodeJS.ErrnoException {
  const e = error as NodeJS.ErrnoException | undefined;
  return (
    error instanceof Error &&
    typeof e?.code === 'string' &&
    /^E[A-Z]+$/.test(e.code) &&
    typeof e.syscall === 'string' &&
    typeof e.path === 'string'
  );
}
