import { AsyncLocalStorage } from 'node:async_hooks';

import type { Logger } from '../logger.js';

/**
 * Per-request state the data layer may see without knowing about HTTP: a running query count (for
 * "N queries for this request" assertions and N+1 detection) and the request's logger.
 */
export interface QueryScope {
  /** Queries run inside this scope so far, successful or not. */
  queryCount: number;
  /** Logger carrying the request id; query logs use it instead of the root logger. */
  readonly log: Logger | undefined;
}

const storage = new AsyncLocalStorage<QueryScope>();

/** Runs `work` (and everything it awaits) inside `scope`. */
export function runInQueryScope<T>(scope: QueryScope, work: () => T): T {
  return storage.run(scope, work);
}

/** The scope of the current async context, if any. */
export function currentQueryScope(): QueryScope | undefined {
  return storage.getStore();
}

/** A fresh scope, for jobs and tests that want to count their own queries. */
export function newQueryScope(log?: Logger): QueryScope {
  return { queryCount: 0, log };
}
