/**
 * Which host starts next: the campaign workflow asks this pure function every time something changes.
 * A host starts only when a lane is free (concurrency), its redundancy group has room (members in flight
 * or needing attention stay within the group's budget) and its maintenance window is open.
 */
import type { MaintenanceWindow, WaveHost } from './schema.js';
import { windowState } from './windows.js';

export interface SchedulerView {
  pending: WaveHost[];
  inFlight: number;
  concurrency: number;
  /** Members of each group that are in flight or need attention. */
  unavailableByGroup: Record<string, number>;
  groupBudgets: Record<string, number>;
  windows: MaintenanceWindow[];
  nowMs: number;
}

export type NextStep =
  | { kind: 'start'; host: WaveHost }
  /** Nothing can start now; `wakeInMs` is when a window opens (undefined: wait for a host to finish). */
  | { kind: 'wait'; wakeInMs?: number; reason: string }
  | { kind: 'done' };

export function nextHost(view: SchedulerView): NextStep {
  if (view.pending.length === 0) return { kind: 'done' };
  if (view.inFlight >= view.concurrency)
    return { kind: 'wait', reason: `all ${view.concurrency} lanes busy` };
  let wakeInMs: number | undefined;
  const blockedGroups = new Set<string>();
  for (const host of view.pending) {
    if (host.group !== undefined) {
      const budget = view.groupBudgets[host.group] ?? 1;
      if ((view.unavailableByGroup[host.group] ?? 0) >= budget) {
        blockedGroups.add(host.group);
        continue;
      }
    }
    if (host.window !== undefined) {
      const window = view.windows.find((w) => w.name === host.window);
      if (window) {
        const state = windowState(window, view.nowMs);
        if (!state.open) {
          wakeInMs = Math.min(wakeInMs ?? Infinity, state.opensInMs);
          continue;
        }
      }
    }
    return { kind: 'start', host };
  }
  const reasons = [
    ...(blockedGroups.size ? [`redundancy group(s) at budget: ${[...blockedGroups].join(', ')}`] : []),
    ...(wakeInMs !== undefined ? [`maintenance window opens in ${Math.ceil(wakeInMs / 60_000)} min`] : []),
  ];
  return { kind: 'wait', ...(wakeInMs !== undefined ? { wakeInMs } : {}), reason: reasons.join('; ') };
}

/** The failure budget is spent when failures since the last operator decision exceed what is allowed. */
export function budgetSpent(failed: number, baseline: number, allowed: number): boolean {
  return failed - baseline > allowed;
}
