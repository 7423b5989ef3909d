import { z } from 'zod';

import type { AppServiceDefinition } from '../../platform/services/app.js';
import { runForExit } from '../container.js';
import type { MigrationCheck } from '../release-record.js';

/** The flag that applies breaking migrations anyway; the record says it was used. */
export const ALLOW_BREAKING_FLAG = '--allow-breaking-migrations';

/** The canary's environment as migrations see it: the database owner, as npm start migrates. */
export function migrationEnvironment(
  app: AppServiceDefinition,
  appEnv: Readonly<Record<string, string>>,
): Record<string, string> {
  return app.migration === undefined
    ? { ...appEnv }
    : { ...appEnv, DATABASE_URL: app.migration.ownerDatabaseUrl, APP_DATABASE_PASSWORD: app.migration.appRolePassword };
}

/** What the image's `migrate plan --json` prints, checked as any output of another program is. */
const PENDING_PLAN = z.object({
  applied: z.number().int(),
  pending: z.array(
    z.object({
      version: z.number().int(),
      fileName: z.string(),
      checksum: z.string(),
      breaking: z.array(z.object({ statement: z.string(), reason: z.string() })),
    }),
  ),
  problems: z.array(z.string()),
});
export type PendingPlan = z.infer<typeof PENDING_PLAN>;

/** The last line of `output` that parses as the plan `migrate plan --json` prints; undefined when none does. */
export function parsePlan(output: string): PendingPlan | undefined {
  for (const line of output.trim().split('\n').reverse()) {
    if (!line.startsWith('{')) continue;
    try {
      const plan = PENDING_PLAN.safeParse(JSON.parse(line));
      if (plan.success) return plan.data;
    } catch {
      // a log line that starts with a brace: keep looking
    }
  }
  return undefined;
}

/**
 * What the image's migrations would do to the database stable still runs against; `refusal` says why the release
 * must stop before anything migrates (a breaking statement without the override, or a plan the image cannot give).
 */
export function judgePlan(
  plan: PendingPlan,
  allowBreaking: boolean,
): { readonly check: MigrationCheck; readonly refusal?: string } {
  const breaking = plan.pending.flatMap((file) =>
    file.breaking.map((found) => ({ migration: file.fileName, statement: found.statement, reason: found.reason })),
  );
  const check: MigrationCheck = {
    pending: plan.pending.map((file) => file.fileName),
    breaking,
    overridden: allowBreaking && breaking.length > 0,
  };
  if (plan.problems.length > 0)
    return { check, refusal: `the image's migrations cannot apply to this database: ${plan.problems.join('; ')}` };
  if (breaking.length === 0 || allowBreaking) return { check };
  const named = breaking.map((found) => `${found.migration}: "${found.statement}" (${found.reason})`).join('; ');
  return {
    check,
    refusal:
      `migration would break the stable version, which shares the database with the canary: ${named}. ` +
      'Ship it in two releases: expand (add the new shape beside the old, the code writing both), then contract ' +
      `(drop the old once no running version reads it); or deploy again with ${ALLOW_BREAKING_FLAG}, which the release ` +
      'record keeps',
  };
}

/** Asks the image itself (`migrate plan --json`) which migrations are pending and which of their statements break stable. */
export async function checkMigrations(
  reference: string,
  env: Readonly<Record<string, string>>,
  allowBreaking: boolean,
): Promise<{ readonly check?: MigrationCheck; readonly refusal?: string }> {
  const result = await runForExit({ reference, env, args: ['migrate', 'plan', '--json'] });
  const plan = parsePlan(result.output);
  if (plan === undefined) {
    const last = result.output.trim().split('\n').slice(-3).join(' ');
    return {
      refusal:
        `the image could not say which migrations it would apply (migrate plan --json exited ${String(result.code)}: ${last}); ` +
        'a release whose migrations are unknown could break the stable version sharing the database: fix the image or the database connection',
    };
  }
  return judgePlan(plan, allowBreaking);
}
