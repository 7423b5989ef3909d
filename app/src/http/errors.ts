import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';

import { classifyDatabaseError, sqlState } from '../db/errors.js';
import {
  AppError,
  BadRequestError,
  InternalError,
  NotFoundError,
  ValidationError,
  causeChain,
  isAbortError,
} from '../errors.js';
import type { ErrorCode, FieldErrors } from '../errors.js';
import type { Logger } from '../logger.js';
import { requestContext } from './request-context.js';

/** The body of every error response. */
export interface ErrorBody {
  readonly error: {
    readonly code: ErrorCode;
    /** What was wrong and what to do; for 5xx, also the reference to quote to support. */
    readonly message: string;
    /** Per-field problems of a VALIDATION_ERROR, keyed by path such as `body.email`. */
    readonly fields?: FieldErrors;
    /** Structured, client-safe facts (4xx only), e.g. `unlockAt` of ACCOUNT_LOCKED. */
    readonly details?: Readonly<Record<string, unknown>>;
    /** The X-Request-Id of the request: the support reference. */
    readonly requestId: string;
  };
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

const FRAMEWORK_CODES: Readonly<
  Partial<Record<number, 'PAYLOAD_TOO_LARGE' | 'UNSUPPORTED_MEDIA_TYPE' | 'METHOD_NOT_ALLOWED'>>
> = {
  405: 'METHOD_NOT_ALLOWED',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
};

/** Any thrown value as the AppError a client may see: AppErrors as they are, the rest classified or wrapped. */
export function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  if (isExposableClientError(error)) {
    if (error.type === 'entity.parse.failed') {
      return new ValidationError(
        `request body is not valid JSON (${error.message}); send a well-formed JSON document`,
        { body: ['is not valid JSON'] },
        { cause: error },
      );
    }
    return new BadRequestError(FRAMEWORK_CODES[error.status] ?? 'BAD_REQUEST', error.message, { cause: error });
  }
  // The router's "Failed to decode param": a URIError marked 400 but not `expose`d, from a malformed URL.
  if (error instanceof URIError && (error as { status?: unknown }).status === 400) {
    return new BadRequestError(
      'BAD_REQUEST',
      'the URL holds a malformed percent-encoding (% without two hex digits, or bytes that are not UTF-8); percent-encode each path segment as UTF-8',
      { cause: error },
    );
  }
  // A pg error that did not go through the Database wrapper still deserves its proper status.
  if (sqlState(error) !== undefined) return classifyDatabaseError(error);
  return new InternalError({ cause: error });
}

function requestIdOf(req: Request): string {
  return requestContext(req)?.requestId ?? 'unknown';
}

/** JSON 404 for every path no router answered. */
export function notFoundHandler(): RequestHandler {
  return (req, _res, next) => {
    next(
      new NotFoundError(`no route for ${req.method} ${req.path}; check the method and path against the API reference`),
    );
  };
}

function renderBody(error: AppError, requestId: string): ErrorBody {
  if (error.status >= 500) {
    // Server faults show only their fixed message and the reference that finds the whole story in the log.
    return {
      error: {
        code: error.code,
        message: `${error.message}; if it persists, contact support and quote reference ${requestId}`,
        requestId,
      },
    };
  }
  return {
    error: {
      code: error.code,
      message: error.message,
      ...(error instanceof ValidationError && Object.keys(error.fields).length > 0 ? { fields: error.fields } : {}),
      ...(error.details === undefined ? {} : { details: error.details }),
      requestId,
    },
  };
}

function send(res: Response, error: AppError, requestId: string): void {
  const retryAfter = error.retryAfterSeconds;
  if (retryAfter !== undefined) res.setHeader('Retry-After', String(retryAfter));
  res.status(error.status).json(renderBody(error, requestId));
}

/**
 * The one error handler. It renders `{ error: { code, message, fields?, details?, requestId } }` with the
 * error's status (and `Retry-After` when it has one). 4xx keep their message; 5xx show their fixed message and
 * the request id as support reference. Logs carry the request id, user id, path and the whole cause chain.
 */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  // eslint-disable-next-line @typescript-eslint/no-unused-vars -- Express knows an error handler by its four parameters
  return (error: unknown, req, res, _next) => {
    const context = requestContext(req);
    const requestId = requestIdOf(req);
    const log = context?.log ?? logger.child({ requestId });
    const where = { method: req.method, path: req.path, userId: context?.userId };
    if (isAbortError(error) && (res.closed || req.socket.destroyed)) {
      log.info(
        { ...where, reason: error instanceof Error ? error.message : undefined },
        'request work stopped: the client went away',
      );
      return;
    }
    if (res.headersSent) {
      // Too late for an error body: cut the connection so the client sees a truncated response, not a success.
      log.error({ err: error, causes: causeChain(error), ...where }, 'request failed after the response started');
      res.destroy();
      return;
    }
    const appError = toAppError(error);
    if (appError.status >= 500) {
      log.error({ err: error, code: appError.code, causes: causeChain(appError), ...where }, 'request failed');
    } else {
      log.debug({ err: error, code: appError.code, causes: causeChain(appError), ...where }, 'request rejected');
    }
    send(res, appError, requestId);
  };
}
