import type { RequestHandler } from 'express';

import { BadRequestError } from '../errors.js';

/**
 * Refuses a request body that is not JSON with 415 UNSUPPORTED_MEDIA_TYPE. Without it a form or text body would
 * reach the routes as "no body", and a route whose body is optional would act on a request it never understood.
 */
export function requireJsonBodies(): RequestHandler {
  return (req, _res, next) => {
    // An empty body (Content-Length: 0, as clients send on a bare POST) is no body.
    const hasBody = req.get('Transfer-Encoding') !== undefined || Number(req.get('Content-Length') ?? 0) > 0;
    if (!hasBody || req.is('application/json') !== false) {
      next();
      return;
    }
    const type = req.get('Content-Type') ?? 'without a Content-Type';
    next(
      new BadRequestError(
        'UNSUPPORTED_MEDIA_TYPE',
        `the request body is ${type.slice(0, 100)}; send JSON with Content-Type: application/json, or no body`,
      ),
    );
  };
}
