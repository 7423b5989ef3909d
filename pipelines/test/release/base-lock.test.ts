import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { POSTGRES_BIN_DIR, POSTGRES_MAJOR_VERSION } from '@slipway/app/backup/postgres';
import { BASE_DIR, POSTGRES_CLIENT_FILES, POSTGRES_CLIENT_PACKAGE, readBaseLock } from '../../src/release/base.js';

describe('the base image PostgreSQL client', () => {
  const lock = readBaseLock();
  const containerfile = readFileSync(join(BASE_DIR, 'Containerfile'), 'utf8');

  it('is the client of the major version RDS runs (POSTGRES_MAJOR_VERSION, read by infra too)', () => {
    expect(lock.postgresClient.name).toBe(POSTGRES_CLIENT_PACKAGE);
    expect(lock.postgresClient.version.startsWith(`${POSTGRES_MAJOR_VERSION}.`)).toBe(true);
    const libpq = lock.debian.find((p) => p.name === 'libpq5');
    expect(libpq?.version.startsWith(`${POSTGRES_MAJOR_VERSION}.`)).toBe(true);
    expect(lock.postgresClient.license).toBe('PostgreSQL');
  });

  it('copies pg_dump and pg_restore to the path the backup command calls, and nothing of Perl', () => {
    expect(POSTGRES_CLIENT_FILES).toEqual([
      `${POSTGRES_BIN_DIR.slice(1)}/pg_dump`,
      `${POSTGRES_BIN_DIR.slice(1)}/pg_restore`,
    ]);
    expect(containerfile).toContain(`COPY pg_dump pg_restore ${POSTGRES_BIN_DIR}/\n`);
    expect(containerfile).toContain(`/usr/share/doc/${POSTGRES_CLIENT_PACKAGE}/copyright`);
    expect(lock.roots).toEqual(expect.arrayContaining(['libpq5', 'zlib1g']));
    expect(lock.debian.map((p) => p.name)).not.toContain('perl');
    expect(lock.debian.map((p) => p.name)).not.toContain('postgresql-client-common');
  });
});
