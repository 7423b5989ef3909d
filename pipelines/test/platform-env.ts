import { ALL_PORT_VARIABLES } from '../src/platform/local.js';
import { freePort } from '../src/platform/ports.js';

/** A free port for every port variable of the local platform, so a test's `npm start` collides with nothing. */
export async function freePlatformPorts(): Promise<Record<(typeof ALL_PORT_VARIABLES)[number], string>> {
  const ports: Partial<Record<(typeof ALL_PORT_VARIABLES)[number], string>> = {};
  for (const variable of ALL_PORT_VARIABLES) ports[variable] = String(await freePort());
  return ports as Record<(typeof ALL_PORT_VARIABLES)[number], string>;
}
