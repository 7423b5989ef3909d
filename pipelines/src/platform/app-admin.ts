import pg from 'pg';

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
