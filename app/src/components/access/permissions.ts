/**
 * The permissions the seed migrations (0005, 0007) create, as `resource:action`. Routes ask for one of these by name, so
 * a typo is a compile error instead of a route nobody can reach.
 */
export const PERMISSIONS = [
  'users:read',
  'users:manage',
  'roles:manage',
  'products:read',
  'products:create',
  'products:update',
  'products:delete',
  'orders:create',
  'orders:read_own',
  'orders:read',
  'orders:update',
  'orders:cancel_own',
  'audit:read',
  'jobs:manage',
] as const;

export type Permission = (typeof PERMISSIONS)[number];

/** The role that may always manage roles: taking `roles:manage` away from it could lock every administrator out. */
export const ADMIN_ROLE = 'admin';

/** Whether `name` is one of {@link PERMISSIONS}. */
export function isPermission(name: string): name is Permission {
  return (PERMISSIONS as readonly string[]).includes(name);
}
