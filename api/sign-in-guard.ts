/**
 * Refused sign-ins, bounded: per source address and minute, the first refusal is audited at once and
 * the rest are counted into one summary entry, so a flood of wrong tokens cannot fill the audit log or
 * push real entries off its first page; past `limit` refusals in the minute the source's failing
 * attempts get 429 (a valid token still gets in, so users behind the same address are not locked out).
 */
const MINUTE_MS = 60_000;

interface Window {
  start: number;
  refused: number;
}

export interface SignInGuard {
  /** False when the source has been refused too often this minute: answer its failures with 429. */
  mayTry(source: string): boolean;
  /** Records one refused sign-in (audited at once if it is the first of the minute). */
  refused(source: string, detail: string): Promise<void>;
  /** Writes the summaries of minutes that are over; `all` writes every open one (shutdown). */
  flush(all?: boolean): Promise<void>;
  stop(): Promise<void>;
}

/** `refusedSignIn` writes one refused sign-in entry with its detail (adapters/audit-writer.ts). */
export function signInGuard(
  refusedSignIn: (detail: string) => Promise<unknown>,
  options: { limit?: number; now?: () => number } = {},
): SignInGuard {
  const limit = options.limit ?? 10;
  const now = options.now ?? Date.now;
  const windows = new Map<string, Window>();
  const entry = (source: string, detail: string) => `${detail} (from ${source})`;
  const summarize = async (source: string, w: Window) => {
    if (w.refused > 1)
      await refusedSignIn(
        entry(
          source,
          `Unauthenticated: ${w.refused - 1} more refused sign-in(s) in the minute from ${new Date(w.start).toISOString()}`,
        ),
      );
  };
  const flush = async (all = false) => {
    for (const [source, w] of [...windows]) {
      if (!all && now() - w.start < MINUTE_MS) continue;
      windows.delete(source);
      await summarize(source, w);
    }
  };
  const timer = setInterval(() => void flush(), MINUTE_MS);
  timer.unref();
  return {
    mayTry(source) {
      const w = windows.get(source);
      return !w || now() - w.start >= MINUTE_MS || w.refused < limit;
    },
    async refused(source, detail) {
      let w = windows.get(source);
      if (w && now() - w.start >= MINUTE_MS) {
        windows.delete(source);
        await summarize(source, w);
        w = undefined;
      }
      if (!w) {
        windows.set(source, { start: now(), refused: 1 });
        await refusedSignIn(entry(source, detail));
      } else w.refused += 1;
    },
    flush,
    async stop() {
      clearInterval(timer);
      await flush(true);
    },
  };
}
