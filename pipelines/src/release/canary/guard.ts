/**
 * The release guard: a detached process `deploy` starts beside itself. When the executor dies mid-release (killed,
 * crashed) it puts every request back on the stable version and stops the canary, so no traffic is left on a
 * version nothing watches any more.
 *   node --import tsx guard.ts <scope> <executor pid>
 */
import { setTimeout as sleep } from 'node:timers/promises';

import { isAlive } from '../../platform/processes.js';
import { restoreStable } from './executor.js';
import { readRunning } from './store.js';

const [scope = '', pidText = ''] = process.argv.slice(2);
const executorPid = Number(pidText);
process.on('SIGTERM', () => process.exit(0));
for (;;) {
  const running = readRunning(scope);
  if (running?.executorPid !== executorPid) process.exit(0);
  if (!isAlive(executorPid)) {
    await restoreStable(
      scope,
      `the executor (pid ${String(executorPid)}) died mid-release; its guard put all traffic back on stable`,
    );
    process.exit(0);
  }
  await sleep(200);
}
