import { Router } from 'express';
import type { RequestHandler } from 'express';
import { z } from 'zod';

import { validate } from '../../http/validate.js';
import type { Logger } from '../../logger.js';
import { authenticatedClaims, callerOf } from './guard.js';
import { PASSWORD_MAX_LENGTH, newPasswordSchema } from './passwords.js';
import type { AuthService } from './service.js';

export const AUTH_PATH = '/api/v1/auth';

const emailSchema = z.email({ error: 'must be an email address such as ada@example.com' }).max(254);
const usernameSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$/, {
  error: 'must be 3 to 64 letters, digits, dots, underscores or dashes, starting with a letter or digit',
});
// Sign-in accepts any stored password's length; the upper bound keeps hashing cost bounded.
const givenPassword = z.string().min(1, { error: 'is required' }).max(PASSWORD_MAX_LENGTH);

const register = validate({
  body: z.strictObject({ email: emailSchema, username: usernameSchema, password: newPasswordSchema }),
});
const login = validate({
  body: z
    .strictObject({ email: emailSchema.optional(), username: usernameSchema.optional(), password: givenPassword })
    .refine((body) => (body.email === undefined) !== (body.username === undefined), {
      error: 'give either email or username (not both) with the password',
      path: ['email'],
    }),
});
const refresh = validate({ body: z.strictObject({ refreshToken: z.string().min(1).max(4096) }) });
// No body is expected; an empty JSON object is accepted too.
const logout = validate({ body: z.strictObject({}).optional() });
const me = validate({ query: z.strictObject({}) });

/** The /api/v1/auth endpoints; `guard` is the authenticate middleware of the same service. */
export function authRouter(service: AuthService, guard: RequestHandler, logger: Logger): Router {
  const router = Router();

  router.post(`${AUTH_PATH}/register`, register, async (req, res) => {
    const { body } = register.input(req);
    const user = await service.register(body);
    res.status(201).json({ user });
  });

  router.post(`${AUTH_PATH}/login`, login, async (req, res) => {
    const { body } = login.input(req);
    const identifier = body.email === undefined ? { username: body.username ?? '' } : { email: body.email };
    res.json(await service.login({ login: identifier, password: body.password }, callerOf(req, logger)));
  });

  router.post(`${AUTH_PATH}/refresh`, refresh, async (req, res) => {
    const { body } = refresh.input(req);
    res.json(await service.refresh(body.refreshToken, callerOf(req, logger)));
  });

  router.post(`${AUTH_PATH}/logout`, logout, guard, async (req, res) => {
    await service.logout(authenticatedClaims(req), callerOf(req, logger));
    res.status(204).end();
  });

  router.get(`${AUTH_PATH}/me`, me, guard, async (req, res) => {
    res.json({ user: await service.profile(authenticatedClaims(req).userId) });
  });

  return router;
}
