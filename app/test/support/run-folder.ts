/* eslint-disable security/detect-non-literal-fs-filename -- paths are the test run folder under .local/test, built by the tests */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

import type { PlatformState, ServiceRecord } from '@slipway/pipelines/platform/supervisor';

/**
 * Marks a `run-*` folder as in use by this process while its supervisor has no state file (before the first
 * service is up, and between stopping and starting one again). The harness's sweep removes run folders whose
 * state file is missing, even while another run is still initialising them; a state file naming a live
 * supervisor keeps them. A Supervisor overwrites it on start.
 *
 * `services` are processes started without a Supervisor (nginx): listed here, the sweep stops them if this
 * worker dies before its afterAll. Given, they replace what the file lists.
 */
export function claimRunFolder(stateFile: string, services?: readonly ServiceRecord[]): void {
  if (services === undefined && existsSync(stateFile)) return;
  mkdirSync(dirname(stateFile), { recursive: true });
  const state: PlatformState = {
    supervisorPid: process.pid,
    startedAt: new Date().toISOString(),
    services: [...(services ?? [])],
  };
  writeFileSync(stateFile, `${JSON.stringify(state, null, 2)}\n`);
}
