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
    // On in CI (`.ci/run`) and `npm run test:coverage -w app`, off in a plain `npm test`. Server processes the fault
    // tests spawn are not measured.
    coverage: {
      provider: 'v8',
      include: ['app/src/**/*.ts'],
      reporter: ['text', 'text-summary', 'json-summary'],
      reportsDirectory: here('./app/coverage'),
      // The numbers are still worth reading when a test failed.
      reportOnFailure: true,
      // The release bar: 80% of lines in each module that guards input, identity, money and the audit trail.
      thresholds: Object.fromEntries(
        [
          'app/src/config*.ts',
          'app/src/components/auth/**',
          'app/src/http/validate.ts',
          'app/src/http/pagination.ts',
          'app/src/errors.ts',
          'app/src/http/errors.ts',
          'app/src/db/transaction.ts',
          'app/src/http/security.ts',
          'app/src/components/auth/login-protection.ts',
          'app/src/components/access/**',
          'app/src/components/audit/**',
        ].map((glob) => [glob, { lines: 80 }]),
      ),
    },
  },
});
