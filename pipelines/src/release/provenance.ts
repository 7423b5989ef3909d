import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import type { BuiltImage } from './images.js';

/** SLSA provenance v1 predicate of one build (the statement's subject is the image digest, added by cosign). */
export function slsaProvenance(
  image: BuiltImage,
  options: {
    readonly root: string;
    readonly repository: string;
    readonly builderId: string;
    readonly invocationId: string;
  },
): unknown {
  const lockfile = createHash('sha256')
    .update(readFileSync(join(options.root, 'package-lock.json')))
    .digest('hex');
  return {
    buildDefinition: {
      buildType: 'https://slipway.dev/build-types/buildah-reproducible/v1',
      externalParameters: {
        repository: options.repository,
        ref: image.source.commit,
        dockerfile: image.dockerfile,
        image: image.name,
        tag: image.tag,
      },
      internalParameters: {
        sourceDateEpoch: image.source.sourceDateEpoch,
        buildCommand: image.buildCommand,
        dirtyTree: image.source.dirty,
      },
      resolvedDependencies: [
        { uri: `git+${options.repository}@${image.source.commit}`, digest: { gitCommit: image.source.commit } },
        { uri: image.base.reference, digest: { sha256: image.base.digest.replace('sha256:', '') } },
        {
          uri: 'pipelines/src/release/base/base-image.lock.json',
          digest: { sha256: image.base.lockDigest.replace('sha256:', '') },
        },
        { uri: 'package-lock.json', digest: { sha256: lockfile } },
      ],
    },
    runDetails: {
      builder: { id: options.builderId },
      metadata: { invocationId: options.invocationId, startedOn: new Date().toISOString() },
    },
  };
}
