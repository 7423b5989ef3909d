import { fileURLToPath } from 'node:url';

import { defineConfig } from 'vitest/config';

/** One project per workspace; `npm test -w <ws>` selects one of them with --project. */
const workspaces = ['app', 'infra', 'monitoring', 'policies', 'pipelines', 'load'] as const;
const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  test: {
    projects: workspaces.map((name) => ({
      test: {
        name,
        root: here(`./${name}`),
        include: ['test/**/*.test.ts'],
        testTimeout: 30_000,
        hookTimeout: 60_000,
      },
    })),
    // Real PostgreSQL and Redis for the whole run, started once (see pipelines/src/testing).
    globalSetup: [here('./pipelines/src/testing/global-setup.ts')],
    reporters: ['default', here('./pipelines/src/testing/summary-reporter.ts')],
    passWithNoTests: true,
    teardownTimeout: 60_000,
  },
});
