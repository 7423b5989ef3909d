import { Router } from 'express';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ErrorBody } from '../src/http/errors.js';
import { defineSort, listQuerySchema } from '../src/http/pagination.js';
import { validate } from '../src/http/validate.js';
import { startTestApp } from './support/app.js';
import type { TestApp } from './support/app.js';

const createUser = validate({
  body: z.strictObject({
    email: z.email(),
    password: z.string().min(12),
    items: z.array(z.strictObject({ quantity: z.int().min(1) })).optional(),
  }),
});

const sort = defineSort({ created_at: 'created_at', name: 'name' }, { default: [], tiebreaker: 'id' });
const listOrders = validate({
  params: z.strictObject({ userId: z.uuid() }),
  query: listQuerySchema(sort, { status: z.enum(['pending', 'paid']).optional() }),
});

let seenByHandler = 0;

function routes(): Router {
  const router = Router();
  router.post('/users', createUser, (req, res) => {
    seenByHandler += 1;
    const { body } = createUser.input(req);
    res.status(201).json({ body, reqBodyIsParsed: req.body === body });
  });
  router.get('/users/:userId/orders', listOrders, (req, res) => {
    const { params, query } = listOrders.input(req);
    res.json({ params, query, rawQuery: req.query as unknown });
  });
  router.get('/unvalidated', (req, res) => {
    res.json(createUser.input(req));
  });
  return router;
}

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({ routers: [routes()] });
});
afterAll(async () => {
  await app.close();
});

async function post(path: string, body: unknown): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${app.url}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

describe('validate()', () => {
  it('passes parsed values to the handler through input(req), and replaces req.body', async () => {
    const response = await post('/users', { email: 'ada@example.com', password: 'correct horse battery' });
    expect(response).toEqual({
      status: 201,
      body: { body: { email: 'ada@example.com', password: 'correct horse battery' }, reqBodyIsParsed: true },
    });
  });

  it('refuses bad input with 400 VALIDATION_ERROR and every problem by path, before the handler runs', async () => {
    const before = seenByHandler;
    const response = await post('/users', {
      email: 'not-an-email',
      password: 'tiny-secret',
      items: [{ quantity: 0 }],
      admin: true,
    });
    expect(response.status).toBe(400);
    const { error } = response.body as ErrorBody;
    expect(error.code).toBe('VALIDATION_ERROR');
    expect(error.fields).toEqual({
      'body.email': ['Invalid email address (got "not-an-email")'],
      'body.password': ['Too small: expected string to have >=12 characters'],
      'body.items.0.quantity': ['Too small: expected number to be >=1 (got 0)'],
      'body.admin': ['is not a known field; remove it or check its spelling'],
    });
    expect(error.message).toMatch(
      /^invalid request: body\.email: Invalid email address \(got "not-an-email"\); .*; and 1 more; see error\.fields/,
    );
    // The password's value is never echoed back.
    expect(JSON.stringify(response.body)).not.toContain('tiny-secret');
    expect(seenByHandler).toBe(before);
  });

  it('refuses a missing body', async () => {
    const response = await fetch(`${app.url}/users`, { method: 'POST' });
    expect(response.status).toBe(400);
    expect(((await response.json()) as ErrorBody).error.fields).toEqual({
      body: ['Invalid input: expected object, received undefined'],
    });
  });

  it('parses params and query; req.query stays the raw strings', async () => {
    const userId = '4f1c2a8e-0b6d-4c1e-9a57-3d2b8c9e0f11';
    const response = await fetch(`${app.url}/users/${userId}/orders?page=2&sort=-name&status=paid`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      params: { userId },
      query: { page: 2, limit: 20, sort: [{ field: 'name', direction: 'desc' }], status: 'paid' },
      rawQuery: { page: '2', sort: '-name', status: 'paid' },
    });
  });

  it('refuses unknown query fields and bad params together', async () => {
    const response = await fetch(`${app.url}/users/123/orders?limit=5000&colour=red`);
    expect(response.status).toBe(400);
    expect(((await response.json()) as ErrorBody).error.fields).toEqual({
      'params.userId': ['Invalid UUID (got "123")'],
      'query.limit': ['limit must be a whole number from 1 to 1000, without leading zeros (got "5000")'],
      'query.colour': ['is not a known field; remove it or check its spelling'],
    });
  });

  it('answers 500 when a handler reads input(req) without the validator mounted', async () => {
    const response = await fetch(`${app.url}/unvalidated`);
    expect(response.status).toBe(500);
    const logged = app.logs.lines.find((line) => line.msg === 'request failed' && line.path === '/unvalidated');
    expect((logged?.err as { message?: string } | undefined)?.message).toMatch(/mount it before the handler/);
  });

  it('refuses a query or params schema that would ignore unknown fields', () => {
    expect(() => validate({ query: z.object({ page: z.string() }) })).toThrow(
      /must reject unknown fields; build it with z.strictObject/,
    );
    expect(() => validate({ params: z.looseObject({ id: z.string() }) })).toThrow(TypeError);
    expect(() => validate({ body: z.object({ a: z.string() }) })).not.toThrow();
  });
});
