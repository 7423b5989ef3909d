import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { localDir } from '../platform/paths.js';
import { EXIT, ReleaseError } from './errors.js';
import type { BuiltImage } from './images.js';

/** What `build` leaves for scan, sign, push and verify: one record per image, by digest. */
const recordFile = (name: string): string => join(localDir, 'release', 'builds', `${name.replace('/', '+')}.json`);

export function writeBuildRecord(image: BuiltImage): void {
  mkdirSync(join(localDir, 'release', 'builds'), { recursive: true });
  writeFileSync(recordFile(image.name), `${JSON.stringify(image, null, 2)}\n`);
}

export function readBuildRecordIfAny(name: string): BuiltImage | undefined {
  const file = recordFile(name);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as BuiltImage) : undefined;
}

export function readBuildRecord(name: string): BuiltImage {
  const file = recordFile(name);
  if (!existsSync(file)) {
    throw new ReleaseError(
      `${name} has not been built in this checkout (${file} is missing)`,
      'run npm run release -- build',
      EXIT.usage,
    );
  }
  return JSON.parse(readFileSync(file, 'utf8')) as BuiltImage;
}
