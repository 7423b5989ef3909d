import { randomUUID } from 'node:crypto';

import type { Redis } from 'ioredis';

import { withTransaction } from '../../db/transaction.js';
import type { Database, Queryable } from '../../db/pool.js';
import {
  AppError,
  ConflictError,
  ForbiddenError,
  LockedError,
  RateLimitError,
  UnauthorizedError,
} from '../../errors.js';
import type { Metrics } from '../../observability/metrics.js';
import { AUDIT_EVENT } from '../audit/events.js';
import type { AuditEvent } from '../audit/events.js';
import type { AuditLog } from '../audit/log.js';
import { REVOCATION_CACHE, REVOKED_ACCESS_KEY_PREFIX } from './authenticator.js';
import type { Caller } from './authenticator.js';
import {
  ADDRESS_LOCK_SECONDS,
  FAILURES_BEFORE_ADDRESS_LOCK,
  FAILURES_BEFORE_LOCK,
  LOCK_SECONDS,
  LOGIN_IP_WINDOW_SECONDS,
  type LoginAttemptLimiter,
} from './login-protection.js';
import type { PasswordHasher } from './passwords.js';
import {
  clearLoginFailures,
  findLoginCandidate,
  findUserProfile,
  grantRole,
  insertRefreshToken,
  insertUser,
  isUserActive,
  queueEmail,
  recordLoginFailure,
  revokeRefreshFamily,
  spendRefreshToken,
} from './repository.js';
import type { LoginCandidate, UserProfile } from './repository.js';
import { ACCESS_TOKEN_TTL_SECONDS, TokenVerificationError } from './tokens.js';
import type { TokenClaims, TokenService } from './tokens.js';

/** The role every self-registered account starts with. */
export const DEFAULT_ROLE = 'customer';
export const LOCKOUT_EMAIL_TEMPLATE = 'account_locked';
export type LoginIdentifier = { readonly email: string } | { readonly username: string };

export interface TokenPair {
  readonly tokenType: 'Bearer';
  readonly accessToken: string;
  readonly accessTokenExpiresAt: string;
  /** Seconds until the access token expires, as OAuth 2 clients expect. */
  readonly expiresIn: number;
  readonly refreshToken: string;
  readonly refreshTokenExpiresAt: string;
}

export interface SessionServiceDependencies {
  readonly db: Database;
  /** Where sign-out revokes the access token; the login limiter has its own store. */
  readonly redis: Redis;
  readonly tokens: TokenService;
  readonly passwords: PasswordHasher;
  readonly attempts: LoginAttemptLimiter;
  readonly metrics: Metrics;
  /** Where sign-ins, failures, lockouts, sign-outs and refresh-token reuse are recorded. */
  readonly audit: AuditLog;
}

function describeLogin(login: LoginIdentifier): Record<string, string> {
  return 'email' in login ? { attemptedEmail: login.email } : { attemptedUsername: login.username };
}

function invalidCredentials(): UnauthorizedError {
  return new UnauthorizedError(
    `the email or username and password do not match an account; check both and try again (after ${FAILURES_BEFORE_ADDRESS_LOCK} wrong passwords in a row from one address the account is locked for that address for ${ADDRESS_LOCK_SECONDS / 60} minutes)`,
  );
}

function lockedError(unlockAt: Date): LockedError {
  return new LockedError(
    `this account is locked after ${FAILURES_BEFORE_LOCK} wrong passwords in a row; try again after ${unlockAt.toISOString()}`,
    unlockAt,
  );
}

function addressLockedError(unlockAt: Date): LockedError {
  return new LockedError(
    `this account is locked for sign-ins from your address after ${FAILURES_BEFORE_ADDRESS_LOCK} wrong passwords in a row from it; try again after ${unlockAt.toISOString()}, or ask an administrator to unlock it`,
    unlockAt,
  );
}

/** The attempted email or username, as the audit log keeps it (snake_case, like the API). */
function auditedLogin(login: LoginIdentifier): Record<string, string> {
  return 'email' in login ? { attempted_email: login.email } : { attempted_username: login.username };
}

/**
 * Registration, sign-in with lockout, token refresh with rotation, sign-out and the signed-in profile: the session
 * flows. Checking the access token of each request is RequestAuthenticator's (authenticator.ts).
 *
 * Audit: a security event that changes state (a successful sign-in, a counted wrong password, a lockout, a
 * sign-out, a reused refresh token ending its sign-in) is recorded in the same transaction as the change, so
 * neither exists without the other and a failing audit write fails the request. Failures that change nothing
 * (unknown account, account already locked, deactivated account) are recorded best-effort in their own
 * transaction: a failed write is logged at error and the caller still gets the real answer.
 */
export class SessionService {
  readonly #deps: SessionServiceDependencies;

  constructor(deps: SessionServiceDependencies) {
    this.#deps = deps;
  }

  /** Creates the account with the customer role, in one transaction. */
  async register(input: { readonly email: string; readonly username: string; readonly password: string }) {
    const { db, passwords, metrics } = this.#deps;
    // Hashed before the transaction, so no connection is held during the slow part.
    const passwordHash = await passwords.hash(input.password);
    try {
      const profile = await withTransaction(
        db,
        async (tx) => {
          const user = await insertUser(tx, { email: input.email, username: input.username, passwordHash });
          if (!(await grantRole(tx, user.id, DEFAULT_ROLE))) {
            throw new Error(`role ${DEFAULT_ROLE} is missing; the seed migration 0005 has not been applied`);
          }
          return { ...user, roles: [DEFAULT_ROLE] };
        },
        { name: 'auth.register' },
      );
      metrics.userCreated();
      return profile;
    } catch (error) {
      throw duplicateAccount(error, input) ?? error;
    }
  }

  /**
   * Signs in: the address's daily failures, the account's lock for everyone and for this address, then the
   * password; issues an access and a refresh token. Only failures count against the limits.
   */
  async login(input: { readonly login: LoginIdentifier; readonly password: string }, caller: Caller) {
    const { db, passwords, attempts, metrics } = this.#deps;
    const who = { ip: caller.ip, ...describeLogin(input.login) };

    const candidate = await findLoginCandidate(db, input.login);
    const decision = await attempts.check(caller.ip, candidate?.id);
    if (!decision.allowed && decision.scope === 'ip') {
      metrics.authLoginAttempt('rate_limited');
      metrics.rateLimitBlock('login');
      const unlockAt = new Date(Date.now() + decision.retryAfterSeconds * 1000);
      caller.log.warn(
        { ...who, retryAfterSeconds: decision.retryAfterSeconds },
        'sign-in blocked: too many failed attempts from this IP',
      );
      throw new RateLimitError(
        `too many failed sign-ins from ${caller.ip}: the limit is ${decision.limit} per ${LOGIN_IP_WINDOW_SECONDS / 3600} hours; retry after ${decision.retryAfterSeconds} s`,
        decision.retryAfterSeconds,
        { details: { unlock_at: unlockAt.toISOString() } },
      );
    }
    if (candidate === undefined) {
      await passwords.verifyDummy(input.password);
      await attempts.recordFailure(caller.ip);
      metrics.authLoginAttempt('failure');
      caller.log.info(who, 'sign-in failed: no such account');
      await this.#auditBestEffort(caller, {
        type: AUDIT_EVENT.loginFailed,
        metadata: { ...auditedLogin(input.login), reason: 'unknown_account' },
      });
      throw invalidCredentials();
    }
    if (candidate.lockedUntil !== null && candidate.lockedUntil > new Date()) {
      metrics.authLoginAttempt('locked');
      caller.log.warn(
        { ...who, userId: candidate.id, unlockAt: candidate.lockedUntil },
        'sign-in blocked: account locked',
      );
      await this.#auditBestEffort(caller, {
        type: AUDIT_EVENT.loginFailed,
        actorUserId: candidate.id,
        resourceType: 'user',
        resourceId: candidate.id,
        metadata: { ...auditedLogin(input.login), reason: 'account_locked' },
      });
      throw lockedError(candidate.lockedUntil);
    }
    if (!decision.allowed) {
      const unlockAt = new Date(Date.now() + decision.retryAfterSeconds * 1000);
      metrics.authLoginAttempt('locked');
      caller.log.warn({ ...who, userId: candidate.id, unlockAt }, 'sign-in blocked: account locked for this address');
      await this.#auditBestEffort(caller, {
        type: AUDIT_EVENT.loginFailed,
        actorUserId: candidate.id,
        resourceType: 'user',
        resourceId: candidate.id,
        metadata: { ...auditedLogin(input.login), reason: 'address_locked' },
      });
      throw addressLockedError(unlockAt);
    }
    if (!(await passwords.verify(candidate.passwordHash, input.password))) {
      throw await this.#wrongPassword(candidate, caller, who, input.login);
    }
    if (!candidate.isActive) {
      metrics.authLoginAttempt('failure');
      caller.log.info({ ...who, userId: candidate.id }, 'sign-in refused: account deactivated');
      await this.#auditBestEffort(caller, {
        type: AUDIT_EVENT.loginFailed,
        actorUserId: candidate.id,
        resourceType: 'user',
        resourceId: candidate.id,
        metadata: { ...auditedLogin(input.login), reason: 'account_deactivated' },
      });
      throw new ForbiddenError('this account is deactivated; contact an administrator to reactivate it');
    }

    const sessionId = randomUUID();
    const pair = await this.#issuePair(candidate.id, sessionId);
    await withTransaction(
      db,
      async (tx) => {
        if (candidate.failedLoginCount > 0 || candidate.lockedUntil !== null)
          await clearLoginFailures(tx, candidate.id);
        await insertRefreshToken(tx, {
          id: pair.refreshJti,
          userId: candidate.id,
          familyId: sessionId,
          expiresAt: pair.refreshExpiresAt,
        });
        await this.#audit(tx, caller, {
          type: AUDIT_EVENT.loginSucceeded,
          actorUserId: candidate.id,
          resourceType: 'user',
          resourceId: candidate.id,
          metadata: { ...auditedLogin(input.login), session_id: sessionId },
        });
      },
      { name: 'auth.login' },
    );
    await attempts.recordSuccess(caller.ip, candidate.id);
    metrics.authLoginAttempt('success');
    caller.log.info({ userId: candidate.id, ip: caller.ip, sessionId }, 'signed in');
    return pair.tokens;
  }

  /**
   * Counts the failure for the address and the account; the one that reaches the account's limit locks it and
   * queues the notice, atomically. The one that reaches the address's limit shuts only this address out.
   */
  async #wrongPassword(
    candidate: LoginCandidate,
    caller: Caller,
    who: Record<string, string>,
    login: LoginIdentifier,
  ): Promise<AppError> {
    const { db, metrics, attempts } = this.#deps;
    const address = await attempts.recordFailure(caller.ip, candidate.id);
    const outcome = await withTransaction(
      db,
      async (tx) => {
        const result = await recordLoginFailure(tx, candidate.id, {
          maxFailures: FAILURES_BEFORE_LOCK,
          lockSeconds: LOCK_SECONDS,
        });
        if (result?.lockedUntil != null) {
          await queueEmail(tx, {
            userId: candidate.id,
            recipient: candidate.email,
            template: LOCKOUT_EMAIL_TEMPLATE,
            payload: {
              username: candidate.username,
              unlockAt: result.lockedUntil.toISOString(),
              failedAttempts: result.failedLoginCount,
              ip: caller.ip,
            },
          });
        }
        if (result !== undefined) {
          const user = { actorUserId: candidate.id, resourceType: 'user', resourceId: candidate.id };
          await this.#audit(tx, caller, {
            type: AUDIT_EVENT.loginFailed,
            ...user,
            metadata: { ...auditedLogin(login), reason: 'wrong_password', failed_login_count: result.failedLoginCount },
          });
          if (result.lockedUntil !== null) {
            await this.#audit(tx, caller, {
              type: AUDIT_EVENT.accountLocked,
              ...user,
              after: { locked_until: result.lockedUntil.toISOString() },
              metadata: { failed_login_count: result.failedLoginCount },
            });
          } else if (address.addressLocked) {
            await this.#audit(tx, caller, {
              type: AUDIT_EVENT.addressLocked,
              ...user,
              after: { locked_until: new Date(Date.now() + address.retryAfterSeconds * 1000).toISOString() },
              metadata: { consecutive_failures_from_ip: FAILURES_BEFORE_ADDRESS_LOCK },
            });
          }
        }
        return result;
      },
      { name: 'auth.recordLoginFailure' },
    );
    metrics.authLoginAttempt('failure');
    if (outcome === undefined) {
      // Another replica locked it between our read and this write.
      const current = await findLoginCandidate(db, { email: candidate.email });
      return current?.lockedUntil == null ? invalidCredentials() : lockedError(current.lockedUntil);
    }
    if (outcome.lockedUntil === null && address.addressLocked) {
      const unlockAt = new Date(Date.now() + address.retryAfterSeconds * 1000);
      metrics.authAddressLockout();
      caller.log.warn(
        { ...who, userId: candidate.id, failedLoginCount: outcome.failedLoginCount, unlockAt },
        'account locked for this address after too many wrong passwords from it',
      );
      return addressLockedError(unlockAt);
    }
    if (outcome.lockedUntil === null) {
      caller.log.info(
        { ...who, userId: candidate.id, failedLoginCount: outcome.failedLoginCount },
        'sign-in failed: wrong password',
      );
      return invalidCredentials();
    }
    metrics.authLockout();
    caller.log.warn(
      { ...who, userId: candidate.id, failedLoginCount: outcome.failedLoginCount, unlockAt: outcome.lockedUntil },
      'account locked after too many wrong passwords; notification queued',
    );
    return lockedError(outcome.lockedUntil);
  }

  /** Spends the refresh token and issues the next pair of the same sign-in; a reused token ends that sign-in. */
  async refresh(refreshToken: string, caller: Caller): Promise<TokenPair> {
    const { db, tokens } = this.#deps;
    let claims: TokenClaims;
    try {
      claims = await tokens.verify(refreshToken, 'refresh');
    } catch (error) {
      if (!(error instanceof TokenVerificationError)) throw error;
      throw new UnauthorizedError(`the refresh token is ${error.reason}; sign in again`, { cause: error });
    }
    const pair = await this.#issuePair(claims.userId, claims.sessionId);
    const outcome = await withTransaction(
      db,
      async (tx) => {
        const spent = await spendRefreshToken(tx, {
          id: claims.jti,
          userId: claims.userId,
          familyId: claims.sessionId,
        });
        if (spent !== 'spent') return spent;
        if (!(await isUserActive(tx, claims.userId))) return 'inactive';
        await insertRefreshToken(tx, {
          id: pair.refreshJti,
          userId: claims.userId,
          familyId: claims.sessionId,
          expiresAt: pair.refreshExpiresAt,
        });
        return 'spent';
      },
      { name: 'auth.refresh' },
    );
    if (outcome === 'reused') {
      // A spent token presented again means it was copied: end that whole sign-in (RFC 9700 §4.14.2).
      const revoked = await withTransaction(
        db,
        async (tx) => {
          const count = await revokeRefreshFamily(tx, claims.sessionId);
          await this.#audit(tx, caller, {
            type: AUDIT_EVENT.refreshReused,
            actorUserId: claims.userId,
            resourceType: 'session',
            resourceId: claims.sessionId,
            metadata: { revoked_tokens: count },
          });
          return count;
        },
        { name: 'auth.revokeReusedRefresh' },
      );
      caller.log.warn(
        { userId: claims.userId, sessionId: claims.sessionId, ip: caller.ip, revoked },
        'refresh token reused; every token of that sign-in revoked',
      );
    }
    if (outcome !== 'spent') {
      throw new UnauthorizedError('the refresh token was already used, revoked or has expired; sign in again');
    }
    return pair.tokens;
  }

  /** Ends the sign-in of `claims`: its refresh tokens in PostgreSQL, its access token in Redis. */
  async logout(claims: TokenClaims, caller: Caller): Promise<void> {
    const { db, redis, metrics } = this.#deps;
    await withTransaction(
      db,
      async (tx) => {
        const revoked = await revokeRefreshFamily(tx, claims.sessionId);
        await this.#audit(tx, caller, {
          type: AUDIT_EVENT.logout,
          actorUserId: claims.userId,
          resourceType: 'session',
          resourceId: claims.sessionId,
          metadata: { revoked_tokens: revoked },
        });
      },
      { name: 'auth.logout' },
    );
    const ttlMs = claims.expiresAt.getTime() - Date.now();
    if (ttlMs <= 0) return;
    const started = performance.now();
    try {
      await redis.set(`${REVOKED_ACCESS_KEY_PREFIX}${claims.jti}`, '1', 'PX', ttlMs);
    } catch (error) {
      // Refresh is already revoked; the access token lives on for at most its remaining 15 minutes.
      metrics.cacheOperation(REVOCATION_CACHE, 'error', (performance.now() - started) / 1000);
      caller.log.warn(
        { err: error, userId: claims.userId, remainingSeconds: Math.ceil(ttlMs / 1000) },
        'signed out, but the access token could not be revoked in Redis; it stays valid until it expires',
      );
      return;
    }
    caller.log.info({ userId: claims.userId, sessionId: claims.sessionId }, 'signed out');
  }

  async profile(userId: string): Promise<UserProfile> {
    const profile = await findUserProfile(this.#deps.db, userId);
    if (profile === undefined) throw new UnauthorizedError('the account of this token is gone; sign in again');
    return profile;
  }

  /** The audit event of `caller`, with its address and user agent. */
  #event(caller: Caller, event: Omit<AuditEvent, 'ip' | 'userAgent'>): AuditEvent {
    return { ...event, ip: caller.ip, userAgent: caller.userAgent };
  }

  /** Records `event` in its own transaction; a failure is logged, never thrown (see the class comment). */
  async #auditBestEffort(caller: Caller, event: Omit<AuditEvent, 'ip' | 'userAgent'>): Promise<void> {
    try {
      await this.#deps.audit.record(this.#deps.db, this.#event(caller, event));
    } catch (error) {
      caller.log.error({ err: error, auditEvent: event.type }, 'audit event could not be recorded; continuing');
    }
  }

  async #audit(q: Queryable, caller: Caller, event: Omit<AuditEvent, 'ip' | 'userAgent'>): Promise<void> {
    await this.#deps.audit.record(q, this.#event(caller, event));
  }

  async #issuePair(userId: string, sessionId: string) {
    const { tokens } = this.#deps;
    const [access, refresh] = await Promise.all([
      tokens.issue('access', userId, sessionId),
      tokens.issue('refresh', userId, sessionId),
    ]);
    const pair: TokenPair = {
      tokenType: 'Bearer',
      accessToken: access.token,
      accessTokenExpiresAt: access.expiresAt.toISOString(),
      expiresIn: ACCESS_TOKEN_TTL_SECONDS,
      refreshToken: refresh.token,
      refreshTokenExpiresAt: refresh.expiresAt.toISOString(),
    };
    return { tokens: pair, refreshJti: refresh.jti, refreshExpiresAt: refresh.expiresAt };
  }
}

/** A unique violation on email or username, said in the client's terms; undefined for any other error. */
function duplicateAccount(error: unknown, input: { readonly email: string; readonly username: string }) {
  if (!(error instanceof ConflictError)) return undefined;
  const constraint = error.details?.constraint;
  if (constraint === 'users_email_key') {
    return new ConflictError(
      `an account with email ${input.email} already exists; sign in, or register another email`,
      {
        cause: error,
        details: { field: 'email' },
      },
    );
  }
  if (constraint === 'users_username_key') {
    return new ConflictError(`the username ${input.username} is taken; choose another`, {
      cause: error,
      details: { field: 'username' },
    });
  }
  return undefined;
}
