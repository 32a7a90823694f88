/** `rollout --help` is built from the command registry: every command, every flag, every module. */
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { COMMANDS, USAGE } from '../../cli/commands.js';
import { PROJECT_ROOT } from '../../runtime/paths.js';

describe('rollout --help', () => {
  it('names every command of the registry', () => {
    const names = COMMANDS.flatMap((c) => c.names);
    expect(names.length).toBeGreaterThan(20);
    const missing = names.filter((c) => !new RegExp(`(^|\\s|\\|)${c}(\\s|\\||$)`, 'm').test(USAGE));
    expect(missing).toEqual([]);
  });

  it("shows every flag a command accepts in that command's own help", () => {
    const missing = COMMANDS.flatMap((c) =>
      Object.keys(c.flags)
        .filter((f) => !c.help.join('\n').includes(f === 'file' ? '-f FILE' : `--${f}`))
        .map((f) => `${c.names[0]} --${f}`),
    );
    expect(missing).toEqual([]);
    expect(USAGE).toContain('--help');
    expect(USAGE).toContain('--json');
  });

  it('every command module loads and runs; every module in cli/commands/ is registered', async () => {
    const loaded = await Promise.all(COMMANDS.map((c) => c.load()));
    for (const [i, m] of loaded.entries()) expect(typeof m.run, COMMANDS[i]!.names[0]).toBe('function');
    const files = readdirSync(`${PROJECT_ROOT}/cli/commands`);
    const unregistered: string[] = [];
    for (const file of files) {
      const m = (await import(`../../cli/commands/${file.replace(/\.ts$/, '.js')}`)) as unknown;
      if (!loaded.includes(m as (typeof loaded)[number])) unregistered.push(file);
    }
    expect(files.length).toBe(new Set(loaded).size);
    expect(unregistered).toEqual([]);
  });
});
