import {
  AppError,
  ConflictError,
  InternalError,
  ServiceUnavailableError,
  TransactionConflictError,
  ValidationError,
} from '../errors.js';
import type { FieldErrors } from '../errors.js';

/** The SQLSTATE codes the service treats specially (see the PostgreSQL manual, appendix A). */
export const SQLSTATE = {
  uniqueViolation: '23505',
  foreignKeyViolation: '23503',
  checkViolation: '23514',
  notNullViolation: '23502',
  exclusionViolation: '23P01',
  invalidTextRepresentation: '22P02',
  numericValueOutOfRange: '22003',
  serializationFailure: '40001',
  deadlockDetected: '40P01',
  queryCanceled: '57014',
  adminShutdown: '57P01',
  crashShutdown: '57P02',
  cannotConnectNow: '57P03',
  tooManyConnections: '53300',
  lockNotAvailable: '55P03',
} as const;

/** What the failing call was doing, to word the error; never the parameter values. */
export interface DatabaseErrorContext {
  /** Operation label, e.g. `users.create`. */
  readonly operation?: string;
  /** The statement text, used only to tell an INSERT from a DELETE when the server's detail does not. */
  readonly sql?: string;
}

/** The fields of a PostgreSQL error reply (pg's DatabaseError) this module reads. */
interface PgErrorFields {
  readonly code: string;
  readonly message: string;
  readonly detail?: string;
  readonly constraint?: string;
  readonly table?: string;
  readonly column?: string;
}

const SQLSTATE_SHAPE = /^[0-9A-Z]{5}$/;

/** The SQLSTATE of a PostgreSQL error reply, or undefined for anything else (a socket error, a bug). */
export function sqlState(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const { code, severity } = error as { code?: unknown; severity?: unknown };
  return typeof code === 'string' && typeof severity === 'string' && SQLSTATE_SHAPE.test(code) ? code : undefined;
}

/** A deadlock or serialization failure: the transaction was rolled back and may simply run again. */
export function isRetryableTransactionError(error: unknown): boolean {
  if (error instanceof TransactionConflictError) return true;
  const state = sqlState(error);
  return state === SQLSTATE.deadlockDetected || state === SQLSTATE.serializationFailure;
}

// Socket-level failures: the database (or the network to it) is away.
const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);
// pg reports pool and connection trouble as plain Errors with these messages.
const CONNECTION_ERROR_MESSAGE =
  /timeout exceeded when trying to connect|Connection terminated|connection error|not queryable|Connection timeout/i;

/** Whether `error` is the driver failing to reach or keep a connection (no SQLSTATE: the server never answered). */
export function isConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && CONNECTION_ERROR_CODES.has(code)) return true;
  if (error instanceof AggregateError && error.errors.some(isConnectionError)) return true;
  return sqlState(error) === undefined && CONNECTION_ERROR_MESSAGE.test(error.message);
}

/** Column names from a detail like `Key (lower(email::text))=(…) already exists.`, without the values. */
function keyColumns(detail: string | undefined): string[] {
  const key = detail === undefined ? undefined : /^Key \((.+?)\)=\(/.exec(detail)?.[1];
  if (key === undefined) return [];
  return key.split(', ').map(columnOfKeyPart);
}

/** `email` → `email`; an expression index reports `lower(email::text)` → `email`. */
function columnOfKeyPart(part: string): string {
  let inner = part;
  for (let call = /^[a-z_]\w*\((.*)\)$/i.exec(inner); call !== null; call = /^[a-z_]\w*\((.*)\)$/i.exec(inner)) {
    inner = call[1] ?? inner;
  }
  return inner.split('::')[0] ?? inner;
}

function referencedTable(detail: string | undefined): string | undefined {
  return detail === undefined ? undefined : /table "([^"]+)"/.exec(detail)?.[1];
}

/** `products_price_cents_check` on table `products` → `price_cents`: the naming PostgreSQL and our migrations use. */
function checkedColumn(constraint: string | undefined, table: string | undefined): string | undefined {
  if (constraint === undefined) return undefined;
  const withoutTable =
    table !== undefined && constraint.startsWith(`${table}_`) ? constraint.slice(table.length + 1) : constraint;
  return withoutTable.replace(/_check$/, '');
}

function typeName(message: string): string | undefined {
  return /for type ([a-z][a-z0-9 _]*?)(?::|$)/i.exec(message)?.[1];
}

function isRemoval(sql: string | undefined): boolean {
  if (sql === undefined) return false;
  return /^\s*(?:DELETE|UPDATE)\b/i.test(sql) || (/^\s*WITH\b/i.test(sql) && /\b(?:DELETE|UPDATE)\b/i.test(sql));
}

function uniqueViolation(error: PgErrorFields): ConflictError {
  const columns = keyColumns(error.detail);
  const what = columns.length > 0 ? columns.join(', ') : 'a unique value';
  const constraint = error.constraint ?? 'unknown';
  return new ConflictError(
    `${what} is already in use${error.table === undefined ? '' : ` in ${error.table}`} (constraint ${constraint}); choose a different value`,
    { cause: error, details: { constraint, fields: columns } },
  );
}

function foreignKeyViolation(error: PgErrorFields, context: DatabaseErrorContext): AppError {
  const columns = keyColumns(error.detail);
  const other = referencedTable(error.detail) ?? 'another table';
  const constraint = error.constraint ?? 'unknown';
  const stillReferenced = error.detail?.includes('is still referenced') ?? isRemoval(context.sql);
  if (stillReferenced) {
    return new ConflictError(
      `this row is still referenced from ${error.table ?? other} (constraint ${constraint}); remove or reassign those rows first`,
      { cause: error, details: { constraint } },
    );
  }
  const fields: Record<string, string[]> = {};
  for (const column of columns) fields[column] = [`refers to a row of ${other} that does not exist`];
  return new ValidationError(
    `${columns.join(', ') || 'a reference'} refers to a row of ${other} that does not exist (constraint ${constraint}); check the id`,
    fields,
    { cause: error, details: { constraint } },
  );
}

function fieldProblem(field: string | undefined, problem: string): FieldErrors {
  return field === undefined ? {} : { [field]: [problem] };
}

/**
 * Maps a failure from `pg` to the typed error a client may see. Messages name the constraint, column or type,
 * never a value; the original error stays on `cause`. An {@link AppError} is returned unchanged.
 */
export function classifyDatabaseError(error: unknown, context: DatabaseErrorContext = {}): AppError {
  if (error instanceof AppError) return error;
  const state = sqlState(error);
  if (state === undefined) {
    if (isConnectionError(error)) {
      return new ServiceUnavailableError('the database is unreachable right now; retry in a few seconds', {
        cause: error,
        retryAfterSeconds: 5,
      });
    }
    return new InternalError({ cause: error });
  }
  const pg = error as PgErrorFields & Error;

  switch (state) {
    case SQLSTATE.uniqueViolation:
      return uniqueViolation(pg);
    case SQLSTATE.exclusionViolation:
      return new ConflictError(
        `this overlaps an existing ${pg.table ?? 'row'} (constraint ${pg.constraint ?? 'unknown'})`,
        {
          cause: error,
          details: { constraint: pg.constraint },
        },
      );
    case SQLSTATE.foreignKeyViolation:
      return foreignKeyViolation(pg, context);
    case SQLSTATE.checkViolation: {
      const field = checkedColumn(pg.constraint, pg.table);
      return new ValidationError(
        `${field ?? 'a value'} breaks the rule ${pg.constraint ?? 'unknown'}${pg.table === undefined ? '' : ` of ${pg.table}`}; send a value within the allowed range`,
        fieldProblem(field, `breaks the rule ${pg.constraint ?? 'unknown'}`),
        { cause: error, details: { constraint: pg.constraint } },
      );
    }
    case SQLSTATE.notNullViolation:
      return new ValidationError(
        `${pg.column ?? 'a required value'} is required${pg.table === undefined ? '' : ` in ${pg.table}`}; send a value for it`,
        fieldProblem(pg.column, 'is required'),
        { cause: error },
      );
    case SQLSTATE.invalidTextRepresentation: {
      const type = typeName(pg.message);
      return new ValidationError(
        `a value is not a valid ${type ?? 'input for its type'}; check the format`,
        {},
        {
          cause: error,
          details: type === undefined ? undefined : { type },
        },
      );
    }
    case SQLSTATE.numericValueOutOfRange: {
      const type = typeName(pg.message);
      return new ValidationError(
        `a number is out of range${type === undefined ? '' : ` for type ${type}`}; send a smaller value`,
        {},
        { cause: error, details: type === undefined ? undefined : { type } },
      );
    }
    case SQLSTATE.deadlockDetected:
    case SQLSTATE.serializationFailure:
      return new TransactionConflictError(undefined, { cause: error });
    case SQLSTATE.queryCanceled:
      return new ServiceUnavailableError(
        'the database took too long to answer and the query was cancelled; retry shortly, and narrow the request if it keeps happening',
        { cause: error, retryAfterSeconds: 1 },
      );
    case SQLSTATE.lockNotAvailable:
      return new ServiceUnavailableError('the data is locked by other work right now; retry shortly', {
        cause: error,
        retryAfterSeconds: 1,
      });
    default:
      break;
  }
  // Class 08 (connection exception), 57P01-03 (server shutting down or starting), 53300 (too many connections).
  if (
    state.startsWith('08') ||
    state === SQLSTATE.adminShutdown ||
    state === SQLSTATE.crashShutdown ||
    state === SQLSTATE.cannotConnectNow ||
    state === SQLSTATE.tooManyConnections
  ) {
    return new ServiceUnavailableError('the database is unavailable right now; retry in a few seconds', {
      cause: error,
      retryAfterSeconds: 5,
    });
  }
  // Class 22 (data exception) is bad input that slipped past validation: too long, a bad date and the like.
  if (state.startsWith('22')) {
    return new ValidationError('a value does not fit its column; check lengths and formats', {}, { cause: error });
  }
  return new InternalError({ cause: error });
}
