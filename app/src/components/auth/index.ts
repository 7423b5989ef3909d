import type { RequestHandler, Router } from 'express';
import type { Redis } from 'ioredis';

import type { Config } from '../../config.js';
import type { Database } from '../../db/pool.js';
import type { Logger } from '../../logger.js';
import type { Metrics } from '../../observability/metrics.js';
import { AuditLog } from '../audit/log.js';
import { authenticate } from './guard.js';
import { LoginAttemptLimiter } from './login-protection.js';
import { PasswordHasher } from './passwords.js';
import { authRouter } from './routes.js';
import { RequestAuthenticator } from './authenticator.js';
import type { AccountStatusReader } from './authenticator.js';
import { SessionService } from './service.js';
import { TokenService } from './tokens.js';

export { authenticatedClaims } from './guard.js';

export interface AuthComponent {
  /** Registration, sign-in, refresh, sign-out and the profile. */
  readonly sessions: SessionService;
  /** Mount at the root (its paths start with /api/v1/auth). */
  readonly router: Router;
  /** The guard for any route that needs a signed-in user; read the user with `requestContext(req).userId`. */
  readonly authenticate: RequestHandler;
  /** The sign-in limits, shared with the administrator's unlock. */
  readonly loginLimits: LoginAttemptLimiter;
}

export interface AuthComponentDependencies {
  readonly config: Pick<Config, 'jwtSecrets' | 'jwtIssuer' | 'jwtAudience' | 'passwordPepper'>;
  readonly db: Database;
  readonly redis: Redis;
  /** The same instance the app serves at /metrics. */
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Where security events go; the audit log is stateless, so one is made when none is given. */
  readonly audit?: AuditLog | undefined;
  /** The cached account status (access's PermissionCache); without it every request queries the database. */
  readonly accounts?: AccountStatusReader | undefined;
}

/** Wires the authentication component: passwords, tokens, login protection, the session flows, its routes and guard. */
export function createAuthComponent({
  config,
  db,
  redis,
  metrics,
  logger,
  audit = new AuditLog(),
  accounts,
}: AuthComponentDependencies): AuthComponent {
  const loginLimits = new LoginAttemptLimiter(redis);
  const tokens = new TokenService({
    secrets: config.jwtSecrets,
    issuer: config.jwtIssuer,
    audience: config.jwtAudience,
  });
  const sessions = new SessionService({
    db,
    redis,
    metrics,
    tokens,
    passwords: new PasswordHasher(config.passwordPepper),
    attempts: loginLimits,
    audit,
  });
  const guard = authenticate(new RequestAuthenticator({ db, redis, metrics, tokens, accounts }), logger);
  return { sessions, router: authRouter(sessions, guard, logger), authenticate: guard, loginLimits };
}
