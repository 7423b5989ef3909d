/**
 * The service's error vocabulary: every failure a client may see is an {@link AppError} with a stable
 * `code` (what clients branch on), the HTTP `status` that goes with it and a `message` safe to show.
 * What went wrong inside stays on the `cause` chain, which only the log sees.
 */

/** Every code a response may carry, with its HTTP status: the OpenAPI description documents exactly these. */
export const ERROR_STATUS = {
  BAD_REQUEST: 400,
  VALIDATION_ERROR: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  TRANSACTION_CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  ACCOUNT_LOCKED: 423,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  SERVICE_UNAVAILABLE: 503,
} as const satisfies Record<string, number>;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** Every error code, in status order. */
export const ERROR_CODES: readonly ErrorCode[] = Object.freeze(Object.keys(ERROR_STATUS) as ErrorCode[]);

/** Problems per request field, keyed by path such as `body.email` or `query.limit`. */
export type FieldErrors = Readonly<Record<string, readonly string[]>>;

export interface AppErrorOptions {
  /** The underlying error: logged with the whole chain, never sent to the client. */
  readonly cause?: unknown;
  /** Structured, client-safe facts about the error (a constraint name, an unlock time), sent in 4xx bodies. */
  readonly details?: Readonly<Record<string, unknown>>;
}

/**
 * Base of every error a client may see. `message` must be safe to show: say what was wrong and what to do,
 * never a secret or an internal detail (those go on `cause`).
 */
export class AppError extends Error {
  override readonly name: string = 'AppError';
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.details = options.details;
  }

  /** Seconds a client should wait before retrying, sent as `Retry-After`; undefined when not applicable. */
  get retryAfterSeconds(): number | undefined {
    return undefined;
  }
}

export class NotFoundError extends AppError {
  override readonly name = 'NotFoundError';

  constructor(message: string, options?: AppErrorOptions) {
    super('NOT_FOUND', message, options);
  }
}

/** Input that breaks a rule; `fields` says which field and why, e.g. `{ "body.email": ["Invalid email"] }`. */
export class ValidationError extends AppError {
  override readonly name = 'ValidationError';

  constructor(
    message: string,
    readonly fields: FieldErrors = {},
    options?: AppErrorOptions,
  ) {
    super('VALIDATION_ERROR', message, options);
  }
}

/** The request clashes with the current state, such as a duplicate email or deleting a role still in use. */
export class ConflictError extends AppError {
  override readonly name = 'ConflictError';

  constructor(message: string, options?: AppErrorOptions) {
    super('CONFLICT', message, options);
  }
}

/**
 * A deadlock or serialization failure: nothing was changed and running the same work again will most likely
 * succeed. `withTransaction` retries these itself; one that reaches the client asks it to retry.
 */
export class TransactionConflictError extends AppError {
  override readonly name = 'TransactionConflictError';

  constructor(
    message = 'the data changed while this request ran and nothing was saved; retry the request',
    options?: AppErrorOptions,
  ) {
    super('TRANSACTION_CONFLICT', message, options);
  }
}

export class UnauthorizedError extends AppError {
  override readonly name = 'UnauthorizedError';

  constructor(message = 'authentication required; sign in and send the access token', options?: AppErrorOptions) {
    super('UNAUTHORIZED', message, options);
  }
}

export class ForbiddenError extends AppError {
  override readonly name = 'ForbiddenError';

  constructor(message: string, options?: AppErrorOptions) {
    super('FORBIDDEN', message, options);
  }
}

/** Too many requests; the client may retry after `retryAfterSeconds` (sent as `Retry-After`). */
export class RateLimitError extends AppError {
  override readonly name = 'RateLimitError';
  readonly #retryAfterSeconds: number;

  constructor(message: string, retryAfterSeconds: number, options?: AppErrorOptions) {
    super('RATE_LIMITED', message, options);
    this.#retryAfterSeconds = Math.max(1, Math.ceil(retryAfterSeconds));
  }

  override get retryAfterSeconds(): number {
    return this.#retryAfterSeconds;
  }
}

/** The account is locked until `unlockAt`; the body carries it in `details.unlock_at` and `Retry-After` the wait. */
export class LockedError extends AppError {
  override readonly name = 'LockedError';

  constructor(
    message: string,
    readonly unlockAt: Date,
    options?: Omit<AppErrorOptions, 'details'>,
  ) {
    super('ACCOUNT_LOCKED', message, { ...options, details: { unlock_at: unlockAt.toISOString() } });
  }

  override get retryAfterSeconds(): number {
    return Math.max(1, Math.ceil((this.unlockAt.getTime() - Date.now()) / 1000));
  }
}

/** A dependency (the database, Redis) is down or too slow; the client should retry later. */
export class ServiceUnavailableError extends AppError {
  override readonly name = 'ServiceUnavailableError';
  readonly #retryAfterSeconds: number | undefined;

  constructor(message: string, options?: AppErrorOptions & { readonly retryAfterSeconds?: number }) {
    super('SERVICE_UNAVAILABLE', message, options);
    this.#retryAfterSeconds = options?.retryAfterSeconds;
  }

  override get retryAfterSeconds(): number | undefined {
    return this.#retryAfterSeconds;
  }
}

/** A bug or an unexpected failure. The client sees only this fixed message; what happened is on `cause`. */
export class InternalError extends AppError {
  override readonly name = 'InternalError';

  constructor(options?: Omit<AppErrorOptions, 'details'>) {
    super('INTERNAL', 'internal error', options);
  }
}

/** Framework-level client errors that have no business meaning: malformed JSON, oversized bodies and the like. */
export class BadRequestError extends AppError {
  override readonly name = 'BadRequestError';

  // eslint-disable-next-line @typescript-eslint/no-useless-constructor -- narrows the codes to the framework-level ones
  constructor(
    code: 'BAD_REQUEST' | 'PAYLOAD_TOO_LARGE' | 'UNSUPPORTED_MEDIA_TYPE' | 'METHOD_NOT_ALLOWED',
    message: string,
    options?: AppErrorOptions,
  ) {
    super(code, message, options);
  }
}

/**
 * The caller gave up (the client disconnected, a deadline passed) and the work was stopped and rolled back.
 * Not an AppError: nobody is left to read a response.
 */
export class AbortedError extends Error {
  override readonly name = 'AbortedError';
}

/** The reason of an aborted signal as an Error to throw; a non-Error reason becomes the cause of an AbortedError. */
export function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new AbortedError('the operation was aborted', { cause: reason });
}

/** Whether `error` says the work was aborted (ours, or a DOMException AbortError/TimeoutError from Node). */
export function isAbortError(error: unknown): boolean {
  return error instanceof Error && ['AbortedError', 'AbortError', 'TimeoutError'].includes(error.name);
}

/** One link of a cause chain, as it is logged. */
export interface CauseLink {
  readonly name: string;
  readonly message: string;
  /** An AppError code, a SQLSTATE or a Node.js error code, when there is one. */
  readonly code?: string;
}

const MAX_CAUSE_DEPTH = 10;

/** The error and its causes, outermost first, bounded so a cyclic chain cannot loop. */
export function causeChain(error: unknown): CauseLink[] {
  const chain: CauseLink[] = [];
  let current: unknown = error;
  while (current !== undefined && current !== null && chain.length < MAX_CAUSE_DEPTH) {
    if (current instanceof Error) {
      const code = (current as { code?: unknown }).code;
      chain.push({
        name: current.name,
        message: current.message,
        ...(typeof code === 'string' ? { code } : {}),
      });
      current = current.cause;
    } else {
      chain.push({ name: typeof current, message: typeof current === 'string' ? current : JSON.stringify(current) });
      break;
    }
  }
  return chain;
}
