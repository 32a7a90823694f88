/**
 * Starts a test's servers at once, like `Promise.all`, but if one fails to start the others that did
 * are stopped (`stop`, `teardown` or `cleanup`, whichever they have) before the failure is thrown: a
 * `beforeAll` that fails never reaches the variables its `afterAll` stops, and what it started would
 * be left running (an earlier lab still holding its addresses broke the next run).
 */
type Stop = () => Promise<unknown>;

function stopOf(value: unknown): Stop | undefined {
  const v = value as { stop?: Stop; teardown?: Stop; cleanup?: Stop } | null;
  const fn = v?.stop ?? v?.teardown ?? v?.cleanup;
  return typeof fn === 'function' ? () => fn.call(v) : undefined;
}

/**
 * `track`, when given, is handed each part's stop as soon as that part has started: a hook that times
 * out before all have started (so this never returns) still leaves its `afterAll` able to stop them.
 */
export async function startTogether<T extends readonly unknown[] | []>(
  starts: { [K in keyof T]: Promise<T[K]> },
  track?: (stop: Stop) => void,
): Promise<T> {
  const tracked = (starts as readonly Promise<unknown>[]).map((p) =>
    track
      ? p.then((value) => {
          const stop = stopOf(value);
          if (stop) track(stop);
          return value;
        })
      : p,
  );
  const settled = await Promise.allSettled(tracked);
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (!failed) return settled.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
  // Tracked parts are stopped by whoever tracks them.
  if (!track)
    await Promise.all(
      settled.map((r) => (r.status === 'fulfilled' ? stopOf(r.value)?.().catch(() => undefined) : undefined)),
    );
  throw failed.reason;
}
