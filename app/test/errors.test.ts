import { describe, expect, it } from 'vitest';

import {
  AbortedError,
  AppError,
  ConflictError,
  ERROR_CODES,
  ERROR_STATUS,
  ForbiddenError,
  InternalError,
  LockedError,
  NotFoundError,
  RateLimitError,
  ServiceUnavailableError,
  TransactionConflictError,
  UnauthorizedError,
  ValidationError,
  abortReason,
  causeChain,
  isAbortError,
} from '../src/errors.js';

describe('error codes', () => {
  it('lists every code once, each with an HTTP error status', () => {
    expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length);
    expect(ERROR_CODES).toEqual(Object.keys(ERROR_STATUS));
    for (const code of ERROR_CODES) {
      expect(code).toMatch(/^[A-Z][A-Z_]+$/);
      expect(ERROR_STATUS[code]).toBeGreaterThanOrEqual(400);
      expect(ERROR_STATUS[code]).toBeLessThan(600);
    }
  });

  it.each([
    [new NotFoundError('no product 7'), 404, 'NOT_FOUND', 'NotFoundError'],
    [new ValidationError('bad', { 'body.email': ['Invalid email'] }), 400, 'VALIDATION_ERROR', 'ValidationError'],
    [new ConflictError('taken'), 409, 'CONFLICT', 'ConflictError'],
    [new TransactionConflictError(), 409, 'TRANSACTION_CONFLICT', 'TransactionConflictError'],
    [new UnauthorizedError(), 401, 'UNAUTHORIZED', 'UnauthorizedError'],
    [new ForbiddenError('needs orders:update'), 403, 'FORBIDDEN', 'ForbiddenError'],
    [new RateLimitError('slow down', 30), 429, 'RATE_LIMITED', 'RateLimitError'],
    [new LockedError('locked', new Date(Date.now() + 60_000)), 423, 'ACCOUNT_LOCKED', 'LockedError'],
    [new ServiceUnavailableError('db down'), 503, 'SERVICE_UNAVAILABLE', 'ServiceUnavailableError'],
    [new InternalError(), 500, 'INTERNAL', 'InternalError'],
  ])('%s has status %i, code %s and its own name', (error, status, code, name) => {
    expect(error).toBeInstanceOf(AppError);
    expect(error).toBeInstanceOf(Error);
    expect(error.status).toBe(status);
    expect(error.code).toBe(code);
    expect(error.name).toBe(name);
    expect(ERROR_CODES).toContain(error.code);
  });

  it('keeps the per-field problems of a ValidationError', () => {
    expect(new ValidationError('bad', { 'body.email': ['Invalid email'] }).fields).toEqual({
      'body.email': ['Invalid email'],
    });
    expect(new ValidationError('bad').fields).toEqual({});
  });

  it('gives InternalError a fixed client message whatever its cause says', () => {
    const error = new InternalError({ cause: new Error('password authentication failed for user "erp"') });
    expect(error.message).toBe('internal error');
    expect(error.cause).toBeInstanceOf(Error);
  });
});

describe('Retry-After', () => {
  it('rounds a rate limit up to whole seconds, at least 1', () => {
    expect(new RateLimitError('x', 2.1).retryAfterSeconds).toBe(3);
    expect(new RateLimitError('x', 0).retryAfterSeconds).toBe(1);
  });

  it('counts down to the unlock time of a locked account and shows it in details', () => {
    const unlockAt = new Date(Date.now() + 90_500);
    const error = new LockedError('account locked after 5 failed sign-ins', unlockAt);
    expect(error.retryAfterSeconds).toBeGreaterThanOrEqual(90);
    expect(error.retryAfterSeconds).toBeLessThanOrEqual(91);
    expect(error.details).toEqual({ unlock_at: unlockAt.toISOString() });
  });

  it('is absent unless an error has one', () => {
    expect(new NotFoundError('x').retryAfterSeconds).toBeUndefined();
    expect(new ServiceUnavailableError('x').retryAfterSeconds).toBeUndefined();
    expect(new ServiceUnavailableError('x', { retryAfterSeconds: 5 }).retryAfterSeconds).toBe(5);
  });
});

describe('causeChain', () => {
  it('lists the error and its causes, outermost first, with their codes', () => {
    const socket = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    const outer = new ServiceUnavailableError('the database is unreachable', { cause: socket });
    expect(causeChain(outer)).toEqual([
      { name: 'ServiceUnavailableError', message: 'the database is unreachable', code: 'SERVICE_UNAVAILABLE' },
      { name: 'Error', message: 'connect ECONNREFUSED 127.0.0.1:5432', code: 'ECONNREFUSED' },
    ]);
  });

  it('ends at a non-Error cause and stops on a cycle', () => {
    expect(causeChain(new Error('a', { cause: 'plain string' }))).toEqual([
      { name: 'Error', message: 'a' },
      { name: 'string', message: 'plain string' },
    ]);
    const first = new Error('first');
    const second = new Error('second', { cause: first });
    (first as { cause?: unknown }).cause = second;
    expect(causeChain(first)).toHaveLength(10);
  });
});

describe('aborts', () => {
  it('uses an Error reason as it is and wraps anything else', () => {
    const controller = new AbortController();
    const reason = new AbortedError('client left');
    controller.abort(reason);
    expect(abortReason(controller.signal)).toBe(reason);

    const other = new AbortController();
    other.abort('why not');
    const wrapped = abortReason(other.signal);
    expect(wrapped).toBeInstanceOf(AbortedError);
    expect(wrapped.cause).toBe('why not');
  });

  it('recognises our AbortedError and the DOMExceptions Node throws', () => {
    expect(isAbortError(new AbortedError('x'))).toBe(true);
    expect(isAbortError(AbortSignal.abort().reason)).toBe(true);
    expect(isAbortError(new DOMException('t', 'TimeoutError'))).toBe(true);
    expect(isAbortError(new Error('x'))).toBe(false);
  });
});
