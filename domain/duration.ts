import { z } from 'zod';

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const DURATION_PATTERN = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;

/** Parses "250ms", "20s", "15m", "48h", "2d" into milliseconds; undefined when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  const match = DURATION_PATTERN.exec(text.trim());
  if (!match) return undefined;
  const unit = match[2] as keyof typeof UNIT_MS;
  return Math.round(Number(match[1]) * UNIT_MS[unit]);
}

/** Formats milliseconds for people: 172800000 -> "48h", 90000 -> "1m30s". */
export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${ms}ms`;
  const parts: string[] = [];
  let rest = Math.round(ms / 1_000);
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.join('');
}

/** The longest duration a campaign file may give: longer ones are typing errors (or overflow to Infinity). */
export const MAX_DURATION_MS = 400 * 86_400_000;

/** A duration written as text ("48h") or a number of milliseconds; parsed to milliseconds, at most 400 days. */
export const Duration = z
  .union([z.number(), z.string().max(40, 'is not a duration; use e.g. 30s, 15m, 48h, 2d')])
  .transform((value, ctx) => {
    const ms = typeof value === 'number' ? value : parseDuration(value);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `"${value}" is not a duration; use e.g. 30s, 15m, 48h, 2d` });
      return z.NEVER;
    }
    if (!Number.isSafeInteger(ms) || ms < 0 || ms > MAX_DURATION_MS) {
      ctx.addIssue({ code: 'custom', message: 'must be a whole number of milliseconds from 0 to 400 days' });
      return z.NEVER;
    }
    return ms;
  });

/** A duration that must be longer than zero: timeouts, soak lengths, expiries. */
export const PositiveDuration = Duration.refine((ms) => ms > 0, 'must be longer than 0');
