/** What the install poll printed, read strictly: anything unexpected is an error, never a guess. */
import { describe, expect, it } from 'vitest';
import { installPollScript, installStartScript, parseInstallObservation } from '../../adapters/host-ops.js';
import { RolloutError } from '../../domain/errors.js';

describe('install observations', () => {
  it('reads each state the poll script prints', () => {
    expect(parseInstallObservation('exit 0')).toEqual({ kind: 'exit', code: 0 });
    expect(parseInstallObservation('exit 3010\n')).toEqual({ kind: 'exit', code: 3010 });
    expect(parseInstallObservation('running 12')).toEqual({ kind: 'running', elapsedSec: 12 });
    expect(parseInstallObservation('timedout 31')).toEqual({ kind: 'timedout', elapsedSec: 31 });
    expect(parseInstallObservation('starting')).toEqual({ kind: 'starting' });
    expect(parseInstallObservation('missing')).toEqual({ kind: 'missing' });
    expect(parseInstallObservation('vanished process 42 is gone')).toEqual({
      kind: 'vanished',
      seen: 'process 42 is gone',
    });
  });

  it('refuses anything else instead of guessing', () => {
    for (const printed of ['', 'exit', 'exit x', 'running', 'done', 'exit 0 extra', 'Exit 0'])
      expect(() => parseInstallObservation(printed), printed).toThrow(RolloutError);
  });

  it('checks the exit file again after it found the process gone, and reads timedout before exit', () => {
    const run = { runKey: 'k', owner: 'o', timeoutMs: 30_500, bootIdCommand: 'cat /b' };
    const poll = installPollScript('.rollout/runs/k', run);
    const exitChecks = [...poll.matchAll(/\[ -f "\$d\/exit" \]/g)].map((m) => m.index);
    expect(exitChecks).toHaveLength(2);
    expect(poll.indexOf('kill -0 "$pid"')).toBeGreaterThan(exitChecks[0]!);
    expect(poll.indexOf('kill -0 "$pid"')).toBeLessThan(exitChecks[1]!);
    expect(poll.indexOf('timedout')).toBeLessThan(exitChecks[0]!);
    // The limit is whole seconds on the host, rounded up.
    expect(poll).toContain('-ge 31 ]');
    expect(installStartScript('.rollout/runs/k', 'sh x', run)).toContain("'o'");
  });
});
