import { pbkdf2 } from 'node:crypto';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` every `everyMs` until it returns a truthy value; throws with `what` after `timeoutMs`. */
export async function until<T>(what: string, fn: () => Promise<T> | T, timeoutMs = 5000, everyMs = 50): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${String(last)})`);
    await sleep(everyMs);
  }
}

/**
 * Occupies every thread of libuv's pool (4 by default) with one long hash, so an
 * fs operation queued now (watchFile's first stat) runs only after the caller's
 * next synchronous steps: a deterministic "the machine was slow".
 */
export function occupyThreadPool(iterations = 300_000): Promise<void> {
  const size = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  const one = (): Promise<void> => new Promise((resolve, reject) => pbkdf2('x', 'y', iterations, 32, 'sha256', (err) => (err ? reject(err) : resolve())));
  return Promise.all(Array.from({ length: size }, one)).then(() => undefined);
}
