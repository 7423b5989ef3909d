import type { Redis } from 'ioredis';

import type { Database } from '../../db/pool.js';
import { UnauthorizedError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { Metrics } from '../../observability/metrics.js';
import { isUserActive } from './repository.js';
import { TokenVerificationError } from './tokens.js';
import type { TokenClaims, TokenService } from './tokens.js';

/** One key per revoked access token, kept until the token would have expired anyway. */
export const REVOKED_ACCESS_KEY_PREFIX = 'erp-api:auth:revoked-access:';
// The cache metric's name for the revocation list; an `error` there is a check skipped while Redis is away.
export const REVOCATION_CACHE = 'revoked_access_tokens';

/** Who is asking, as plain data: the domain never sees Express objects. */
export interface Caller {
  readonly ip: string;
  /** The User-Agent header, for the audit log; absent when the client sent none. */
  readonly userAgent?: string | undefined;
  readonly log: Logger;
}

/** Why a bearer token was refused; the guard turns it into a 401 with a WWW-Authenticate challenge. */
export class AuthenticationError extends UnauthorizedError {
  constructor(
    message: string,
    readonly challenge: 'invalid_token' | 'invalid_request',
  ) {
    super(message);
  }
}

/** Whether an account is active, read through a cache together with one more key in the same round trip. */
export interface AccountStatusReader {
  /** `alongside` is the value of `alongsideKey` (null when absent), or undefined when Redis did not answer. */
  accountStatus(
    userId: string,
    alongsideKey: string,
    log: Logger,
  ): Promise<{ readonly active: boolean; readonly alongside: string | null | undefined }>;
}

export interface RequestAuthenticatorDependencies {
  readonly db: Database;
  /** Holds the revoked access tokens. */
  readonly redis: Redis;
  readonly tokens: TokenService;
  readonly metrics: Metrics;
  /**
   * The cached account status (the access component's PermissionCache): each authenticated request then reads
   * the active flag and the revocation marker in one Redis round trip, and no database. Without it, one Redis
   * read and one database query per request.
   */
  readonly accounts?: AccountStatusReader | undefined;
}

/** Turns a bearer access token into the verified claims of an active account: what the guard asks on every request. */
export class RequestAuthenticator {
  readonly #deps: RequestAuthenticatorDependencies;
  #revocationCheckSkipped = false;

  constructor(deps: RequestAuthenticatorDependencies) {
    this.#deps = deps;
  }

  /**
   * Checks a bearer access token: signature and claims, not revoked, account active.
   * @throws {AuthenticationError} with the reason counted in `auth_token_validations_total`.
   */
  async authenticate(accessToken: string, caller: Caller): Promise<TokenClaims> {
    const { metrics } = this.#deps;
    let claims: TokenClaims;
    try {
      claims = await this.#deps.tokens.verify(accessToken, 'access');
    } catch (error) {
      if (!(error instanceof TokenVerificationError)) throw error;
      metrics.authTokenValidation(error.reason);
      throw new AuthenticationError(
        error.reason === 'expired'
          ? 'the access token has expired; get a new one from POST /api/v1/auth/refresh'
          : 'the access token is not valid; sign in again',
        'invalid_token',
      );
    }
    const { revoked, active } = await this.#accountState(claims, caller);
    if (revoked) {
      metrics.authTokenValidation('revoked');
      throw new AuthenticationError('the access token was revoked by sign-out; sign in again', 'invalid_token');
    }
    if (!active) {
      metrics.authTokenValidation('revoked');
      throw new AuthenticationError('the account of this token is deactivated or gone; sign in again', 'invalid_token');
    }
    metrics.authTokenValidation('valid');
    return claims;
  }

  /** Whether sign-out revoked the token and whether its account is active: cached when `accounts` is given. */
  async #accountState(claims: TokenClaims, caller: Caller): Promise<{ revoked: boolean; active: boolean }> {
    const { accounts, db, metrics } = this.#deps;
    if (accounts === undefined) {
      const revoked = await this.#isRevoked(claims.jti, caller);
      return { revoked, active: revoked ? false : await isUserActive(db, claims.userId) };
    }
    const started = performance.now();
    const key = `${REVOKED_ACCESS_KEY_PREFIX}${claims.jti}`;
    const { active, alongside } = await accounts.accountStatus(claims.userId, key, caller.log);
    const seconds = (performance.now() - started) / 1000;
    if (alongside === undefined) {
      // the account cache read the database; only the revocation check is skipped (see #isRevoked)
      this.#revocationSkipped(caller, new Error('redis did not answer the account status read'), seconds);
      return { revoked: false, active };
    }
    const revoked = alongside !== null;
    metrics.cacheOperation(REVOCATION_CACHE, revoked ? 'hit' : 'miss', seconds);
    this.#revocationChecked(caller);
    return { revoked, active };
  }

  #revocationChecked(caller: Caller): void {
    if (!this.#revocationCheckSkipped) return;
    this.#revocationCheckSkipped = false;
    caller.log.info('access-token revocation checks work again');
  }

  #revocationSkipped(caller: Caller, error: unknown, seconds: number): void {
    this.#deps.metrics.cacheOperation(REVOCATION_CACHE, 'error', seconds);
    if (this.#revocationCheckSkipped) return;
    this.#revocationCheckSkipped = true;
    caller.log.warn({ err: error }, 'Redis unreachable: accepting access tokens without the revocation check');
  }

  /**
   * Whether sign-out revoked this token. While Redis is unreachable the check is skipped and the token accepted:
   * availability over revocation, for at most the access token's 15 minutes; each skip is counted.
   */
  async #isRevoked(jti: string, caller: Caller): Promise<boolean> {
    const { redis, metrics } = this.#deps;
    const started = performance.now();
    const seconds = (): number => (performance.now() - started) / 1000;
    try {
      if (redis.status !== 'ready') throw new Error(`redis is ${redis.status}`);
      const revoked = (await redis.exists(`${REVOKED_ACCESS_KEY_PREFIX}${jti}`)) === 1;
      metrics.cacheOperation(REVOCATION_CACHE, revoked ? 'hit' : 'miss', seconds());
      this.#revocationChecked(caller);
      return revoked;
    } catch (error) {
      this.#revocationSkipped(caller, error, seconds());
      return false;
    }
  }
}
