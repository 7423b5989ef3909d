/** `npm run generate-crd-types -w infra`: writes the types of infra/generated/crds/ from the vendored CRDs. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { CRD_TYPES, CRD_TYPES_DIR, crdTypeSource } from './support/crd-types.js';

for (const type of CRD_TYPES) {
  const target = join(CRD_TYPES_DIR, type.output);
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, await crdTypeSource(type));
  process.stdout.write(`✓ ${type.file} ${type.version}: ${target}\n`);
}
