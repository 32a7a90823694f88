/** The pure rules the campaign workflow follows: maintenance windows, the soak verdict, the scheduler. */
import { describe, expect, it } from 'vitest';
import { budgetSpent, nextHost, type SchedulerView } from '../../domain/scheduling.js';
import type { MaintenanceWindow, SoakProbe } from '../../domain/schema.js';
import { scheduledProbes, soakExtensionMs, soakVerdict } from '../../domain/soak.js';
import { windowState } from '../../domain/windows.js';

const at = (iso: string) => Date.parse(iso);

describe('maintenance windows', () => {
  const berlin: MaintenanceWindow = {
    name: 'w',
    days: ['sat', 'sun'],
    start: '22:00',
    end: '04:00',
    timeZone: 'Europe/Berlin',
  };

  it('is open inside the window, in its own time zone, including after midnight', () => {
    // Saturday 2026-11-28 22:30 in Berlin (CET, UTC+1) is 21:30 UTC.
    expect(windowState(berlin, at('2026-11-28T21:30:00Z'))).toMatchObject({
      open: true,
      closesInMs: 5.5 * 3_600_000,
    });
    // Sunday 03:59 Berlin belongs to Saturday's window.
    expect(windowState(berlin, at('2026-11-29T02:59:00Z')).open).toBe(true);
  });

  it('says how long until the next opening, across days', () => {
    const wednesdayNoon = at('2026-11-25T11:00:00Z'); // 12:00 Berlin
    const state = windowState(berlin, wednesdayNoon);
    expect(state.open).toBe(false);
    expect(state.nextOpen).toBe('2026-11-28T21:00:00.000Z');
    expect(state.opensInMs).toBe(at('2026-11-28T21:00:00Z') - wednesdayNoon);
  });

  it('follows daylight saving time', () => {
    const summer: MaintenanceWindow = { ...berlin, days: ['sat'], start: '02:00', end: '03:00' };
    // 2026-07-04 is a Saturday; Berlin is UTC+2 in summer.
    expect(windowState(summer, at('2026-07-04T00:30:00Z')).open).toBe(true);
    expect(windowState(summer, at('2026-07-04T01:30:00Z')).open).toBe(false);
  });
});

describe('soak verdict', () => {
  const criteria = { maxFailedProbes: 0, failAfterConsecutive: 3, minCoverage: 0.9 };
  const probes = (results: string): SoakProbe[] =>
    [...results].map((r) => ({
      at: '',
      result: r === '.' ? 'ok' : r === 'x' ? 'failed' : 'error',
      failed: [],
    }));

  it('passes a full clean timeline', () => {
    expect(soakVerdict(probes('.....'), criteria, 5).verdict).toBe('pass');
    expect(scheduledProbes(48 * 3_600_000, 15 * 60_000)).toBe(193);
  });

  it('fails on consecutive failures or a failed last probe', () => {
    expect(soakVerdict(probes('..xxx'), criteria, 5)).toMatchObject({
      verdict: 'fail',
      reason: '3 failed probes in a row',
    });
    expect(soakVerdict(probes('....x'), criteria, 5)).toMatchObject({
      verdict: 'fail',
      reason: 'the last probe failed',
    });
  });

  it('is inconclusive with isolated failures or too few probes', () => {
    expect(soakVerdict(probes('.x...'), criteria, 5).verdict).toBe('inconclusive');
    expect(soakVerdict(probes('.x...'), { ...criteria, maxFailedProbes: 1 }, 5).verdict).toBe('pass');
    expect(soakVerdict(probes('..e..'), criteria, 5)).toMatchObject({
      verdict: 'inconclusive',
      reason: expect.stringContaining('only 4 of 5'),
    });
    expect(soakVerdict(probes('...'), criteria, 5).verdict).toBe('inconclusive');
  });

  it('extends the soak by the missing probes, never past its bound, and not when coverage is enough', () => {
    const hour = 3_600_000;
    // 5 scheduled, 90 % needed = 5; two errored: two more slots, if the bound allows.
    expect(soakExtensionMs(probes('.ee..'), criteria, 5, hour, 0, 2 * hour)).toBe(2 * hour);
    expect(soakExtensionMs(probes('.ee..'), criteria, 5, hour, 0, hour)).toBe(hour);
    expect(soakExtensionMs(probes('.ee..'), criteria, 5, hour, hour, hour)).toBe(0);
    expect(soakExtensionMs(probes('.ee...'), criteria, 5, hour, hour, 2 * hour)).toBe(hour);
    // Probes that ran and failed are evidence, not missing coverage.
    expect(soakExtensionMs(probes('.x...'), criteria, 5, hour, 0, 2 * hour)).toBe(0);
    expect(soakExtensionMs(probes('....'), { ...criteria, minCoverage: 0.8 }, 5, hour, 0, hour)).toBe(0);
  });
});

describe('scheduler', () => {
  const view = (over: Partial<SchedulerView>): SchedulerView => ({
    pending: [{ id: 'a1', group: 'archive' }, { id: 'a2', group: 'archive' }, { id: 'w1' }],
    inFlight: 0,
    concurrency: 5,
    unavailableByGroup: {},
    groupBudgets: { archive: 1 },
    windows: [],
    nowMs: at('2026-11-25T11:00:00Z'),
    ...over,
  });

  it('starts the first host that fits', () => {
    expect(nextHost(view({}))).toEqual({ kind: 'start', host: { id: 'a1', group: 'archive' } });
  });

  it('skips hosts whose group is at its budget', () => {
    expect(nextHost(view({ unavailableByGroup: { archive: 1 } }))).toEqual({
      kind: 'start',
      host: { id: 'w1' },
    });
    expect(
      nextHost(view({ pending: [{ id: 'a2', group: 'archive' }], unavailableByGroup: { archive: 1 } })),
    ).toMatchObject({
      kind: 'wait',
      reason: 'redundancy group(s) at budget: archive',
    });
  });

  it('waits when every lane is busy, and says when a window opens', () => {
    expect(nextHost(view({ inFlight: 5 }))).toMatchObject({ kind: 'wait', reason: 'all 5 lanes busy' });
    const windows: MaintenanceWindow[] = [
      { name: 'sat', days: ['sat'], start: '02:00', end: '04:00', timeZone: 'UTC' },
    ];
    const step = nextHost(view({ pending: [{ id: 'w1', window: 'sat' }], windows }));
    expect(step).toMatchObject({
      kind: 'wait',
      wakeInMs: at('2026-11-28T02:00:00Z') - at('2026-11-25T11:00:00Z'),
    });
    expect(nextHost(view({ pending: [] }))).toEqual({ kind: 'done' });
  });

  it('counts the failure budget from the last operator decision', () => {
    expect(budgetSpent(1, 0, 1)).toBe(false);
    expect(budgetSpent(2, 0, 1)).toBe(true);
    expect(budgetSpent(2, 2, 0)).toBe(false);
    expect(budgetSpent(3, 2, 0)).toBe(true);
  });
});
