import type { RequestHandler, Router } from 'express';
import { z } from 'zod';

import { endpointRouter } from '../../http/endpoint.js';
import { exclusiveUnion } from '../../http/openapi.js';
import type { Logger } from '../../logger.js';
import { defineEndpoint } from '../access/guard.js';
import { authenticatedClaims, callerOf } from './guard.js';
import { PASSWORD_MAX_LENGTH, newPasswordSchema } from './passwords.js';
import type { UserProfile, UserView } from './repository.js';
import type { SessionService, TokenPair } from './service.js';

export const AUTH_PATH = '/api/v1/auth';

// The pattern zod checks, stated in the document too: `format: email` alone allows addresses zod refuses.
const emailSchema = z
  .email({ pattern: z.regexes.email, error: 'must be an email address such as ada@example.com' })
  .max(254)
  .meta({ pattern: z.regexes.email.source });
const usernameSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$/, {
  error: 'must be 3 to 64 letters, digits, dots, underscores or dashes, starting with a letter or digit',
});
// Sign-in accepts any stored password's length; the upper bound keeps hashing cost bounded.
const givenPassword = z.string().min(1, { error: 'is required' }).max(PASSWORD_MAX_LENGTH);

const registerRequest = {
  body: z.strictObject({ email: emailSchema, username: usernameSchema, password: newPasswordSchema }),
};
const loginRequest = {
  body: exclusiveUnion(
    [
      z.strictObject({ email: emailSchema, password: givenPassword }),
      z.strictObject({ username: usernameSchema, password: givenPassword }),
    ],
    'give either email or username (not both) with the password',
  ),
};
const refreshRequest = { body: z.strictObject({ refresh_token: z.string().min(1).max(4096) }) };
// No body is expected; an empty JSON object is accepted too.
const logoutRequest = { body: z.strictObject({}).optional() };
const meRequest = { query: z.strictObject({}) };

// The wire format is snake_case, like the catalog's and OAuth 2's token responses (RFC 6749 §5.1).
const userResponse = z.strictObject({
  id: z.uuid(),
  email: z.email(),
  username: z.string(),
  is_active: z.boolean(),
  created_at: z.iso.datetime(),
  roles: z.array(z.string()).meta({ description: 'Role names, e.g. `customer`.' }),
});
const profileResponse = userResponse.extend({
  permissions: z.array(z.string()).meta({ description: 'Every permission the roles grant, e.g. `orders:create`.' }),
});
const tokenPairResponse = z.strictObject({
  token_type: z.literal('Bearer'),
  access_token: z.string().meta({ description: 'Send as `Authorization: Bearer <access_token>`.' }),
  access_token_expires_at: z.iso.datetime(),
  expires_in: z.int().meta({ description: 'Seconds until the access token expires.' }),
  refresh_token: z.string().meta({ description: 'Spend once at POST /api/v1/auth/refresh for the next pair.' }),
  refresh_token_expires_at: z.iso.datetime(),
});

function userJson(user: UserView & { readonly roles: readonly string[] }): z.input<typeof userResponse> {
  return {
    id: user.id,
    email: user.email,
    username: user.username,
    is_active: user.isActive,
    created_at: user.createdAt.toISOString(),
    roles: [...user.roles],
  };
}

function profileJson(profile: UserProfile): z.input<typeof profileResponse> {
  return { ...userJson(profile), permissions: [...profile.permissions] };
}

function tokenPairJson(pair: TokenPair): z.input<typeof tokenPairResponse> {
  return {
    token_type: pair.tokenType,
    access_token: pair.accessToken,
    access_token_expires_at: pair.accessTokenExpiresAt,
    expires_in: pair.expiresIn,
    refresh_token: pair.refreshToken,
    refresh_token_expires_at: pair.refreshTokenExpiresAt,
  };
}

/** The /api/v1/auth endpoints; `guard` is the authenticate middleware of the same service. */
export function authRouter(service: SessionService, guard: RequestHandler, logger: Logger): Router {
  const auth = { tags: ['auth'] } as const;
  return endpointRouter(
    [
      defineEndpoint({
        ...auth,
        method: 'post',
        path: `${AUTH_PATH}/register`,
        summary: 'Create an account (role customer)',
        access: 'public',
        request: registerRequest,
        responses: { 201: { description: 'Created.', schema: z.strictObject({ user: userResponse }) } },
        errors: ['CONFLICT', 'TRANSACTION_CONFLICT'],
        handle: async ({ body }, _req, res) => {
          const user = await service.register(body);
          res.status(201).json({ user: userJson(user) });
        },
      }),
      defineEndpoint({
        ...auth,
        method: 'post',
        path: `${AUTH_PATH}/login`,
        summary: 'Sign in with email or username and password',
        description:
          'Limited per client IP (429 with `details.unlock_at`); wrong passwords in a row lock the account (423).',
        access: 'public',
        request: loginRequest,
        responses: { 200: { description: 'Signed in: an access and a refresh token.', schema: tokenPairResponse } },
        errors: ['UNAUTHORIZED', 'FORBIDDEN', 'ACCOUNT_LOCKED', 'TRANSACTION_CONFLICT'],
        handle: async ({ body }, req, res) => {
          const identifier = 'email' in body ? { email: body.email } : { username: body.username };
          const pair = await service.login({ login: identifier, password: body.password }, callerOf(req, logger));
          res.json(tokenPairJson(pair));
        },
      }),
      defineEndpoint({
        ...auth,
        method: 'post',
        path: `${AUTH_PATH}/refresh`,
        summary: 'Spend a refresh token for the next token pair',
        description: 'A refresh token works once; presenting a spent one again ends that whole sign-in.',
        access: 'public',
        request: refreshRequest,
        responses: { 200: { description: 'The next token pair.', schema: tokenPairResponse } },
        errors: ['UNAUTHORIZED', 'TRANSACTION_CONFLICT'],
        handle: async ({ body }, req, res) => {
          res.json(tokenPairJson(await service.refresh(body.refresh_token, callerOf(req, logger))));
        },
      }),
      defineEndpoint({
        ...auth,
        method: 'post',
        path: `${AUTH_PATH}/logout`,
        summary: "Sign out: revoke this sign-in's refresh tokens and the access token",
        access: 'signed-in',
        request: logoutRequest,
        responses: { 204: { description: 'Signed out.' } },
        handle: async (_input, req, res) => {
          await service.logout(authenticatedClaims(req), callerOf(req, logger));
          res.status(204).end();
        },
      }),
      defineEndpoint({
        ...auth,
        method: 'get',
        path: `${AUTH_PATH}/me`,
        summary: 'The signed-in user with roles and permissions',
        access: 'signed-in',
        request: meRequest,
        responses: { 200: { description: 'The caller.', schema: z.strictObject({ user: profileResponse }) } },
        handle: async (_input, req, res) => {
          res.json({ user: profileJson(await service.profile(authenticatedClaims(req).userId)) });
        },
      }),
    ],
    { authenticate: guard },
  );
}
