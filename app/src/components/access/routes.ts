import type { Request, RequestHandler, Router } from 'express';
import { z } from 'zod';

import { UnauthorizedError } from '../../errors.js';
import { endpointRouter } from '../../http/endpoint.js';
import { requestContext } from '../../http/request-context.js';
import { pageJson, pageResponse } from '../../http/pagination.js';
import { defineEndpoint } from './guard.js';
import type { Authorize } from './guard.js';
import { PERMISSIONS } from './permissions.js';
import {
  grantRoleBody,
  listUsersQuery,
  roleParams,
  rolePermissionsBody,
  updateUserBody,
  userIdParams,
  userRoleParams,
} from './schemas.js';
import type { AccessService, Actor, Role, UnlockOutcome, UserProfile, UserSummary } from './service.js';

export interface AccessRouterDependencies {
  readonly service: AccessService;
  readonly authenticate: RequestHandler;
  readonly authorize: Authorize;
}

// The wire format is snake_case, like the catalogue's.
const userSummaryResponse = z.strictObject({
  id: z.uuid(),
  email: z.string(),
  username: z.string(),
  is_active: z.boolean(),
  roles: z.array(z.string()),
  created_at: z.iso.datetime(),
  updated_at: z.iso.datetime(),
});
const userResponse = z.strictObject({
  id: z.uuid(),
  email: z.string(),
  username: z.string(),
  is_active: z.boolean(),
  roles: z.array(z.string()),
  permissions: z.array(z.string()).meta({ description: 'Every permission the roles grant, by name.' }),
  created_at: z.iso.datetime(),
});
const roleResponse = z.strictObject({
  name: z.string(),
  description: z.string(),
  permissions: z.array(z.enum(PERMISSIONS)),
});
const userPageResponse = pageResponse(userSummaryResponse, 'users');
// No body is expected; an empty JSON object is accepted too.
const unlockBody = z.strictObject({}).optional();
const unlockResponse = z.strictObject({
  user_id: z.uuid(),
  locked_until: z.iso
    .datetime()
    .nullable()
    .meta({ description: 'The account-wide lock that was lifted; null when none was in force.' }),
  failed_login_count: z.int().min(0).meta({ description: 'Wrong passwords in a row before the unlock.' }),
  addresses_cleared: z
    .int()
    .min(0)
    .nullable()
    .meta({ description: 'Addresses shut out of the account that may sign in again; null when Redis was away.' }),
});

function unlockJson(outcome: UnlockOutcome): z.input<typeof unlockResponse> {
  return {
    user_id: outcome.userId,
    locked_until: outcome.lockedUntil?.toISOString() ?? null,
    failed_login_count: outcome.failedLoginCount,
    addresses_cleared: outcome.addressesCleared,
  };
}

function userSummaryJson(user: UserSummary): z.input<typeof userSummaryResponse> {
  return {
    id: user.id,
    email: user.email,
    username: user.username,
    is_active: user.isActive,
    roles: [...user.roles],
    created_at: user.createdAt.toISOString(),
    updated_at: user.updatedAt.toISOString(),
  };
}

function userJson(user: UserProfile): z.input<typeof userResponse> {
  return {
    id: user.id,
    email: user.email,
    username: user.username,
    is_active: user.isActive,
    roles: [...user.roles],
    permissions: [...user.permissions],
    created_at: user.createdAt.toISOString(),
  };
}

function roleJson(role: Role) {
  return { name: role.name, description: role.description, permissions: role.permissions };
}

/** The authenticated caller as the audit log records them. */
function actorOf(req: Request): Actor {
  const context = requestContext(req);
  if (context?.userId === undefined) throw new UnauthorizedError();
  return { userId: context.userId, ip: req.ip, userAgent: req.get('User-Agent'), log: context.log };
}

/**
 * User and role administration under /api/v1. Granting is idempotent: POST …/roles answers 201 when it granted the
 * role and 200 when the user already had it; DELETE …/roles/:role answers 204 whether or not the user held it.
 */
export function accessRouter({ service, authenticate, authorize }: AccessRouterDependencies): Router {
  const users = { tags: ['users'] } as const;
  const roles = { tags: ['roles'] } as const;
  return endpointRouter(
    [
      defineEndpoint({
        ...users,
        method: 'get',
        path: '/api/v1/users',
        summary: 'List users with their roles, filtered, sorted and paginated',
        access: { permission: 'users:read' },
        request: { query: listUsersQuery },
        responses: { 200: { description: 'One page of users.', schema: userPageResponse } },
        handle: async ({ query }, _req, res) => {
          const page = await service.listUsers({
            page: query.page,
            limit: query.limit,
            sort: query.sort,
            filter: { emailContains: query.email, role: query.role, isActive: query.is_active },
          });
          res.json(pageJson(page, userSummaryJson));
        },
      }),
      defineEndpoint({
        ...users,
        method: 'get',
        path: '/api/v1/users/:id',
        summary: 'One user with roles and permissions; the read is audited',
        access: { permission: 'users:read' },
        request: { params: userIdParams },
        responses: { 200: { description: 'The user.', schema: userResponse } },
        errors: ['NOT_FOUND'],
        handle: async ({ params }, req, res) => {
          res.json(userJson(await service.getUser(params.id, actorOf(req))));
        },
      }),
      defineEndpoint({
        ...users,
        method: 'patch',
        path: '/api/v1/users/:id',
        summary: 'Activate or deactivate an account; a deactivated one is refused from its next request',
        description: 'Refuses (409) to deactivate the last active administrator.',
        access: { permission: 'users:manage' },
        request: { params: userIdParams, body: updateUserBody },
        responses: { 200: { description: 'The user afterwards.', schema: userResponse } },
        errors: ['NOT_FOUND', 'CONFLICT', 'TRANSACTION_CONFLICT'],
        handle: async ({ params, body }, req, res) => {
          res.json(userJson(await service.setActive(params.id, body.is_active, actorOf(req))));
        },
      }),
      defineEndpoint({
        ...users,
        method: 'post',
        path: '/api/v1/users/:id/unlock',
        summary: 'Lift the sign-in locks of an account: the account-wide one and every address shut out of it',
        description: 'Audited as `auth.account.unlocked`. Idempotent: an account without a lock answers 200 too.',
        access: { permission: 'users:manage' },
        request: { params: userIdParams, body: unlockBody },
        responses: { 200: { description: 'What was lifted.', schema: unlockResponse } },
        errors: ['NOT_FOUND', 'TRANSACTION_CONFLICT'],
        handle: async ({ params }, req, res) => {
          res.json(unlockJson(await service.unlockAccount(params.id, actorOf(req))));
        },
      }),
      defineEndpoint({
        ...users,
        method: 'post',
        path: '/api/v1/users/:id/roles',
        summary: 'Grant a role; applies from the next request',
        description: 'Idempotent: 201 when the role was granted, 200 when the user already had it.',
        access: { permission: 'roles:manage' },
        request: { params: userIdParams, body: grantRoleBody },
        responses: {
          200: { description: 'The user already had the role; nothing changed.', schema: userResponse },
          201: { description: 'Granted; the user afterwards.', schema: userResponse },
        },
        errors: ['NOT_FOUND', 'TRANSACTION_CONFLICT'],
        handle: async ({ params, body }, req, res) => {
          const { user, granted } = await service.grantRole(params.id, body.role, actorOf(req));
          res.status(granted ? 201 : 200).json(userJson(user));
        },
      }),
      defineEndpoint({
        ...users,
        method: 'delete',
        path: '/api/v1/users/:id/roles/:role',
        summary: 'Revoke a role; applies from the next request',
        description:
          'Idempotent: 204 whether or not the user held the role. Refuses (409) to take admin from the last active administrator.',
        access: { permission: 'roles:manage' },
        request: { params: userRoleParams },
        responses: { 204: { description: 'The user does not hold the role (any more).' } },
        errors: ['NOT_FOUND', 'CONFLICT', 'TRANSACTION_CONFLICT'],
        handle: async ({ params }, req, res) => {
          await service.revokeRole(params.id, params.role, actorOf(req));
          res.status(204).end();
        },
      }),
      defineEndpoint({
        ...roles,
        method: 'get',
        path: '/api/v1/roles',
        summary: 'Every role with its permissions',
        access: { permission: 'users:read' },
        responses: {
          200: { description: 'The roles.', schema: z.strictObject({ items: z.array(roleResponse) }) },
        },
        handle: async (_input, _req, res) => {
          res.json({ items: (await service.listRoles()).map(roleJson) });
        },
      }),
      defineEndpoint({
        ...roles,
        method: 'put',
        path: '/api/v1/roles/:role/permissions',
        summary: "Replace a role's permissions; applies to every holder from their next request",
        description: 'Refuses (409) to take roles:manage from admin.',
        access: { permission: 'roles:manage' },
        request: { params: roleParams, body: rolePermissionsBody },
        responses: { 200: { description: 'The role afterwards.', schema: roleResponse } },
        errors: ['NOT_FOUND', 'CONFLICT', 'TRANSACTION_CONFLICT'],
        handle: async ({ params, body }, req, res) => {
          res.json(roleJson(await service.setRolePermissions(params.role, body.permissions, actorOf(req))));
        },
      }),
    ],
    { authenticate, authorize },
  );
}
