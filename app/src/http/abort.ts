import type { Request } from 'express';

import { AbortedError } from '../errors.js';

const signals = new WeakMap<Request, AbortSignal>();

/**
 * An AbortSignal that fires when the client goes away before the response is complete, for passing to
 * `withTransaction` and other cancellable work. One signal per request, created on first use.
 */
export function requestSignal(req: Request): AbortSignal {
  const existing = signals.get(req);
  if (existing !== undefined) return existing;
  const controller = new AbortController();
  signals.set(req, controller.signal);
  const res = req.res;
  if (res === undefined) return controller.signal;
  const abort = (): void => {
    controller.abort(
      new AbortedError(`the client closed the connection before the response to ${req.method} ${req.path} was sent`),
    );
  };
  if (res.closed && !res.writableFinished) {
    abort();
    return controller.signal;
  }
  // The response's 'close' before 'finish' means the connection dropped; req 'close' also fires after a normal body.
  res.once('close', () => {
    if (!res.writableFinished) abort();
  });
  return controller.signal;
}
