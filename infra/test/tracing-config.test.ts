import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, test } from 'vitest';
import { stringify } from 'yaml';

import { toolPath } from '@slipway/pipelines/platform/tools';
import { jaegerClusterConfig } from '../src/components/tracing.js';

const dir = mkdtempSync(join(tmpdir(), 'slipway-jaeger-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `jaeger validate`: the pinned Jaeger v2 (scripts/bootstrap) loads the config and every component it names. */
function validate(config: unknown): { status: number | null; output: string } {
  const file = join(dir, `config-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, stringify(config));
  const result = spawnSync(toolPath('jaeger'), ['validate', '--config', file], { encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe("the cluster's Jaeger configuration", () => {
  test('is one the pinned Jaeger v2 accepts: Badger with a span TTL, OTLP/HTTP in, the query API', () => {
    const result = validate(jaegerClusterConfig(72));
    expect(result.output).not.toMatch(/error/i);
    expect(result.status).toBe(0);
  });

  test('a retention Jaeger cannot read is refused, so the check above can fail', () => {
    const config = jaegerClusterConfig(72) as { extensions: { jaeger_storage: { backends: { spans: unknown } } } };
    const broken = structuredClone(config);
    broken.extensions.jaeger_storage.backends.spans = {
      badger: { ephemeral: false, ttl: { spans: 'three days' } },
    };
    expect(validate(broken).status).not.toBe(0);
  });
});
