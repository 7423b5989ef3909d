import { z } from 'zod';

import { defineSort, listQuerySchema } from '../../http/pagination.js';
import { PERMISSIONS } from './permissions.js';

/** The same rule as the `roles_name_check` constraint. */
export const ROLE_NAME_PATTERN = /^[a-z][a-z0-9_]{0,62}$/;
const EMAIL_FILTER_MAX_LENGTH = 254;

const roleName = z
  .string({ error: 'role must be a role name such as "manager"' })
  .regex(ROLE_NAME_PATTERN, { error: 'role must be a role name: lower-case letters, digits and _, e.g. "manager"' });

const permission = z.enum(PERMISSIONS, {
  error: `each permission must be one of ${PERMISSIONS.join(', ')}`,
});

export const userIdParams = z.strictObject({ id: z.uuid({ error: 'id must be a user id (a UUID)' }) });
export const userRoleParams = z.strictObject({
  id: z.uuid({ error: 'id must be a user id (a UUID)' }),
  role: roleName,
});
export const roleParams = z.strictObject({ role: roleName });

export const userSort = defineSort(
  { email: 'u.email', username: 'u.username', created_at: 'u.created_at' },
  { default: [{ field: 'created_at', direction: 'desc' }], tiebreaker: 'u.id' },
);
export type UserSortField = (typeof userSort.fields)[number];

export const listUsersQuery = listQuerySchema(userSort, {
  email: z
    .string({ error: 'email must be text to search for in email addresses' })
    .min(1, { error: 'email must not be empty; leave it out to list every user' })
    .max(EMAIL_FILTER_MAX_LENGTH, { error: `email must be at most ${EMAIL_FILTER_MAX_LENGTH} characters` })
    .optional(),
  role: roleName.optional(),
  is_active: z
    .enum(['true', 'false'], { error: 'is_active must be true or false' })
    .transform((value) => value === 'true')
    .optional(),
});

export const updateUserBody = z.strictObject({
  is_active: z.boolean({ error: 'is_active must be true or false' }),
});

export const grantRoleBody = z.strictObject({ role: roleName });

export const rolePermissionsBody = z.strictObject({
  permissions: z
    .array(permission, { error: 'permissions must be a list of permission names' })
    .max(PERMISSIONS.length * 2, { error: 'permissions lists too many entries; name each permission once' })
    .refine((names) => new Set(names).size === names.length, { error: 'name each permission once' })
    .meta({ uniqueItems: true }),
});
