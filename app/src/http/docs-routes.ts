import { Router } from 'express';
import swaggerUi from 'swagger-ui-express';
import { z } from 'zod';

import { describeRoute } from './openapi.js';
import type { OpenAPIRegistry, OpenApiDocument } from './openapi.js';
import { DOCS_PATH } from './security.js';

export const OPENAPI_JSON_PATH = `${DOCS_PATH}/openapi.json`;

const TAG = 'operations';

/**
 * The API reference, to mount at {@link DOCS_PATH} (so no other request passes through it): the document at
 * /api/docs/openapi.json and Swagger UI at /api/docs/ (with an Authorize button for the bearer token, kept across
 * reloads). Public: it holds nothing a client cannot learn by calling the API. The page, its scripts and styles
 * are served from here, so Helmet's same-origin CSP on /api/docs lets it render.
 */
export function docsRouter(document: OpenApiDocument): Router {
  const router = Router();
  const options = {
    customSiteTitle: `${document.info.title} ${document.info.version} API reference`,
    swaggerOptions: { persistAuthorization: true, displayRequestDuration: true },
  };
  const page = swaggerUi.setup(document, options);
  const body = JSON.stringify(document);

  router.get('/openapi.json', (_req, res) => {
    res.type('application/json').send(body);
  });

  router.get('/', (req, res, next) => {
    // The page loads ./swagger-ui.css and friends, which resolve under /api/docs/ only with the trailing slash.
    if (!req.originalUrl.split('?')[0]?.endsWith('/')) {
      res.redirect(301, `${DOCS_PATH}/`);
      return;
    }
    page(req, res, next);
  });
  router.use(swaggerUi.serveFiles(document, options));

  return router;
}

const checkResult = z.strictObject({
  status: z.enum(['up', 'down']),
  duration_ms: z.number(),
  error: z.string().optional(),
});

const readiness = z.strictObject({
  status: z.enum(['ready', 'not_ready']),
  shutting_down: z.boolean(),
  checks: z.record(z.string(), checkResult),
});

/** The operational endpoints the app itself serves: probes, metrics and this reference. */
export function describeOperationalRoutes(registry: OpenAPIRegistry): void {
  describeRoute(registry, {
    method: 'get',
    path: '/health/live',
    summary: 'Liveness: the process runs (restart it if not)',
    tags: [TAG],
    auth: 'none',
    operational: true,
    responses: { 200: { description: 'Alive.', schema: z.strictObject({ status: z.literal('ok') }) } },
  });
  describeRoute(registry, {
    method: 'get',
    path: '/health/ready',
    summary: 'Readiness: PostgreSQL and Redis answer and the process is not shutting down',
    tags: [TAG],
    auth: 'none',
    operational: true,
    responses: {
      200: { description: 'Ready: status `ready`.', schema: readiness },
      503: { description: 'Not ready: status `not_ready`, with the failing checks.', schema: readiness },
    },
  });
  describeRoute(registry, {
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics in the text exposition format',
    tags: [TAG],
    auth: 'none',
    operational: true,
    responses: { 200: { description: 'Metrics.', contentType: 'text/plain', schema: z.string() } },
  });
  describeRoute(registry, {
    method: 'get',
    path: OPENAPI_JSON_PATH,
    summary: 'This OpenAPI document',
    tags: [TAG],
    auth: 'none',
    responses: { 200: { description: 'The OpenAPI 3.1 document.', schema: z.record(z.string(), z.unknown()) } },
  });
  describeRoute(registry, {
    method: 'get',
    path: DOCS_PATH,
    summary: 'The API reference (Swagger UI)',
    description: `Redirects to ${DOCS_PATH}/, the HTML page.`,
    tags: [TAG],
    auth: 'none',
    responses: {
      200: { description: 'The Swagger UI page.', contentType: 'text/html', schema: z.string() },
      301: { description: `To ${DOCS_PATH}/.`, headers: { Location: `${DOCS_PATH}/` } },
    },
  });
}
