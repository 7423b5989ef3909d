/**
 * The audit event types the service records, as dotted `area.subject.verb` names. Listing filters and
 * dashboards match on these strings, so renaming one is a breaking change.
 */
export const AUDIT_EVENT = {
  loginSucceeded: 'auth.login.succeeded',
  loginFailed: 'auth.login.failed',
  accountLocked: 'auth.account.locked',
  addressLocked: 'auth.account.address_locked',
  accountUnlocked: 'auth.account.unlocked',
  logout: 'auth.logout',
  refreshReused: 'auth.refresh_reused',
  roleGranted: 'access.role.granted',
  roleRevoked: 'access.role.revoked',
  rolePermissionsChanged: 'access.role_permissions.changed',
  usersRead: 'users.read',
  auditRead: 'audit.read',
} as const;

export type KnownAuditEventType = (typeof AUDIT_EVENT)[keyof typeof AUDIT_EVENT];

/** A JSON value as the `before`, `after` and `metadata` columns (jsonb) store it. */
export type AuditJson = string | number | boolean | null | readonly AuditJson[] | { readonly [key: string]: AuditJson };

/** One thing that happened, as a component hands it to {@link AuditLog.record}. */
export interface AuditEvent {
  /** Dotted lower-case name, e.g. `auth.login.failed`; see {@link AUDIT_EVENT}. */
  readonly type: string;
  /** Who did it (a user id); absent for anonymous callers such as a failed sign-in. */
  readonly actorUserId?: string | undefined;
  /** What it was done to, e.g. `user` / `role` and its id. */
  readonly resourceType?: string | undefined;
  readonly resourceId?: string | undefined;
  /** The client address; a value that is not an IP address is kept in metadata as `ip_raw` instead. */
  readonly ip?: string | undefined;
  readonly userAgent?: string | undefined;
  /** State before and after a change (e.g. a user's roles); omit for events that change nothing. */
  readonly before?: AuditJson | undefined;
  readonly after?: AuditJson | undefined;
  /** Anything else worth keeping, e.g. `{ login: 'ada@example.com', reason: 'wrong_password' }`. */
  readonly metadata?: Readonly<Record<string, AuditJson>> | undefined;
}

export const AUDIT_EVENT_TYPE_MAX_LENGTH = 100;
/** Two or more dotted lower-case segments, at most 100 characters in all: the listing filter and the document share it. */
export const AUDIT_EVENT_TYPE_PATTERN = new RegExp(
  `^(?=.{1,${AUDIT_EVENT_TYPE_MAX_LENGTH}}$)[a-z][a-z0-9_]*(?:\\.[a-z][a-z0-9_]*)+$`,
);

/** Whether `type` is an event type: two or more dotted lower-case segments, at most 100 characters in all. */
export function isAuditEventType(type: string): boolean {
  return AUDIT_EVENT_TYPE_PATTERN.test(type);
}
