import type { Database, Queryable } from '../../db/pool.js';
import { withTransaction } from '../../db/transaction.js';
import { ConflictError, NotFoundError, ValidationError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { AuditEvent } from '../audit/events.js';
import type { Page } from '../../http/pagination.js';
import type { PermissionCache } from './cache.js';
import { ADMIN_ROLE } from './permissions.js';
import type { Permission } from './permissions.js';
import {
  clearUserLock,
  countActiveHolders,
  deleteUserRole,
  findRole,
  findUserDetail,
  insertUserRole,
  listRoles,
  listUsers,
  lockRole,
  lockUser,
  replaceRolePermissions,
  roleHolderIds,
  setUserActive,
  unknownPermissions,
} from './repository.js';
import type { Role, UserListQuery, UserProfile, UserSummary } from './repository.js';

export type { Role, UserFilter, UserListQuery, UserProfile, UserSummary } from './repository.js';

/** Event types this component records; the audit component lists them in its `AUDIT_EVENT`. */
export const ACCESS_AUDIT_EVENTS = {
  roleGranted: 'access.role.granted',
  roleRevoked: 'access.role.revoked',
  rolePermissionsChanged: 'access.role_permissions.changed',
  userActivated: 'access.user.activated',
  userDeactivated: 'access.user.deactivated',
  accountUnlocked: 'auth.account.unlocked',
  usersRead: 'users.read',
} as const;

/** What an unlock needs from sign-in protection: forgetting every address's failures against one account. */
export interface LoginLockReleaser {
  /** @returns how many addresses had failures recorded against the account. */
  forgetAccount(userId: string): Promise<number>;
}

/** What an administrator's unlock found and cleared. */
export interface UnlockOutcome {
  readonly userId: string;
  /** The account-wide lock it lifted, or null when there was none (or it had run out). */
  readonly lockedUntil: Date | null;
  readonly failedLoginCount: number;
  /** Addresses whose failures against the account were forgotten; null when Redis could not be reached. */
  readonly addressesCleared: number | null;
}

/** What this component needs from the audit log: a write that joins the caller's transaction. */
export interface AccessAuditLog {
  record(q: Queryable, event: AuditEvent): Promise<void>;
}

/** Who asks for a change, as the audit log records it; the HTTP layer builds it from the request. */
export interface Actor {
  /** Absent for an operator at the command line (the admin CLI), who has no account of their own. */
  readonly userId?: string | undefined;
  /** Where the change came from when not the API, e.g. `admin-cli`; kept in the audit metadata. */
  readonly source?: string | undefined;
  readonly ip?: string | undefined;
  readonly userAgent?: string | undefined;
  readonly log: Logger;
}

/** What a change needs from the permission cache: forgetting the users it affects (see PermissionCache). */
export type PermissionInvalidator = Pick<PermissionCache, 'invalidateUsers'>;

export interface AccessServiceDependencies {
  readonly db: Database;
  readonly cache: PermissionInvalidator;
  readonly audit?: AccessAuditLog | undefined;
  /** Sign-in protection's per-address failures; without it an unlock clears only the account-wide lock. */
  readonly loginLocks?: LoginLockReleaser | undefined;
}

/** A grant's result: the user afterwards, and whether the call changed anything (false: they had the role). */
export interface RoleGrantOutcome {
  readonly user: UserProfile;
  readonly granted: boolean;
}

function userNotFound(userId: string): NotFoundError {
  return new NotFoundError(`user ${userId} was not found; check the id`, { details: { userId } });
}

function roleNotFound(role: string): NotFoundError {
  return new NotFoundError(`role ${JSON.stringify(role)} does not exist; GET /api/v1/roles lists the roles`, {
    details: { role },
  });
}

/**
 * Locks the user and the role a grant or revocation changes, in that order, and reads the user as it was.
 * @throws {NotFoundError} naming the user or the role that does not exist
 */
async function lockGrant(tx: Queryable, userId: string, role: string) {
  if ((await lockUser(tx, userId)) === undefined) throw userNotFound(userId);
  const before = await findUserDetail(tx, userId);
  if (before === undefined) throw userNotFound(userId);
  const locked = await lockRole(tx, role);
  if (locked === undefined) throw roleNotFound(role);
  return { before, locked };
}

/**
 * User and role administration. Every change runs in one transaction that also writes its audit event, and
 * after the commit drops the cached permissions of every user it affects, so the change applies to their next
 * request. Granting a role a user already has, or revoking one they do not hold, changes nothing and records
 * nothing (the operations are idempotent).
 */
export class AccessService {
  readonly #db: Database;
  readonly #cache: PermissionInvalidator;
  readonly #audit: AccessAuditLog | undefined;

  readonly #loginLocks: LoginLockReleaser | undefined;

  constructor({ db, cache, audit, loginLocks }: AccessServiceDependencies) {
    this.#loginLocks = loginLocks;
    this.#db = db;
    this.#cache = cache;
    this.#audit = audit;
  }

  listUsers(query: UserListQuery): Promise<Page<UserSummary>> {
    return listUsers(this.#db, query);
  }

  /** One user with roles and permissions; the read itself is audited (`users.read`). @throws {NotFoundError} */
  async getUser(userId: string, actor: Actor): Promise<UserProfile> {
    const user = await findUserDetail(this.#db, userId);
    if (user === undefined) throw userNotFound(userId);
    await this.#record(this.#db, actor, {
      type: ACCESS_AUDIT_EVENTS.usersRead,
      resourceType: 'user',
      resourceId: userId,
    });
    return user;
  }

  /**
   * Activates or deactivates an account; a deactivated account is refused by the authenticate guard on its next
   * request. @throws {NotFoundError} | {ConflictError} when it would deactivate the last active administrator.
   */
  async setActive(userId: string, isActive: boolean, actor: Actor): Promise<UserProfile> {
    const changed = await withTransaction(
      this.#db,
      async (tx) => {
        const before = await lockUser(tx, userId);
        if (before === undefined) throw userNotFound(userId);
        if (before.isActive === isActive) return false;
        if (!isActive) await this.#refuseLastAdministrator(tx, userId, 'deactivate');
        await setUserActive(tx, userId, isActive);
        await this.#record(tx, actor, {
          type: isActive ? ACCESS_AUDIT_EVENTS.userActivated : ACCESS_AUDIT_EVENTS.userDeactivated,
          resourceType: 'user',
          resourceId: userId,
          before: { is_active: before.isActive },
          after: { is_active: isActive },
        });
        return true;
      },
      { name: 'access.setUserActive' },
    );
    if (changed) await this.#cache.invalidateUsers([userId], actor.log);
    return this.#detail(userId);
  }

  /**
   * Lifts an account's sign-in locks: the account-wide one and every address's run of failures, audited as
   * `auth.account.unlocked` in the transaction that clears the lock. @throws {NotFoundError}
   */
  async unlockAccount(userId: string, actor: Actor): Promise<UnlockOutcome> {
    const before = await withTransaction(
      this.#db,
      async (tx) => {
        const cleared = await clearUserLock(tx, userId);
        if (cleared === undefined) throw userNotFound(userId);
        const lockedUntil =
          cleared.lockedUntil !== null && cleared.lockedUntil > new Date() ? cleared.lockedUntil : null;
        await this.#record(tx, actor, {
          type: ACCESS_AUDIT_EVENTS.accountUnlocked,
          resourceType: 'user',
          resourceId: userId,
          before: {
            locked_until: lockedUntil?.toISOString() ?? null,
            failed_login_count: cleared.failedLoginCount,
          },
          after: { locked_until: null, failed_login_count: 0 },
        });
        return { lockedUntil, failedLoginCount: cleared.failedLoginCount };
      },
      { name: 'access.unlockAccount' },
    );
    let addressesCleared: number | null = 0;
    if (this.#loginLocks !== undefined) {
      try {
        addressesCleared = await this.#loginLocks.forgetAccount(userId);
      } catch (error) {
        addressesCleared = null;
        actor.log.warn(
          { err: error, userId },
          'account unlocked, but the per-address sign-in failures could not be cleared in Redis; they run out within 15 minutes',
        );
      }
    }
    actor.log.info({ userId, ...before, addressesCleared }, 'account unlocked by an administrator');
    return { userId, ...before, addressesCleared };
  }

  listRoles(): Promise<Role[]> {
    return listRoles(this.#db);
  }

  /** Gives the user `role`; granting one they already hold changes nothing. @throws {NotFoundError} user or role */
  async grantRole(userId: string, role: string, actor: Actor): Promise<RoleGrantOutcome> {
    const granted = await withTransaction(
      this.#db,
      async (tx) => {
        const { before, locked } = await lockGrant(tx, userId, role);
        if (!(await insertUserRole(tx, userId, locked.id))) return false;
        await this.#record(tx, actor, {
          type: ACCESS_AUDIT_EVENTS.roleGranted,
          resourceType: 'user',
          resourceId: userId,
          before: { roles: [...before.roles] },
          after: { roles: [...before.roles, role].sort() },
          metadata: { role },
        });
        return true;
      },
      { name: 'access.grantRole' },
    );
    if (granted) await this.#cache.invalidateUsers([userId], actor.log);
    return { user: await this.#detail(userId), granted };
  }

  /**
   * Takes `role` from the user; revoking one they do not hold changes nothing.
   * @throws {NotFoundError} user or role | {ConflictError} when it would leave no active administrator.
   */
  async revokeRole(userId: string, role: string, actor: Actor): Promise<void> {
    const revoked = await withTransaction(
      this.#db,
      async (tx) => {
        const { before, locked } = await lockGrant(tx, userId, role);
        if (role === ADMIN_ROLE && before.isActive && before.roles.includes(ADMIN_ROLE)) {
          await this.#refuseLastAdministrator(tx, userId, 'revoke the admin role from');
        }
        if (!(await deleteUserRole(tx, userId, locked.id))) return false;
        await this.#record(tx, actor, {
          type: ACCESS_AUDIT_EVENTS.roleRevoked,
          resourceType: 'user',
          resourceId: userId,
          before: { roles: [...before.roles] },
          after: { roles: before.roles.filter((name) => name !== role) },
          metadata: { role },
        });
        return true;
      },
      { name: 'access.revokeRole' },
    );
    if (revoked) await this.#cache.invalidateUsers([userId], actor.log);
  }

  /**
   * Makes `permissions` the role's whole permission set, and applies it to every holder's next request.
   * @throws {NotFoundError} unknown role | {ConflictError} removing roles:manage from admin | {ValidationError}
   *   a permission the database does not have.
   */
  async setRolePermissions(role: string, permissions: readonly Permission[], actor: Actor): Promise<Role> {
    const { after, holders } = await withTransaction(
      this.#db,
      async (tx) => {
        const locked = await lockRole(tx, role);
        if (locked === undefined) throw roleNotFound(role);
        if (role === ADMIN_ROLE && !permissions.includes('roles:manage')) {
          throw new ConflictError(
            `the ${ADMIN_ROLE} role must keep roles:manage, or nobody could grant roles again; include it in permissions`,
            { details: { role, permission: 'roles:manage' } },
          );
        }
        const unknown = await unknownPermissions(tx, permissions);
        if (unknown.length > 0) {
          throw new ValidationError(
            `permissions ${unknown.join(', ')} do not exist in the database; run the migrations`,
            {
              'body.permissions': unknown.map((name) => `${name} does not exist`),
            },
          );
        }
        const before = await findRole(tx, role);
        await replaceRolePermissions(tx, locked.id, permissions);
        const changed = await findRole(tx, role);
        if (before === undefined || changed === undefined) throw roleNotFound(role);
        const same =
          before.permissions.length === changed.permissions.length &&
          before.permissions.every((name, index) => changed.permissions[index] === name);
        if (same) return { after: changed, holders: [] };
        await this.#record(tx, actor, {
          type: ACCESS_AUDIT_EVENTS.rolePermissionsChanged,
          resourceType: 'role',
          resourceId: role,
          before: { permissions: [...before.permissions] },
          after: { permissions: [...changed.permissions] },
        });
        return { after: changed, holders: await roleHolderIds(tx, locked.id) };
      },
      { name: 'access.setRolePermissions' },
    );
    await this.#cache.invalidateUsers(holders, actor.log);
    return after;
  }

  async #detail(userId: string): Promise<UserProfile> {
    const user = await findUserDetail(this.#db, userId);
    if (user === undefined) throw userNotFound(userId);
    return user;
  }

  /** Keeps at least one active administrator: the only one who could undo a lockout. */
  async #refuseLastAdministrator(tx: Queryable, userId: string, what: string): Promise<void> {
    const admin = await lockRole(tx, ADMIN_ROLE);
    const detail = await findUserDetail(tx, userId);
    if (admin === undefined || detail?.roles.includes(ADMIN_ROLE) !== true) return;
    if ((await countActiveHolders(tx, admin.id)) <= 1) {
      throw new ConflictError(
        `cannot ${what} user ${userId}: they are the last active administrator; grant admin to someone else first`,
        { details: { userId, role: ADMIN_ROLE } },
      );
    }
  }

  async #record(
    q: Queryable,
    actor: Actor,
    event: Omit<AuditEvent, 'actorUserId' | 'ip' | 'userAgent'>,
  ): Promise<void> {
    if (this.#audit === undefined) return;
    const metadata = actor.source === undefined ? event.metadata : { ...event.metadata, source: actor.source };
    await this.#audit.record(q, {
      ...event,
      actorUserId: actor.userId,
      ip: actor.ip,
      userAgent: actor.userAgent,
      ...(metadata === undefined ? {} : { metadata }),
    });
  }
}
