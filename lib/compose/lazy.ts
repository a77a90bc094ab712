import type { Clock } from '../clock';

/**
 * Builds a value once, on first use; a failed build is forgotten, so the next call tries again (a
 * Lambda container whose first build met a throttled Secrets Manager is not broken for its lifetime).
 */
export function once<T>(build: () => Promise<T>): () => Promise<T> {
  let built: Promise<T> | undefined;
  return () => {
    if (!built) {
      built = build();
      built.catch(() => {
        built = undefined;
      });
    }
    return built;
  };
}

/**
 * Builds a handler once per Lambda container, on first use (so importing a handler module in tests
 * or tools touches no environment and no network).
 */
export function lazyHandler<E, R>(build: () => Promise<(event: E) => Promise<R>>): (event: E) => Promise<R> {
  const get = once(build);
  return async (event: E) => (await get())(event);
}

/** Caches an async value for `ttlMs` (secrets: rotation takes effect without a redeploy). */
export function cached<T>(load: () => Promise<T>, ttlMs: number, clock: Clock): () => Promise<T> {
  let value: Promise<T> | undefined;
  let at = 0;
  const now = () => clock.now().getTime();
  return () => {
    if (!value || now() - at > ttlMs) {
      at = now();
      value = load();
      value.catch(() => {
        value = undefined;
      });
    }
    return value;
  };
}
