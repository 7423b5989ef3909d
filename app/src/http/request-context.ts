import { randomUUID } from 'node:crypto';

import type { RequestHandler, Request } from 'express';

import { runInQueryScope } from '../db/query-scope.js';
import { UnauthorizedError } from '../errors.js';
import type { QueryScope } from '../db/query-scope.js';
import type { Logger } from '../logger.js';
import { tagRequestId } from '../observability/trace-context.js';

export const REQUEST_ID_HEADER = 'X-Request-Id';

// Only ids that are safe to echo in a header and a log line are accepted from the caller.
const ACCEPTED_REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

/** What every handler may know about the request it serves. */
export interface RequestContext {
  readonly requestId: string;
  /** Child logger that writes the request id (and the user id, once known) on every line. */
  readonly log: Logger;
  /** The authenticated user, once authentication has run; see {@link setRequestUser}. */
  readonly userId: string | undefined;
  /** Database queries run on behalf of this request so far. */
  readonly queryCount: number;
}

/** The mutable state behind a RequestContext; it is also the request's query scope. */
interface RequestState extends QueryScope {
  readonly requestId: string;
  readonly log: Logger;
  readonly userId: string | undefined;
  setUser(userId: string): void;
}

/**
 * The request's logger is made when first used, with every id known by then: one pino child per request instead of
 * one per id (each child runs the redaction set-up, a measurable share of a cached read).
 */
function requestState(logger: Logger, requestId: string): RequestState {
  let log: Logger | undefined;
  let userId: string | undefined;
  return {
    requestId,
    queryCount: 0,
    get log(): Logger {
      log ??= logger.child(userId === undefined ? { requestId } : { requestId, userId });
      return log;
    },
    get userId(): string | undefined {
      return userId;
    },
    setUser(id: string): void {
      userId = id;
      log = undefined;
    },
  };
}

const contexts = new WeakMap<Request, RequestState>();

/** The context set by {@link requestContextMiddleware}; undefined only for requests it never saw. */
export function requestContext(req: Request): RequestContext | undefined {
  return contexts.get(req);
}

/** The caller's user id, which `authenticate` put on the context; 401 UNAUTHORIZED for a request it did not pass. */
export function callerId(req: Request): string {
  const userId = contexts.get(req)?.userId;
  if (userId === undefined) throw new UnauthorizedError();
  return userId;
}

/** Records who is calling: later log lines, the access log and error logs carry `userId`. */
export function setRequestUser(req: Request, userId: string): void {
  contexts.get(req)?.setUser(userId);
}

/** The caller's id when it is well-formed, otherwise a fresh UUID. */
export function acceptRequestId(header: string | undefined): string {
  return header !== undefined && ACCEPTED_REQUEST_ID.test(header) ? header : randomUUID();
}

/** Probes hit every few seconds; their lines go to debug so they do not drown the access log. */
function isProbe(path: string): boolean {
  return path.startsWith('/health/');
}

/**
 * Gives the request its id (echoed in the response header) and a child logger, then writes one
 * access-log line when the response is sent or the client goes away.
 */
export function requestContextMiddleware(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const requestId = acceptRequestId(req.get(REQUEST_ID_HEADER));
    const state = requestState(logger, requestId);
    contexts.set(req, state);
    res.setHeader(REQUEST_ID_HEADER, requestId);
    tagRequestId(requestId);

    const started = performance.now();
    // Captured now: routers rewrite req.url while they run, and the query string may carry secrets.
    const { method, path } = req;
    const level = isProbe(path) ? 'debug' : 'info';
    res.once('finish', () => {
      state.log[level](
        {
          method,
          path,
          status: res.statusCode,
          durationMs: Math.round(performance.now() - started),
          queries: state.queryCount,
        },
        'request',
      );
    });
    res.once('close', () => {
      if (res.writableFinished) return;
      state.log.warn(
        { method, path, durationMs: Math.round(performance.now() - started) },
        'request aborted by client',
      );
    });
    // Everything the request runs, awaited or not, counts its queries against it and logs with its id.
    runInQueryScope(state, next);
  };
}
