import { createHash, randomUUID, webcrypto } from 'node:crypto';

import { SignJWT, errors as joseErrors, jwtVerify } from 'jose';

export const ACCESS_TOKEN_TTL_SECONDS = 15 * 60;
export const REFRESH_TOKEN_TTL_SECONDS = 7 * 24 * 60 * 60;
const ALGORITHM = 'HS256';

export type TokenType = 'access' | 'refresh';

/** What a verified token says: whose it is, which sign-in (family) it belongs to, and when it ends. */
export interface TokenClaims {
  readonly type: TokenType;
  readonly userId: string;
  /** The sign-in this token belongs to: the refresh-token family. */
  readonly sessionId: string;
  readonly jti: string;
  readonly expiresAt: Date;
}

export interface IssuedToken {
  readonly token: string;
  readonly jti: string;
  readonly expiresAt: Date;
}

/** Why a token was refused, as the metric and the WWW-Authenticate header name it. */
export type TokenFailure = 'invalid' | 'expired';

export class TokenVerificationError extends Error {
  override readonly name = 'TokenVerificationError';

  constructor(
    readonly reason: TokenFailure,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * The `kid` of a secret: a truncated SHA-256 under a label of its own, stable across restarts and replicas,
 * and useless for recovering the secret.
 */
export function keyId(secret: string): string {
  return createHash('sha256').update('erp-api jwt kid\0').update(secret).digest('base64url').slice(0, 16);
}

export interface TokenSettings {
  /** Newest first: the first signs, every one verifies. */
  readonly secrets: readonly string[];
  readonly issuer: string;
  readonly audience: string;
}

/** HS256 JWTs with a kid header: signs with the newest secret, verifies with whichever one the kid names. */
export class TokenService {
  readonly #signingKid: string;
  // Imported once: handing jose raw bytes would import the key again on every sign and verify (a tenth of a request).
  readonly #keys: ReadonlyMap<string, Promise<webcrypto.CryptoKey>>;
  readonly #issuer: string;
  readonly #audience: string;

  constructor(settings: TokenSettings) {
    const [newest] = settings.secrets;
    if (newest === undefined) throw new TypeError('TokenService needs at least one secret');
    const encoder = new TextEncoder();
    this.#keys = new Map(
      settings.secrets.map((secret) => [
        keyId(secret),
        webcrypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, [
          'sign',
          'verify',
        ]),
      ]),
    );
    this.#signingKid = keyId(newest);
    this.#issuer = settings.issuer;
    this.#audience = settings.audience;
  }

  async issue(type: TokenType, userId: string, sessionId: string, jti: string = randomUUID()): Promise<IssuedToken> {
    const ttl = type === 'access' ? ACCESS_TOKEN_TTL_SECONDS : REFRESH_TOKEN_TTL_SECONDS;
    const issuedAt = Math.floor(Date.now() / 1000);
    const expiresAt = new Date((issuedAt + ttl) * 1000);
    const signingKey = this.#keys.get(this.#signingKid);
    if (signingKey === undefined) throw new TypeError('TokenService lost its signing key');
    const key = await signingKey;
    return new SignJWT({ type, sid: sessionId })
      .setProtectedHeader({ alg: ALGORITHM, kid: this.#signingKid, typ: 'JWT' })
      .setSubject(userId)
      .setIssuer(this.#issuer)
      .setAudience(this.#audience)
      .setJti(jti)
      .setIssuedAt(issuedAt)
      .setExpirationTime(issuedAt + ttl)
      .sign(key)
      .then((token) => ({ token, jti, expiresAt }));
  }

  /**
   * Verifies signature (by kid), issuer, audience, expiry and type.
   * @throws {TokenVerificationError} `expired`, or `invalid` for everything else (unknown kid, bad signature…).
   */
  async verify(token: string, type: TokenType): Promise<TokenClaims> {
    let payload;
    try {
      ({ payload } = await jwtVerify(
        token,
        (header) => {
          const key = header.kid === undefined ? undefined : this.#keys.get(header.kid);
          if (key === undefined) throw new TokenVerificationError('invalid', 'token names no key this service holds');
          return key;
        },
        {
          algorithms: [ALGORITHM],
          issuer: this.#issuer,
          audience: this.#audience,
          requiredClaims: ['sub', 'jti', 'exp', 'iat'],
        },
      ));
    } catch (error) {
      if (error instanceof TokenVerificationError) throw error;
      if (error instanceof joseErrors.JWTExpired) {
        throw new TokenVerificationError('expired', 'token has expired', { cause: error });
      }
      throw new TokenVerificationError('invalid', 'token is not valid', { cause: error });
    }
    const { sub, jti, exp, sid } = payload;
    if (payload.type !== type || typeof sid !== 'string' || sub === undefined || jti === undefined) {
      throw new TokenVerificationError(
        'invalid',
        `token is not ${type === 'access' ? 'an access' : 'a refresh'} token`,
      );
    }
    return { type, userId: sub, sessionId: sid, jti, expiresAt: new Date((exp ?? 0) * 1000) };
  }
}
