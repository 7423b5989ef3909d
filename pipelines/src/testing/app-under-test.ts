import { randomBytes } from 'node:crypto';

/**
 * The environment for a real erp-api process that a test drives (load smoke, monitoring live check):
 * production mode, quiet logs, no rate limit in the way of one client IP, quick shutdown, and throwaway
 * secrets, since the app refuses to start without them and the process lives only for the test.
 */
export function appUnderTestEnv(connections: { databaseUrl: string; redisUrl: string }): Record<string, string> {
  return {
    NODE_ENV: 'production',
    APP_ENV: 'dev',
    LOG_LEVEL: 'warn',
    DATABASE_URL: connections.databaseUrl,
    REDIS_URL: connections.redisUrl,
    RATE_LIMIT_PER_MINUTE: '1000000',
    JWT_SECRETS: randomBytes(48).toString('base64'),
    PASSWORD_PEPPER: randomBytes(32).toString('base64'),
    SHUTDOWN_DRAIN_MS: '0',
    SHUTDOWN_TIMEOUT_MS: '2000',
  };
}
