/**
 * Maintenance windows in their own time zone, computed from an instant: pure, so the workflow (whose
 * clock is deterministic) and the planner agree. Daylight-saving changes are handled by re-reading the
 * zone's offset at the computed instant.
 */
import type { MaintenanceWindow, Weekday } from './schema.js';

const WEEKDAYS: Weekday[] = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const DAY_MS = 86_400_000;

export interface WindowState {
  open: boolean;
  /** 0 when open; otherwise time until the next opening. */
  opensInMs: number;
  /** When open: time until it closes. */
  closesInMs: number;
  /** ISO instant of the next (or current) opening. */
  nextOpen: string;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** The zone's wall-clock time at `ms`, expressed as if it were UTC (so Date.UTC arithmetic works). */
function wallClock(ms: number, timeZone: string): number {
  const parts = Object.fromEntries(
    formatter(timeZone)
      .formatToParts(new Date(ms))
      .map((p) => [p.type, p.value]),
  );
  return Date.UTC(
    Number(parts.year),
    Number(parts.month) - 1,
    Number(parts.day),
    Number(parts.hour),
    Number(parts.minute),
    Number(parts.second),
  );
}

/** The instant at which the zone's wall clock shows `wall` (a UTC-encoded wall time). */
function instantOf(wall: number, timeZone: string): number {
  let guess = wall - (wallClock(wall, timeZone) - wall);
  guess = wall - (wallClock(guess, timeZone) - guess);
  return guess;
}

function minutesOf(clock: string): number {
  const [h, m] = clock.split(':').map(Number);
  return (h ?? 0) * 60 + (m ?? 0);
}

/** Whether the window is open at `nowMs`, and if not, how long until it opens. */
export function windowState(window: MaintenanceWindow, nowMs: number): WindowState {
  const start = minutesOf(window.start) * 60_000;
  let length = minutesOf(window.end) * 60_000 - start;
  if (length <= 0) length += DAY_MS;
  const today = Math.floor(wallClock(nowMs, window.timeZone) / DAY_MS) * DAY_MS;
  let next: number | undefined;
  // Yesterday's window may still be open (it crosses midnight); look a week ahead for the next one.
  for (let d = -1; d <= 7; d++) {
    const day = today + d * DAY_MS;
    const weekday = WEEKDAYS[new Date(day).getUTCDay()];
    if (!weekday || !window.days.includes(weekday)) continue;
    const opens = instantOf(day + start, window.timeZone);
    const closes = opens + length;
    if (opens <= nowMs && nowMs < closes)
      return {
        open: true,
        opensInMs: 0,
        closesInMs: closes - nowMs,
        nextOpen: new Date(opens).toISOString(),
      };
    if (opens > nowMs && (next === undefined || opens < next)) next = opens;
  }
  const opensAt = next ?? nowMs + 7 * DAY_MS;
  return {
    open: false,
    opensInMs: opensAt - nowMs,
    closesInMs: 0,
    nextOpen: new Date(opensAt).toISOString(),
  };
}
