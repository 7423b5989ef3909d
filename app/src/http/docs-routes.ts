import type { IRouter } from 'express';
import swaggerUi from 'swagger-ui-express';
import { z } from 'zod';

import { endpointDefiner, mountEndpoints } from './endpoint.js';
import type { EndpointDescription } from './endpoint.js';
import { buildOpenApiDocument } from './openapi.js';
import { DOCS_PATH } from './security.js';

export const OPENAPI_JSON_PATH = `${DOCS_PATH}/openapi.json`;

// The reference is public and needs no permission.
const defineEndpoint = endpointDefiner<never>();
const TAG = 'operations';

/**
 * The API reference of `documented` and of itself: the OpenAPI document at /api/docs/openapi.json and Swagger UI at
 * /api/docs/ (with an Authorize button for the bearer token, kept across reloads). Public: it holds nothing a client
 * cannot learn by calling the API. The page, its scripts and styles are served from here, so Helmet's same-origin
 * CSP on /api/docs lets it render. Mounted on the app itself, at its own paths, so other requests never pass through
 * a router (or a trace span) of the reference.
 */
export function mountDocs(app: IRouter, documented: readonly EndpointDescription[]): void {
  // The handlers read `body` and `page`, made below from a document that documents these endpoints too.
  const endpoints = [
    defineEndpoint({
      method: 'get',
      path: OPENAPI_JSON_PATH,
      summary: 'This OpenAPI document',
      tags: [TAG],
      access: 'public',
      responses: { 200: { description: 'The OpenAPI 3.1 document.', schema: z.record(z.string(), z.unknown()) } },
      handle: (_input, _req, res) => {
        res.type('application/json').send(body);
      },
    }),
    defineEndpoint({
      method: 'get',
      path: DOCS_PATH,
      summary: 'The API reference (Swagger UI)',
      description: `Redirects to ${DOCS_PATH}/, the HTML page.`,
      tags: [TAG],
      access: 'public',
      responses: {
        200: { description: 'The Swagger UI page.', contentType: 'text/html', schema: z.string() },
        301: { description: `To ${DOCS_PATH}/.`, headers: { Location: `${DOCS_PATH}/` } },
      },
      handle: (_input, req, res, next) => {
        // The page loads ./swagger-ui.css and friends, which resolve under /api/docs/ only with the trailing slash.
        if (!req.originalUrl.split('?')[0]?.endsWith('/')) {
          res.redirect(301, `${DOCS_PATH}/`);
          return;
        }
        page(req, res, next);
      },
    }),
  ];
  const document = buildOpenApiDocument([...documented, ...endpoints]);
  const options = {
    customSiteTitle: `${document.info.title} ${document.info.version} API reference`,
    swaggerOptions: { persistAuthorization: true, displayRequestDuration: true },
  };
  const page = swaggerUi.setup(document, options);
  const body = JSON.stringify(document);

  mountEndpoints(app, endpoints);
  app.use(DOCS_PATH, swaggerUi.serveFiles(document, options));
}
