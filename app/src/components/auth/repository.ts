import type { Queryable } from '../../db/pool.js';

/** A user as clients see it: never the password hash or the lock counters. */
export interface UserView {
  readonly id: string;
  readonly email: string;
  readonly username: string;
  readonly isActive: boolean;
  readonly createdAt: Date;
}

export interface UserProfile extends UserView {
  readonly roles: readonly string[];
  readonly permissions: readonly string[];
}

/** What sign-in needs to decide: the hash and the lock state. */
export interface LoginCandidate {
  readonly id: string;
  readonly email: string;
  readonly username: string;
  readonly passwordHash: string;
  readonly isActive: boolean;
  readonly failedLoginCount: number;
  readonly lockedUntil: Date | null;
}

interface UserRow {
  id: string;
  email: string;
  username: string;
  is_active: boolean;
  created_at: Date;
}

const USER_COLUMNS = 'id, email, username, is_active, created_at';

function toUserView(row: UserRow): UserView {
  return {
    id: row.id,
    email: row.email,
    username: row.username,
    isActive: row.is_active,
    createdAt: row.created_at,
  };
}

export async function insertUser(
  q: Queryable,
  user: { readonly email: string; readonly username: string; readonly passwordHash: string },
): Promise<UserView> {
  const { rows } = await q.query<UserRow>(
    'users.insert',
    `INSERT INTO users (email, username, password_hash) VALUES ($1, $2, $3) RETURNING ${USER_COLUMNS}`,
    [user.email, user.username, user.passwordHash],
  );
  const [row] = rows;
  if (row === undefined) throw new Error('INSERT … RETURNING gave no row');
  return toUserView(row);
}

/** @returns false when no role has that name (the seed migration is missing). */
export async function grantRole(q: Queryable, userId: string, roleName: string): Promise<boolean> {
  const { rowCount } = await q.query(
    'userRoles.grantByName',
    'INSERT INTO user_roles (user_id, role_id) SELECT $1, id FROM roles WHERE name = $2',
    [userId, roleName],
  );
  return rowCount === 1;
}

/** By email or username, both case-insensitive (the unique indexes are on lower()). */
export async function findLoginCandidate(
  q: Queryable,
  login: { readonly email: string } | { readonly username: string },
): Promise<LoginCandidate | undefined> {
  const byEmail = 'email' in login;
  const { rows } = await q.query<{
    id: string;
    email: string;
    username: string;
    password_hash: string;
    is_active: boolean;
    failed_login_count: number;
    locked_until: Date | null;
  }>(
    byEmail ? 'users.findForLoginByEmail' : 'users.findForLoginByUsername',
    `SELECT id, email, username, password_hash, is_active, failed_login_count, locked_until
       FROM users WHERE ${byEmail ? 'lower(email) = lower($1)' : 'lower(username) = lower($1)'}`,
    [byEmail ? login.email : login.username],
  );
  const [row] = rows;
  if (row === undefined) return undefined;
  return {
    id: row.id,
    email: row.email,
    username: row.username,
    passwordHash: row.password_hash,
    isActive: row.is_active,
    failedLoginCount: row.failed_login_count,
    lockedUntil: row.locked_until,
  };
}

export interface FailureOutcome {
  readonly failedLoginCount: number;
  /** Set when this failure locked the account. */
  readonly lockedUntil: Date | null;
}

/**
 * Counts one wrong password in one statement, so concurrent failures on several replicas each count; the count
 * that reaches `maxFailures` sets the lock. A lock that has run out starts a fresh count.
 * @returns undefined when the account is already locked (by a concurrent attempt).
 */
export async function recordLoginFailure(
  q: Queryable,
  userId: string,
  policy: { readonly maxFailures: number; readonly lockSeconds: number },
): Promise<FailureOutcome | undefined> {
  const { rows } = await q.query<{ failed_login_count: number; locked_until: Date | null }>(
    'users.recordLoginFailure',
    `UPDATE users
        SET failed_login_count = CASE WHEN locked_until <= now() THEN 1 ELSE failed_login_count + 1 END,
            locked_until = CASE
              WHEN (CASE WHEN locked_until <= now() THEN 1 ELSE failed_login_count + 1 END) >= $2
              THEN now() + make_interval(secs => $3)
            END
      WHERE id = $1 AND (locked_until IS NULL OR locked_until <= now())
      RETURNING failed_login_count, locked_until`,
    [userId, policy.maxFailures, policy.lockSeconds],
  );
  const [row] = rows;
  return row === undefined ? undefined : { failedLoginCount: row.failed_login_count, lockedUntil: row.locked_until };
}

/** After a correct password: the failure count starts again from zero. */
export async function clearLoginFailures(q: Queryable, userId: string): Promise<void> {
  await q.query(
    'users.clearLoginFailures',
    `UPDATE users SET failed_login_count = 0, locked_until = NULL
      WHERE id = $1 AND (failed_login_count <> 0 OR locked_until IS NOT NULL)`,
    [userId],
  );
}

export async function queueEmail(
  q: Queryable,
  email: {
    readonly userId: string;
    readonly recipient: string;
    readonly template: string;
    readonly payload: Readonly<Record<string, unknown>>;
  },
): Promise<void> {
  await q.query(
    'emailOutbox.queue',
    'INSERT INTO email_outbox (user_id, recipient, template, payload) VALUES ($1, $2, $3, $4)',
    [email.userId, email.recipient, email.template, JSON.stringify(email.payload)],
  );
}

/** Whether the user exists and may act: the guard's check on every authenticated request. */
export async function isUserActive(q: Queryable, userId: string): Promise<boolean> {
  const { rows } = await q.query<{ is_active: boolean }>(
    'users.isActive',
    'SELECT is_active FROM users WHERE id = $1',
    [userId],
  );
  return rows[0]?.is_active === true;
}

/** The user with every role and every permission those roles grant, in one query. */
export async function findUserProfile(q: Queryable, userId: string): Promise<UserProfile | undefined> {
  const { rows } = await q.query<UserRow & { roles: string[]; permissions: string[] }>(
    'users.findProfile',
    `SELECT u.id, u.email, u.username, u.is_active, u.created_at,
            COALESCE(array_agg(DISTINCT r.name ORDER BY r.name) FILTER (WHERE r.name IS NOT NULL), '{}') AS roles,
            COALESCE(array_agg(DISTINCT p.name ORDER BY p.name) FILTER (WHERE p.name IS NOT NULL), '{}') AS permissions
       FROM users u
       LEFT JOIN user_roles ur ON ur.user_id = u.id
       LEFT JOIN roles r ON r.id = ur.role_id
       LEFT JOIN role_permissions rp ON rp.role_id = r.id
       LEFT JOIN permissions p ON p.id = rp.permission_id
      WHERE u.id = $1
      GROUP BY u.id`,
    [userId],
  );
  const [row] = rows;
  if (row === undefined) return undefined;
  return { ...toUserView(row), roles: row.roles, permissions: row.permissions };
}

export async function insertRefreshToken(
  q: Queryable,
  token: { readonly id: string; readonly userId: string; readonly familyId: string; readonly expiresAt: Date },
): Promise<void> {
  await q.query(
    'refreshTokens.insert',
    'INSERT INTO refresh_tokens (id, user_id, family_id, expires_at) VALUES ($1, $2, $3, $4)',
    [token.id, token.userId, token.familyId, token.expiresAt],
  );
}

export type SpendOutcome = 'spent' | 'reused' | 'unknown';

/**
 * Spends a refresh token: only an unrevoked, unexpired token of this user and family is spent, exactly once
 * even when two replicas race. One already spent or revoked is `reused`.
 */
export async function spendRefreshToken(
  q: Queryable,
  token: { readonly id: string; readonly userId: string; readonly familyId: string },
): Promise<SpendOutcome> {
  const { rows } = await q.query<{ spent: boolean; known: boolean }>(
    'refreshTokens.spend',
    `WITH spent AS (
       UPDATE refresh_tokens SET revoked_at = now()
        WHERE id = $1 AND user_id = $2 AND family_id = $3 AND revoked_at IS NULL AND expires_at > now()
       RETURNING id
     )
     -- The second EXISTS sees the table as it was before this statement's UPDATE.
     SELECT EXISTS (SELECT FROM spent) AS spent,
            EXISTS (SELECT FROM refresh_tokens WHERE id = $1 AND revoked_at IS NOT NULL) AS known`,
    [token.id, token.userId, token.familyId],
  );
  const [row] = rows;
  if (row?.spent === true) return 'spent';
  return row?.known === true ? 'reused' : 'unknown';
}

/** Revokes every live token of one sign-in: logout, or reuse of a spent token. */
export async function revokeRefreshFamily(q: Queryable, familyId: string): Promise<number> {
  const { rowCount } = await q.query(
    'refreshTokens.revokeFamily',
    'UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL',
    [familyId],
  );
  return rowCount ?? 0;
}
