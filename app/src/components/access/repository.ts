import type { Queryable } from '../../db/pool.js';
import { pageWindow } from '../../http/pagination.js';
import type { PageRequest, SortKey } from '../../http/pagination.js';
import { findUserProfile } from '../auth/repository.js';
import type { UserProfile } from '../auth/repository.js';
import type { Page } from '../../http/pagination.js';
import { userSort } from './schemas.js';
import type { UserSortField } from './schemas.js';

export type { UserProfile } from '../auth/repository.js';

export interface UserSummary {
  readonly id: string;
  readonly email: string;
  readonly username: string;
  readonly isActive: boolean;
  readonly roles: readonly string[];
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface UserFilter {
  /** Case-insensitive substring of the email; `%`, `_` and `\` match themselves. */
  readonly emailContains?: string | undefined;
  /** Only users holding this role. */
  readonly role?: string | undefined;
  readonly isActive?: boolean | undefined;
}

export interface UserListQuery extends PageRequest {
  readonly sort: readonly SortKey<UserSortField>[];
  readonly filter: UserFilter;
}

export interface Role {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly permissions: readonly string[];
}

/** The user's roles and permissions in one query; an unknown user has none. */
export async function findUserGrants(
  q: Queryable,
  userId: string,
): Promise<{ readonly roles: readonly string[]; readonly permissions: readonly string[] }> {
  const profile = await findUserProfile(q, userId);
  return { roles: profile?.roles ?? [], permissions: profile?.permissions ?? [] };
}

/** The user with roles and permissions, or undefined. */
export function findUserDetail(q: Queryable, userId: string): Promise<UserProfile | undefined> {
  return findUserProfile(q, userId);
}

function escapeLikePattern(text: string): string {
  return text.replace(/[\\%_]/g, '\\$&');
}

interface ListedUserRow {
  total: number;
  id: string | null;
  email: string;
  username: string;
  is_active: boolean;
  roles: string[];
  created_at: Date;
  updated_at: Date;
}

/** One page of users with their role names, plus the total: one statement, filters as parameters. */
export async function listUsers(q: Queryable, query: UserListQuery): Promise<Page<UserSummary>> {
  const { limit, offset } = pageWindow(query);
  const orderBy = userSort.orderBy(query.sort);
  const { emailContains, role, isActive } = query.filter;
  const { rows } = await q.query<ListedUserRow>(
    'users.list',
    `WITH filtered AS (
       SELECT id, email, username, is_active, created_at, updated_at FROM users u
        WHERE ($1::text IS NULL OR u.email ILIKE '%' || $1::text || '%' ESCAPE '\\')
          AND ($2::text IS NULL OR EXISTS (
                SELECT FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = u.id AND r.name = $2))
          AND ($3::boolean IS NULL OR u.is_active = $3::boolean)
     )
     SELECT total.n AS total, u.*,
            COALESCE((SELECT array_agg(r.name ORDER BY r.name)
                        FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = u.id), '{}') AS roles
       FROM (SELECT count(*)::integer AS n FROM filtered) total
       LEFT JOIN LATERAL (SELECT * FROM filtered u ${orderBy} LIMIT $4 OFFSET $5) u ON true
     ${orderBy}`,
    [
      emailContains === undefined ? null : escapeLikePattern(emailContains),
      role ?? null,
      isActive ?? null,
      limit,
      offset,
    ],
  );
  return {
    items: rows
      .filter((row): row is ListedUserRow & { id: string } => row.id !== null)
      .map((row) => ({
        id: row.id,
        email: row.email,
        username: row.username,
        isActive: row.is_active,
        roles: row.roles,
        createdAt: row.created_at,
        updatedAt: row.updated_at,
      })),
    page: query.page,
    limit: query.limit,
    total: rows[0]?.total ?? 0,
  };
}

/** The id of the account with this email (case-insensitive), or undefined. */
export async function findUserIdByEmail(q: Queryable, email: string): Promise<string | undefined> {
  const { rows } = await q.query<{ id: string }>(
    'users.findIdByEmail',
    'SELECT id FROM users WHERE lower(email) = lower($1)',
    [email],
  );
  return rows[0]?.id;
}

/** @returns false when no user has that id. */
export async function setUserActive(q: Queryable, userId: string, isActive: boolean): Promise<boolean> {
  const { rowCount } = await q.query('users.setActive', 'UPDATE users SET is_active = $2 WHERE id = $1', [
    userId,
    isActive,
  ]);
  return rowCount === 1;
}

/** Locks the user row until the transaction ends, so concurrent role changes of one user run one after another. */
export async function lockUser(q: Queryable, userId: string): Promise<{ readonly isActive: boolean } | undefined> {
  const { rows } = await q.query<{ is_active: boolean }>(
    'users.lockForUpdate',
    'SELECT is_active FROM users WHERE id = $1 FOR UPDATE',
    [userId],
  );
  return rows[0] === undefined ? undefined : { isActive: rows[0].is_active };
}

/** Clears a user's sign-in lock and failure count; returns the lock state before, or undefined for no such user. */
export async function clearUserLock(
  q: Queryable,
  userId: string,
): Promise<{ readonly failedLoginCount: number; readonly lockedUntil: Date | null } | undefined> {
  const { rows } = await q.query<{ failed_login_count: number; locked_until: Date | null }>(
    'users.clearLock',
    `UPDATE users u SET failed_login_count = 0, locked_until = NULL
       FROM (SELECT id, failed_login_count, locked_until FROM users WHERE id = $1 FOR UPDATE) before
      WHERE u.id = before.id
      RETURNING before.failed_login_count, before.locked_until`,
    [userId],
  );
  const row = rows[0];
  return row === undefined ? undefined : { failedLoginCount: row.failed_login_count, lockedUntil: row.locked_until };
}

/** Locks the role row until the transaction ends: changes to one role, or to who holds it, serialise on it. */
export async function lockRole(q: Queryable, roleName: string): Promise<{ readonly id: string } | undefined> {
  const { rows } = await q.query<{ id: string }>(
    'roles.lockForUpdate',
    'SELECT id::text AS id FROM roles WHERE name = $1 FOR UPDATE',
    [roleName],
  );
  return rows[0];
}

/** @returns false when the user already held the role. */
export async function insertUserRole(q: Queryable, userId: string, roleId: string): Promise<boolean> {
  const { rowCount } = await q.query(
    'userRoles.grant',
    'INSERT INTO user_roles (user_id, role_id) VALUES ($1, $2::bigint) ON CONFLICT DO NOTHING',
    [userId, roleId],
  );
  return rowCount === 1;
}

/** @returns false when the user did not hold the role. */
export async function deleteUserRole(q: Queryable, userId: string, roleId: string): Promise<boolean> {
  const { rowCount } = await q.query(
    'userRoles.revoke',
    'DELETE FROM user_roles WHERE user_id = $1 AND role_id = $2::bigint',
    [userId, roleId],
  );
  return rowCount === 1;
}

/** Active users holding the role, e.g. to refuse removing the last administrator. */
export async function countActiveHolders(q: Queryable, roleId: string): Promise<number> {
  const { rows } = await q.query<{ n: number }>(
    'userRoles.countActiveHolders',
    `SELECT count(*)::integer AS n FROM user_roles ur JOIN users u ON u.id = ur.user_id
      WHERE ur.role_id = $1::bigint AND u.is_active`,
    [roleId],
  );
  return rows[0]?.n ?? 0;
}

/** Everyone holding the role: whose cached permissions a change to it affects. */
export async function roleHolderIds(q: Queryable, roleId: string): Promise<string[]> {
  const { rows } = await q.query<{ user_id: string }>(
    'userRoles.holders',
    'SELECT user_id FROM user_roles WHERE role_id = $1::bigint',
    [roleId],
  );
  return rows.map((row) => row.user_id);
}

interface RoleRow {
  id: string;
  name: string;
  description: string;
  permissions: string[];
}

const ROLE_SELECT = `SELECT r.id::text AS id, r.name, r.description,
            COALESCE(array_agg(p.name ORDER BY p.name) FILTER (WHERE p.name IS NOT NULL), '{}') AS permissions
       FROM roles r
       LEFT JOIN role_permissions rp ON rp.role_id = r.id
       LEFT JOIN permissions p ON p.id = rp.permission_id`;

function toRole(row: RoleRow): Role {
  return { id: row.id, name: row.name, description: row.description, permissions: row.permissions };
}

/** Every role with its permission names, by name. */
export async function listRoles(q: Queryable): Promise<Role[]> {
  const { rows } = await q.query<RoleRow>('roles.list', `${ROLE_SELECT} GROUP BY r.id ORDER BY r.name`);
  return rows.map(toRole);
}

export async function findRole(q: Queryable, roleName: string): Promise<Role | undefined> {
  const { rows } = await q.query<RoleRow>('roles.get', `${ROLE_SELECT} WHERE r.name = $1 GROUP BY r.id`, [roleName]);
  return rows[0] === undefined ? undefined : toRole(rows[0]);
}

/** The names among `names` that no permission row has. */
export async function unknownPermissions(q: Queryable, names: readonly string[]): Promise<string[]> {
  const { rows } = await q.query<{ name: string }>(
    'permissions.findUnknown',
    'SELECT name FROM unnest($1::text[]) AS wanted(name) WHERE NOT EXISTS (SELECT FROM permissions p WHERE p.name = wanted.name)',
    [names],
  );
  return rows.map((row) => row.name);
}

/** Makes `names` the role's whole permission set: removes the others, adds the missing ones. */
export async function replaceRolePermissions(q: Queryable, roleId: string, names: readonly string[]): Promise<void> {
  await q.query(
    'rolePermissions.removeOthers',
    `DELETE FROM role_permissions rp USING permissions p
      WHERE rp.role_id = $1::bigint AND p.id = rp.permission_id AND NOT (p.name = ANY($2::text[]))`,
    [roleId, names],
  );
  await q.query(
    'rolePermissions.addMissing',
    `INSERT INTO role_permissions (role_id, permission_id)
     SELECT $1::bigint, p.id FROM permissions p WHERE p.name = ANY($2::text[])
     ON CONFLICT DO NOTHING`,
    [roleId, names],
  );
}
