/** `rollout --help` names every command the CLI dispatches and every flag it parses. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { USAGE } from '../../cli/main.js';
import { PROJECT_ROOT } from '../../runtime/paths.js';

const source = readFileSync(`${PROJECT_ROOT}/cli/main.ts`, 'utf8');

describe('rollout --help', () => {
  it('lists every command of the dispatch', () => {
    const commands = [...source.matchAll(/^ {4}case '([a-z-]+)':/gm)].map((m) => m[1]!);
    expect(commands.length).toBeGreaterThan(15);
    const missing = commands.filter((c) => !new RegExp(`(^|\\s|\\|)${c}(\\s|\\||$)`, 'm').test(USAGE));
    expect(missing).toEqual([]);
  });

  it('lists every flag the parser accepts', () => {
    const options = source.slice(source.indexOf('options: {'), source.indexOf('help: { type'));
    const flags = [...options.matchAll(/^ {6}'?([a-z-]+)'?: \{ type/gm)].map((m) => m[1]!);
    expect(flags.length).toBeGreaterThan(20);
    const missing = flags.filter((f) => f !== 'file' && !USAGE.includes(`--${f}`));
    expect(missing).toEqual([]);
    expect(USAGE).toContain('-f FILE');
    expect(USAGE).toContain('--help');
  });
});
