/** Terminal output stays readable: columns sized from their longest value. */
import { describe, expect, it } from 'vitest';
import { columns, formatReport } from '../../cli/format.js';
import type { CampaignReport } from '../../client/report.js';
import { ledgerCsv, type LedgerRow } from '../../client/ledger-report.js';
import { statesOf } from '../../cli/commands/hosts.js';

describe('terminal tables', () => {
  it('never runs a long value into the next column', () => {
    const lines = columns([
      ['host', 'state', 'version'],
      ['nas-01', 'prerequisite-failed', '1.0.0'],
      ['archive-01', 'patched', '1.0.0->1.1.0'],
    ]);
    expect(lines[1]).toBe('nas-01      prerequisite-failed  1.0.0');
    expect(lines.map((l) => l.indexOf(l.split(/\s{2,}/)[2]!))).toEqual([33, 33, 33]);
  });

  it('prints the report with aligned columns, times and the hosts that were not changed', () => {
    const report: CampaignReport = {
      campaign: {
        id: 'c-1',
        name: 'n',
        state: 'completed',
        startedBy: 'op',
        patch: { id: 'p', version: '1.1.0', sha256: 'a'.repeat(64) },
        soak: { verdict: 'pass', probes: 3, durationMs: 60_000 },
        approvals: [],
        decisions: [],
        counts: {},
        startedAt: '2026-12-01T10:00:00.000Z',
        finishedAt: '2026-12-01T10:05:00.000Z',
        wallTimeMs: 300_000,
      },
      hosts: [
        {
          id: 'db-01',
          state: 'prerequisite-failed',
          role: 'database',
          fromVersion: '1.0.0',
          durationMs: 1_000,
          steps: [],
        },
        {
          id: 'ws-01',
          state: 'needs-attention',
          unchanged: true,
          role: 'diagnostic-workstation',
          durationMs: 2_000,
          steps: [],
        },
      ],
    };
    const text = formatReport(report);
    expect(text).toContain('started: 2026-12-01T10:00:00.000Z   ended: 2026-12-01T10:05:00.000Z');
    expect(text).toMatch(/prerequisite-failed +1\.0\.0/);
    expect(text).toContain('needs-attention (not changed)');
    const header = text.split('\n').find((l) => l.startsWith('host'))!;
    const row = text.split('\n').find((l) => l.startsWith('db-01'))!;
    expect(row.indexOf('1.0.0')).toBe(header.indexOf('version'));
  });
});

describe('ledger CSV', () => {
  it('neutralises cells a spreadsheet would run, including a leading tab or carriage return', () => {
    const row = (hostId: string) =>
      ({ hostId, patchId: 'p', patchVersion: '1', hasPatch: false, state: 'never' }) as LedgerRow;
    const csv = ledgerCsv(['=cmd|calc', '\t=1+1', '\r@SUM(A1)', '+1', '-1', 'plain'].map(row));
    const firstCells = csv
      .trim()
      .split('\r\n')
      .slice(1)
      .map((line) => line.split(',')[0]);
    // A carriage return is no line end inside a cell: shown as U+FFFD, like every control character.
    expect(firstCells).toEqual(["'=cmd|calc", "'\t=1+1", '\uFFFD@SUM(A1)', "'+1", "'-1", 'plain']);
  });
});

describe('rollout hosts', () => {
  it('takes one or more states and refuses an unknown one by name, listing the known ones', () => {
    expect(statesOf(undefined)).toBeUndefined();
    expect([...statesOf('rolled-back, needs-attention')!]).toEqual(['rolled-back', 'needs-attention']);
    expect(() => statesOf('rolled-back,rolledback')).toThrow(
      /--state: unknown host state 'rolledback'; one or more of pending, .*needs-attention/,
    );
    expect(() => statesOf('')).toThrow(/unknown host state ''/);
  });
});
