/** The soak verdict from the probe timeline: pure, unit-tested, and the same in workflow and report. */
import type { SoakCriteria, SoakProbe, SoakVerdict } from './schema.js';

/** Probes a full soak schedules: one at the start and one per interval up to the end. */
export function scheduledProbes(durationMs: number, intervalMs: number): number {
  return Math.floor(durationMs / intervalMs) + 1;
}

/** True when the last `failAfterConsecutive` probes all failed: the soak ends early with "fail". */
export function failsEarly(probes: SoakProbe[], criteria: SoakCriteria): boolean {
  const tail = probes.slice(-criteria.failAfterConsecutive);
  return tail.length === criteria.failAfterConsecutive && tail.every((p) => p.result === 'failed');
}

export interface VerdictWithReason {
  verdict: SoakVerdict;
  reason: string;
}

/**
 * pass: failed probes within `maxFailedProbes`, the last probe healthy, and at least `minCoverage` of the
 * scheduled probes ran. fail: `failAfterConsecutive` failures in a row, or the last probe failed.
 * Anything else (isolated failures, probes that could not run, gaps) is inconclusive: a person decides.
 */
export function soakVerdict(
  probes: SoakProbe[],
  criteria: SoakCriteria,
  scheduled: number,
): VerdictWithReason {
  const failed = probes.filter((p) => p.result === 'failed').length;
  const errors = probes.filter((p) => p.result === 'error').length;
  const ran = probes.length - errors;
  const last = probes.at(-1);
  if (failsEarly(probes, criteria))
    return { verdict: 'fail', reason: `${criteria.failAfterConsecutive} failed probes in a row` };
  if (last?.result === 'failed') return { verdict: 'fail', reason: 'the last probe failed' };
  const coverage = scheduled === 0 ? 0 : ran / scheduled;
  if (failed > criteria.maxFailedProbes)
    return {
      verdict: 'inconclusive',
      reason: `${failed} failed probe(s), more than the ${criteria.maxFailedProbes} tolerated, but not in a row`,
    };
  if (coverage < criteria.minCoverage)
    return {
      verdict: 'inconclusive',
      reason: `only ${ran} of ${scheduled} scheduled probes ran (${Math.round(coverage * 100)}% < ${Math.round(criteria.minCoverage * 100)}%)`,
    };
  return { verdict: 'pass', reason: `${ran} of ${scheduled} probes ran, ${failed} failed` };
}

/**
 * How much longer to soak to make up probes that did not run (an orchestrator outage, probes that
 * errored), so that `minCoverage` of the scheduled probes can still be reached: the missing probes ×
 * the interval, within what is left of `maxExtensionMs`. 0 when coverage is enough or the budget is
 * used up (then the verdict decides, and a short coverage goes to a person's review).
 */
export function soakExtensionMs(
  probes: SoakProbe[],
  criteria: SoakCriteria,
  scheduled: number,
  intervalMs: number,
  extendedMs: number,
  maxExtensionMs: number,
): number {
  const ran = probes.filter((p) => p.result !== 'error').length;
  const missing = Math.ceil(criteria.minCoverage * scheduled) - ran;
  if (missing <= 0) return 0;
  const left = maxExtensionMs - extendedMs;
  const slots = Math.min(missing, Math.floor(left / intervalMs));
  return slots > 0 ? slots * intervalMs : 0;
}
