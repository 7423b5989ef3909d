import type { Router } from 'express';

import { createAuthComponent, type AuthComponent, type AuthComponentDependencies } from './auth/index.js';
import { createCatalogRouter } from './catalog/routes.js';

export type ComponentDependencies = AuthComponentDependencies;

export interface Components {
  readonly auth: AuthComponent;
  /** Every business router, in mount order. */
  readonly routers: readonly Router[];
}

/** The one place that wires the business components together: the server and the end-to-end tests use it. */
export function createComponents(deps: ComponentDependencies): Components {
  const auth = createAuthComponent(deps);
  const catalog = createCatalogRouter({ db: deps.db, authenticate: auth.authenticate });
  return { auth, routers: [auth.router, catalog] };
}
