import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { PERMISSIONS } from '../src/components/access/index.js';
import type { Permission } from '../src/components/access/index.js';
import { createComponents } from '../src/components/index.js';
import type { Components } from '../src/components/index.js';
import { permissionsOf } from '../src/http/endpoint.js';
import type { Endpoint } from '../src/http/endpoint.js';
import { BEARER_AUTH, openApiPath } from '../src/http/openapi.js';
import type { OpenApiDocument } from '../src/http/openapi.js';
import { listEndpoints, listRoutes } from '../src/http/route-table.js';
import { startTestApp } from './support/app.js';
import type { TestApp } from './support/app.js';
import { registerAccount, signIn } from './support/auth.js';
import type { Reply } from './support/auth.js';
import { createMigratedDatabase } from './support/database.js';
import type { TestDatabase } from './support/database.js';
import { unique } from './support/db.js';

/**
 * The access of every endpoint, against the running app: the app's endpoint definitions (one per route) are both
 * what the router enforces and what the OpenAPI document states, so this holds the definitions to the agreed rule
 * and each one to what the server does and the document says.
 */

// Everyone may call these: the probes, the metrics, the reference and the ways to get a token.
const PUBLIC = new Set([
  'GET /health/live',
  'GET /health/ready',
  'GET /metrics',
  'GET /api/docs/openapi.json',
  'GET /api/docs',
  'POST /api/v1/auth/register',
  'POST /api/v1/auth/login',
  'POST /api/v1/auth/refresh',
]);
// Any signed-in caller may call these about their own sign-in; every other route needs a permission.
const SIGNED_IN_ONLY = new Set(['POST /api/v1/auth/logout', 'GET /api/v1/auth/me']);

// Path parameters that reach the handler without naming anything that exists, so no call changes a row.
const PARAMETER_VALUES: Readonly<Record<string, () => string>> = {
  id: () => crypto.randomUUID(),
  job_id: () => crypto.randomUUID(),
  queue: () => 'invoices',
  role: () => unique('no_such_role').replace(/[^a-z0-9_]/g, '_'),
};

let database: TestDatabase;
let service: TestApp;
let components: Components | undefined;
let endpoints: readonly Endpoint[];
let spec: OpenApiDocument;
const tokens = new Map<string, Promise<string>>();

function keyOf(endpoint: Pick<Endpoint, 'method' | 'path'>): string {
  return `${endpoint.method.toUpperCase()} ${endpoint.path}`;
}

function concretePath(path: string): string {
  return path.replace(/:([A-Za-z_]+)/g, (_match, name: string) => {
    const value = PARAMETER_VALUES[name];
    if (value === undefined)
      throw new Error(`no test value for the path parameter :${name}; add one to PARAMETER_VALUES`);
    return value();
  });
}

/** A signed-in caller whose only role grants exactly `permissions`; one per set, made on first use. */
function callerHolding(permissions: readonly Permission[]): Promise<string> {
  const key = [...permissions].toSorted().join(',');
  let signedIn = tokens.get(key);
  if (signedIn === undefined) {
    signedIn = (async () => {
      const account = await registerAccount(service.url);
      const role = unique('route_test').replace(/[^a-z0-9_]/g, '_');
      // Replaces the customer role sign-up grants, before the account's first request fills the permission cache.
      await service.db.query('test.routeRole', 'DELETE FROM user_roles WHERE user_id = $1', [account.id]);
      await service.db.query(
        'test.routeRole',
        `WITH new_role AS (INSERT INTO roles (name) VALUES ($1) RETURNING id),
              granted AS (INSERT INTO role_permissions (role_id, permission_id)
                          SELECT new_role.id, permissions.id FROM new_role, permissions WHERE permissions.name = ANY($2))
         INSERT INTO user_roles (user_id, role_id) SELECT $3, id FROM new_role`,
        [role, permissions, account.id],
      );
      await components?.access.permissions.invalidateUsers([account.id]);
      return (await signIn(service.url, account)).accessToken;
    })();
    tokens.set(key, signedIn);
  }
  return signedIn;
}

async function callEndpoint(endpoint: Endpoint, token?: string): Promise<Reply> {
  const path = concretePath(endpoint.path);
  // Non-JSON answers (metrics, the reference, a PDF) are read as text; only the status matters for them.
  const response = await fetch(`${service.url}${path}`, {
    method: endpoint.method.toUpperCase(),
    redirect: 'manual',
    headers: token === undefined ? {} : { Authorization: `Bearer ${token}` },
  });
  const text = await response.text();
  const json = (response.headers.get('content-type') ?? '').startsWith('application/json') && text !== '';
  return {
    status: response.status,
    headers: response.headers,
    body: json ? (JSON.parse(text) as Record<string, unknown>) : {},
  };
}

function permissionsOfOperation(endpoint: Endpoint): { security: unknown; responses: string[] } {
  const operation = spec.paths?.[openApiPath(endpoint.path)]?.[endpoint.method];
  if (operation === undefined) throw new Error(`the document has no operation ${keyOf(endpoint)}`);
  return { security: operation.security, responses: Object.keys(operation.responses ?? {}) };
}

beforeAll(async () => {
  database = await createMigratedDatabase();
  service = await startTestApp({
    env: { DATABASE_URL: database.url, TRUST_PROXY: '1' },
    routers: (deps) => (components = createComponents(deps)).routers,
  });
  endpoints = listEndpoints(service.app);
  const response = await fetch(`${service.url}/api/docs/openapi.json`);
  spec = (await response.json()) as OpenApiDocument;
});

afterAll(async () => {
  await service.close();
  await components?.jobs.close();
  await database.drop();
});

describe('every endpoint of the app', () => {
  it('is defined once, and every route the app serves comes from a definition', () => {
    const defined = endpoints.map(keyOf);
    expect(new Set(defined).size, 'no endpoint is defined twice').toBe(defined.length);
    const served = listRoutes(service.app).map((route) => `${route.method.toUpperCase()} ${route.path}`);
    expect(defined.toSorted()).toEqual(served.toSorted());
    expect(defined.length).toBeGreaterThan(25);
  });

  it('requires a permission, unless it is one of the public or sign-in-only routes', () => {
    for (const endpoint of endpoints) {
      const key = keyOf(endpoint);
      if (PUBLIC.has(key)) expect(endpoint.access, `${key} is public`).toBe('public');
      else if (SIGNED_IN_ONLY.has(key))
        expect(endpoint.access, `${key} needs only a signed-in caller`).toBe('signed-in');
      else expect(permissionsOf(endpoint.access), `${key} needs a permission`).not.toEqual([]);
    }
    const listed = [...PUBLIC, ...SIGNED_IN_ONLY].filter((key) => !endpoints.some((e) => keyOf(e) === key));
    expect(listed, 'listed routes the app does not serve').toEqual([]);
  });

  it('is documented with the permission it enforces: the security requirement, 401 and 403', () => {
    for (const endpoint of endpoints) {
      const key = keyOf(endpoint);
      const { security, responses } = permissionsOfOperation(endpoint);
      const permissions = permissionsOf(endpoint.access);
      if (endpoint.access === 'public') {
        expect(security, key).toEqual([]);
        continue;
      }
      expect(responses, `${key} documents 401`).toContain('401');
      if (permissions.length === 0) {
        expect(security, key).toEqual([{ [BEARER_AUTH]: [] }]);
        expect(responses, `${key} documents no 403`).not.toContain('403');
      } else {
        expect(security, `${key} names the permissions it accepts`).toEqual(
          permissions.map((permission) => ({ [BEARER_AUTH]: [permission] })),
        );
        expect(responses, `${key} documents 403`).toContain('403');
      }
    }
  });

  it('answers 401 to a caller without a token, except on public routes', async () => {
    for (const endpoint of endpoints) {
      const reply = await callEndpoint(endpoint);
      if (endpoint.access === 'public') {
        expect([401, 403], `${keyOf(endpoint)} without a token`).not.toContain(reply.status);
      } else {
        expect(reply.status, `${keyOf(endpoint)} without a token`).toBe(401);
      }
    }
  });

  it('answers 403 naming the permission to a caller holding every other one, and not to a holder of it', async () => {
    const guarded = endpoints.filter((endpoint) => permissionsOf(endpoint.access).length > 0);
    expect(guarded.length).toBeGreaterThan(20);
    for (const endpoint of guarded) {
      const key = keyOf(endpoint);
      const accepted = permissionsOf(endpoint.access) as readonly Permission[];
      const others = PERMISSIONS.filter((permission) => !accepted.includes(permission));
      const refused = await callEndpoint(endpoint, await callerHolding(others));
      expect(refused.status, `${key} without ${accepted.join(' or ')}`).toBe(403);
      expect(refused.body, key).toMatchObject({ error: { code: 'FORBIDDEN', details: { permission: accepted[0] } } });
      for (const permission of accepted) {
        const allowed = await callEndpoint(endpoint, await callerHolding([permission]));
        expect([401, 403], `${key} with only ${permission}`).not.toContain(allowed.status);
        expect(allowed.status, `${key} with only ${permission}`).toBeLessThan(500);
      }
    }
  }, 120_000);

  it('lets a signed-in caller without any permission use the sign-in-only routes', async () => {
    const token = await callerHolding([]);
    for (const key of ['GET /api/v1/auth/me', 'POST /api/v1/auth/logout']) {
      const endpoint = endpoints.find((candidate) => keyOf(candidate) === key);
      if (endpoint === undefined) throw new Error(`${key} is not served`);
      const reply = await callEndpoint(endpoint, token);
      expect(reply.status, key).toBeLessThan(300);
    }
  });
});
