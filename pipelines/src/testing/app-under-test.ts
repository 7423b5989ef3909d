import { randomBytes } from 'node:crypto';

import pg from 'pg';

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

/**
 * Grants the role `admin` to the account with this email, straight in the app's database: a self-registered account
 * is only a `customer`, and seeding products needs `products:create`. Idempotent.
 * @throws {Error} naming the email when no such account exists (register it first).
 */
export async function grantAdmin(databaseUrl: string, email: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(
      `INSERT INTO user_roles (user_id, role_id)
       SELECT u.id, r.id FROM users u, roles r WHERE lower(u.email) = lower($1) AND r.name = 'admin'
       ON CONFLICT DO NOTHING`,
      [email],
    );
    const granted = await client.query(
      `SELECT 1 FROM user_roles ur JOIN users u ON u.id = ur.user_id JOIN roles r ON r.id = ur.role_id
       WHERE lower(u.email) = lower($1) AND r.name = 'admin'`,
      [email],
    );
    if (granted.rowCount !== 1) {
      throw new Error(
        `could not grant admin to ${email}: no account with that email (or no role admin) in the database; register the account first`,
      );
    }
  } finally {
    await client.end();
  }
}
