import { randomUUID } from 'node:crypto';

import type { RequestHandler, Request } from 'express';

import type { Logger } from '../logger.js';

export const REQUEST_ID_HEADER = 'X-Request-Id';

// Only ids that are safe to echo in a header and a log line are accepted from the caller.
const ACCEPTED_REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

/** What every handler may know about the request it serves. */
export interface RequestContext {
  readonly requestId: string;
  /** Child logger that writes the request id on every line. */
  readonly log: Logger;
}

const contexts = new WeakMap<Request, RequestContext>();

/** The context set by {@link requestContextMiddleware}; undefined only for requests it never saw. */
export function requestContext(req: Request): RequestContext | undefined {
  return contexts.get(req);
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
    const log = logger.child({ requestId });
    contexts.set(req, { requestId, log });
    res.setHeader(REQUEST_ID_HEADER, requestId);

    const started = performance.now();
    // Captured now: routers rewrite req.url while they run, and the query string may carry secrets.
    const { method, path } = req;
    const level = isProbe(path) ? 'debug' : 'info';
    res.once('finish', () => {
      log[level](
        { method, path, status: res.statusCode, durationMs: Math.round(performance.now() - started) },
        'request',
      );
    });
    res.once('close', () => {
      if (res.writableFinished) return;
      log.warn({ method, path, durationMs: Math.round(performance.now() - started) }, 'request aborted by client');
    });
    next();
  };
}
