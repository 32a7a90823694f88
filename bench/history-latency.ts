/**
 * Where a host run's time goes between its steps, read from its history: for each activity, how long
 * its task waited for a worker (scheduled → started), how long it ran (started → completed) and how
 * long until the workflow task that read its result began (completed → next workflow task started);
 * for workflow tasks, their wait and their processing. Benchmarks print the medians.
 */
import type { temporal } from '@temporalio/proto';
import { tsToMs } from '@temporalio/common/lib/time.js';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/** Milliseconds per part, by activity type (and 'workflow task'); lists, one entry per occurrence. */
export type Latencies = Map<string, { wait: number[]; run: number[]; back: number[] }>;

const at = (event: HistoryEvent) => tsToMs(event.eventTime);
const id = (value: unknown) => Number(value);

/** Adds one history's activity and workflow-task latencies to `into`. */
export function addLatencies(into: Latencies, events: HistoryEvent[]): void {
  const byId = new Map(events.map((e) => [id(e.eventId), e]));
  const entry = (name: string) => {
    let parts = into.get(name);
    if (!parts) into.set(name, (parts = { wait: [], run: [], back: [] }));
    return parts;
  };
  const nextTaskStart = (after: number) =>
    events.find((e) => id(e.eventId) > after && e.workflowTaskStartedEventAttributes);
  for (const event of events) {
    const done = event.activityTaskCompletedEventAttributes;
    if (done) {
      const scheduled = byId.get(id(done.scheduledEventId));
      const started = byId.get(id(done.startedEventId));
      const name = scheduled?.activityTaskScheduledEventAttributes?.activityType?.name;
      if (!scheduled || !started || !name) continue;
      const parts = entry(name);
      parts.wait.push(at(started) - at(scheduled));
      parts.run.push(at(event) - at(started));
      const next = nextTaskStart(id(event.eventId));
      if (next) parts.back.push(at(next) - at(event));
    }
    const task = event.workflowTaskCompletedEventAttributes;
    if (task) {
      const scheduled = byId.get(id(task.scheduledEventId));
      const started = byId.get(id(task.startedEventId));
      if (!scheduled || !started) continue;
      // Its commands follow it; a marker among them is a local activity that ran inside the task.
      const after = events.slice(events.indexOf(event) + 1);
      const end = after.findIndex((e) => e.workflowTaskScheduledEventAttributes);
      const commands = end === -1 ? after : after.slice(0, end);
      const local = commands.filter((e) => e.markerRecordedEventAttributes).length;
      const parts = entry(
        local ? `workflow task with ${local} local activit${local > 1 ? 'ies' : 'y'}` : 'workflow task',
      );
      parts.wait.push(at(started) - at(scheduled));
      parts.run.push(at(event) - at(started));
    }
  }
}

/** "name: wait W / run R / back B ms (n)" per entry, medians. */
export function latencyLines(latencies: Latencies): string[] {
  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length ? Math.round(s[Math.floor((s.length - 1) / 2)] ?? 0) : 0;
  };
  return [...latencies].map(
    ([name, p]) =>
      `${name}: wait ${median(p.wait)} / run ${median(p.run)}${p.back.length ? ` / back ${median(p.back)}` : ''} ms (${p.run.length})`,
  );
}
