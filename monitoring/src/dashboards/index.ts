import { authentication } from './authentication.js';
import { cache } from './cache.js';
import { buildDashboard } from './common.js';
import type { DashboardSpec } from './common.js';
import { database } from './database.js';
import { jobs } from './jobs.js';
import { overview } from './overview.js';
import { release } from './release.js';

export type { DashboardSpec, PanelSpec, Query } from './common.js';
export { DATASOURCE_VARIABLE, DEPLOY_ANNOTATION } from './common.js';

export const DASHBOARDS: readonly DashboardSpec[] = [overview, database, authentication, cache, release, jobs];

/** Each dashboard as Grafana's JSON model, keyed by uid. */
export function renderDashboards(): Map<string, object> {
  return new Map(DASHBOARDS.map((spec) => [spec.uid, buildDashboard(spec)]));
}
