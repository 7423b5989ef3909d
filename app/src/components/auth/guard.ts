import type { Request, RequestHandler } from 'express';

import { setRequestUser, requestContext } from '../../http/request-context.js';
import type { Logger } from '../../logger.js';
import { AuthenticationError } from './authenticator.js';
import type { Caller, RequestAuthenticator } from './authenticator.js';
import type { TokenClaims } from './tokens.js';

export const BEARER_REALM = 'erp-api';
const BEARER = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/;

const verified = new WeakMap<Request, TokenClaims>();

/** The caller of `req` as the domain sees it: IP, user agent and the request's logger. */
export function callerOf(req: Request, fallback: Logger): Caller {
  return {
    ip: req.ip ?? req.socket.remoteAddress ?? 'unknown',
    userAgent: req.get('User-Agent'),
    log: requestContext(req)?.log ?? fallback,
  };
}

/**
 * The verified token of a request that passed {@link authenticate}.
 * @throws {Error} if the guard did not run for `req` (mount it before the handler).
 */
export function authenticatedClaims(req: Request): TokenClaims {
  const claims = verified.get(req);
  if (claims === undefined) {
    throw new Error('authenticatedClaims(req) called on a request the authenticate guard did not pass; mount it first');
  }
  return claims;
}

/** The RFC 6750 challenge: just the realm when no token came, with the error code when one was refused. */
function challenge(error?: AuthenticationError): string {
  const base = `Bearer realm="${BEARER_REALM}"`;
  return error === undefined ? base : `${base}, error="${error.challenge}"`;
}

/**
 * Lets a request through only with a valid, unrevoked access token of an active account (`Authorization:
 * Bearer <token>`); records the user on the request context. Otherwise 401 with `WWW-Authenticate: Bearer`.
 */
export function authenticate(authenticator: RequestAuthenticator, logger: Logger): RequestHandler {
  return async (req, res, next) => {
    const header = req.get('Authorization');
    if (header === undefined) {
      res.setHeader('WWW-Authenticate', challenge());
      next(
        new AuthenticationError(
          'this endpoint needs a bearer access token in the Authorization header; sign in first',
          'invalid_request',
        ),
      );
      return;
    }
    const bearer = BEARER.exec(header)?.[1];
    if (bearer === undefined) {
      const error = new AuthenticationError(
        'the Authorization header must be "Bearer <access token>"',
        'invalid_request',
      );
      res.setHeader('WWW-Authenticate', challenge(error));
      next(error);
      return;
    }
    try {
      const claims = await authenticator.authenticate(bearer, callerOf(req, logger));
      verified.set(req, claims);
      setRequestUser(req, claims.userId);
    } catch (error) {
      if (error instanceof AuthenticationError) res.setHeader('WWW-Authenticate', challenge(error));
      next(error);
      return;
    }
    next();
  };
}
