import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { ServiceDefinition } from '../platform/supervisor.js';
import { isLoopbackRegistry } from './cosign.js';
import { EXIT, ReleaseError } from './errors.js';
import { runOk } from './exec.js';
import type { BuiltImage } from './images.js';

export interface RegistryOptions {
  readonly dir: string;
  readonly host: string;
  readonly port: number;
  readonly portEnv: string;
}

/**
 * Debian's docker-registry (the CNCF distribution registry 2.8) on loopback. Plain HTTP: it listens on 127.0.0.1
 * only, so nothing leaves the machine, and the integrity of what it serves is checked by digest and cosign
 * signatures, not by the transport.
 */
export function registryService(options: RegistryOptions): ServiceDefinition {
  const { host, port } = options;
  const config = join(options.dir, 'config.yml');
  return {
    name: 'registry',
    host,
    port,
    portEnv: options.portEnv,
    url: `http://${host}:${port}`,
    command: 'docker-registry',
    args: ['serve', config],
    stopSignal: 'SIGTERM',
    prepare(): Promise<void> {
      mkdirSync(join(options.dir, 'data'), { recursive: true });
      writeFileSync(
        config,
        [
          'version: 0.1',
          'log:',
          '  level: warn',
          'storage:',
          '  filesystem:',
          `    rootdirectory: ${join(options.dir, 'data')}`,
          '  delete:',
          '    enabled: true',
          'http:',
          `  addr: ${host}:${port}`,
          '',
        ].join('\n'),
      );
      return Promise.resolve();
    },
    async probe(): Promise<void> {
      const response = await fetch(`http://${host}:${port}/v2/`, { signal: AbortSignal.timeout(2_000) });
      if (response.status !== 200) throw new Error(`/v2/ answered ${response.status}`);
    },
  };
}

/** `host:port/name`: where an image lives in the registry. */
export const repositoryIn = (registry: string, name: string): string => `${registry}/${name}`;

/** Pushes a built image from its OCI layout to the registry under its tag; the digest cannot change on the way. */
export async function pushImage(image: BuiltImage, registry: string, repository = image.name): Promise<string> {
  if (!/^[\w.-]+:\d+$/.test(registry) && !/^[\w.-]+$/.test(registry)) {
    throw new ReleaseError(
      `registry ${JSON.stringify(registry)} is not host[:port]`,
      'pass --registry 127.0.0.1:5000',
      EXIT.usage,
    );
  }
  await runOk(
    'skopeo',
    [
      'copy',
      '--quiet',
      '--preserve-digests',
      // plain HTTP only to the loopback registry of npm start; any other registry (GHCR) over verified TLS
      `--dest-tls-verify=${String(!isLoopbackRegistry(`${registry}/`))}`,
      `oci:${image.layout}:${image.tag}`,
      `docker://${repositoryIn(registry, repository)}:${image.tag}`,
    ],
    `pushing ${image.name}:${image.tag} to ${registry}`,
  );
  return `${repositoryIn(registry, repository)}@${image.digest}`;
}
