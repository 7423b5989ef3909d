import type { ErrorRequestHandler, Request, RequestHandler } from 'express';

import type { Logger } from '../logger.js';
import { requestContext } from './request-context.js';

/** Stable, documented error codes clients may branch on. */
export type ErrorCode =
  | 'VALIDATION_ERROR'
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'BAD_REQUEST'
  | 'INTERNAL_ERROR';

export interface ErrorBody {
  readonly error: { readonly code: ErrorCode; readonly message: string; readonly requestId: string };
}

/** An error whose message is meant for the client: thrown by handlers for 4xx answers. */
export class HttpError extends Error {
  override readonly name = 'HttpError';

  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The shape of errors from body-parser and other http-errors users (status, expose, type). */
interface ExposableError extends Error {
  readonly status: number;
  readonly expose: boolean;
  readonly type?: string;
}

function isExposableClientError(error: unknown): error is ExposableError {
  if (!(error instanceof Error)) return false;
  const { status, expose } = error as Partial<ExposableError>;
  return typeof status === 'number' && status >= 400 && status < 500 && expose === true;
}

const CODE_BY_STATUS: Readonly<Partial<Record<number, ErrorCode>>> = {
  400: 'BAD_REQUEST',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
};

/** Turns a thrown error into the status, code and message a client may see. */
function toClientError(error: unknown): { status: number; code: ErrorCode; message: string } | undefined {
  if (error instanceof HttpError) return { status: error.status, code: error.code, message: error.message };
  if (!isExposableClientError(error)) return undefined;
  if (error.type === 'entity.parse.failed') {
    return {
      status: 400,
      code: 'VALIDATION_ERROR',
      message: `request body is not valid JSON (${error.message}); send a well-formed JSON document`,
    };
  }
  return { status: error.status, code: CODE_BY_STATUS[error.status] ?? 'BAD_REQUEST', message: error.message };
}

function requestIdOf(req: Request): string {
  return requestContext(req)?.requestId ?? 'unknown';
}

/** JSON 404 for every path no router answered. */
export function notFoundHandler(): RequestHandler {
  return (req, res) => {
    const body: ErrorBody = {
      error: {
        code: 'NOT_FOUND',
        message: `no route for ${req.method} ${req.path}; check the method and path against the API reference`,
        requestId: requestIdOf(req),
      },
    };
    res.status(404).json(body);
  };
}

/**
 * The one error handler: client errors keep their message; anything else is a 500 whose body says
 * only what to quote to support (the request id), while the whole error goes to the log.
 */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  // eslint-disable-next-line @typescript-eslint/no-unused-vars -- Express knows an error handler by its four parameters
  return (error: unknown, req, res, _next) => {
    const requestId = requestIdOf(req);
    const log = requestContext(req)?.log ?? logger.child({ requestId });
    if (res.headersSent) {
      // Too late for an error body: cut the connection so the client sees a truncated response, not a success.
      log.error({ err: error, method: req.method, path: req.path }, 'request failed after the response started');
      res.destroy();
      return;
    }
    const clientError = toClientError(error);
    if (clientError !== undefined) {
      log.debug({ err: error, code: clientError.code }, 'request rejected');
      const body: ErrorBody = { error: { code: clientError.code, message: clientError.message, requestId } };
      res.status(clientError.status).json(body);
      return;
    }
    log.error({ err: error, method: req.method, path: req.path }, 'request failed');
    const body: ErrorBody = {
      error: {
        code: 'INTERNAL_ERROR',
        message: `internal error; if it persists, contact support and quote reference ${requestId}`,
        requestId,
      },
    };
    res.status(500).json(body);
  };
}
