import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

/** True when the module at moduleUrl is the script Node was started with (not imported by a test or another module). */
export function isEntryPoint(moduleUrl: string): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    // eslint-disable-next-line security/detect-non-literal-fs-filename -- argv[1] is the script Node was started with
    return moduleUrl === pathToFileURL(realpathSync(entry)).href;
  } catch {
    return false;
  }
}
