/**
 * What every command shares and nothing heavy: exit codes, the errors that become them, flags. Loading
 * this costs nothing, so `rollout --help` and the dispatch stay fast; each command module loads its own
 * dependencies when it runs.
 */
import { readFileSync } from 'node:fs';
import { FAILURE_KINDS } from '../domain/failure-kinds.js';
import { printError } from './output.js';

/** Exit codes: the failures' from the one classification (domain/failure-kinds.ts). */
export const EXIT = {
  ok: 0,
  notAsExpected: 1,
  usage: FAILURE_KINDS['bad-input'].exit,
  refused: FAILURE_KINDS.refused.exit,
  notFound: FAILURE_KINDS['not-found'].exit,
  unreachable: FAILURE_KINDS.unreachable.exit,
  incomplete: FAILURE_KINDS.incomplete.exit,
  internal: FAILURE_KINDS.internal.exit,
} as const;

/** The command line is wrong: the message says how (exit 2). */
export class UsageError extends Error {}

/** What the command names does not exist (exit 4). */
export class NotFound extends Error {}

/** What a command gets: its name as typed, the words after it, and its parsed flags. */
export interface CommandInput {
  command: string;
  rest: string[];
  flags: Flags;
}

export type Flags = Record<string, string | boolean | undefined> & { json: boolean; help: boolean };

export interface CommandModule {
  run(input: CommandInput): Promise<number>;
}

export function requireFlag(value: string | boolean | undefined, flag: string): string {
  if (typeof value !== 'string' || !value) throw new UsageError(`missing ${flag}`);
  return value;
}

/** A string flag's value, or undefined. */
export function stringFlag(flags: Flags, name: string): string | undefined {
  const value = flags[name];
  return typeof value === 'string' ? value : undefined;
}

export const say = (quiet: boolean) => (line: string) => {
  if (!quiet) printError(`${line}\n`);
};

/** --hosts N for the demo and the lab: 2..200, default 8. */
export function hostCount(flags: Flags): number {
  const value = stringFlag(flags, 'hosts');
  const count = value === undefined ? 8 : Number(value);
  if (!Number.isInteger(count) || count < 2 || count > 200) throw new UsageError('--hosts must be 2..200');
  return count;
}

export function readDocument(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read campaign file ${path}: ${(err as Error).message}`);
  }
}

/** Waits for Ctrl-C or SIGTERM (the foreground servers). */
export function untilStopped(): Promise<void> {
  return new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
}
