/** `npm run render-pulumi-config -w infra`: rewrites Pulumi.yaml's config block from CONFIG_KEYS. */
import { readFileSync, writeFileSync } from 'node:fs';

import { PULUMI_YAML, renderPulumiYaml } from './support/pulumi-project.js';

const before = readFileSync(PULUMI_YAML, 'utf8');
const after = renderPulumiYaml(before);
writeFileSync(PULUMI_YAML, after);
process.stdout.write(`${before === after ? '= unchanged' : '✓ rewritten'}: ${PULUMI_YAML}\n`);
