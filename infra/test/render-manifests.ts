/**
 * `npm run render-manifests -w infra [stack…]`: writes each stack's Kubernetes objects to infra/generated/manifests/,
 * one stack per process (the Pulumi runtime holds one stack at a time).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { ENVIRONMENTS, type Environment } from '../src/config.js';
import { MANIFESTS_DIR, manifestsFile, renderManifests } from './support/manifests.js';
import { runStack } from './support/stack.js';

const requested = process.argv.slice(2);
const unknown = requested.filter((stack) => !(ENVIRONMENTS as readonly string[]).includes(stack));
if (unknown.length > 0) {
  process.stderr.write(`render-manifests: unknown stack ${unknown.join(', ')}; use ${ENVIRONMENTS.join(', ')}\n`);
  process.exit(2);
}
if (requested.length === 1) {
  const stack = requested[0] as Environment;
  mkdirSync(MANIFESTS_DIR, { recursive: true });
  writeFileSync(manifestsFile(stack), renderManifests(await runStack(stack)));
  process.stdout.write(`✓ ${stack}: ${manifestsFile(stack)}\n`);
} else {
  for (const stack of requested.length > 0 ? requested : ENVIRONMENTS) {
    const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), stack], {
      stdio: 'inherit',
    });
    if (child.status !== 0) process.exit(child.status ?? 1);
  }
}
