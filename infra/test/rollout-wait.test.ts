/**
 * The waiter `pulumi up` runs after a Rollout change, run as the Job runs it (`node --eval`), against an HTTP
 * server that answers the Rollout GET the way the Kubernetes API does, one recorded status after another.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, test } from 'vitest';

import { ROLLOUT_WAIT_SCRIPT } from '../src/rollout-wait.js';

const TOKEN = 'stand-in-service-account-token';

/** A Rollout as the API returns it: generation 7 applied, status as the controller last wrote it. */
function rollout(status: Record<string, unknown>) {
  return { apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', metadata: { name: 'erp-api', generation: 7 }, status };
}
// What the API answers right after `pulumi up` applied generation 7: the previous revision, Healthy.
const STALE = rollout({ observedGeneration: '6', phase: 'Healthy', stableRS: 'aaaa', currentPodHash: 'aaaa' });
const CANARY = rollout({
  observedGeneration: '7',
  phase: 'Paused',
  stableRS: 'aaaa',
  currentPodHash: 'bbbb',
  currentStepIndex: 1,
});

async function waitAgainst(statuses: readonly unknown[]): Promise<{ code: number | null; output: string }> {
  let served = 0;
  const server = createServer((request, response) => {
    if (request.url !== '/apis/argoproj.io/v1alpha1/namespaces/erp/rollouts/erp-api') {
      response.writeHead(404).end();
      return;
    }
    if (request.headers.authorization !== `Bearer ${TOKEN}`) {
      response.writeHead(401).end();
      return;
    }
    const body = statuses[Math.min(served, statuses.length - 1)];
    served += 1;
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const tokenFile = join(mkdtempSync(join(tmpdir(), 'rollout-wait-')), 'token');
  writeFileSync(tokenFile, `${TOKEN}\n`);
  try {
    const { port } = server.address() as AddressInfo;
    const child = spawn(process.execPath, ['--input-type=module', '--eval', ROLLOUT_WAIT_SCRIPT], {
      env: {
        PATH: process.env.PATH,
        NAMESPACE: 'erp',
        ROLLOUT: 'erp-api',
        KUBE_API_URL: `http://127.0.0.1:${port}`,
        TOKEN_FILE: tokenFile,
        POLL_SECONDS: '0.02',
      },
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    return { code, output };
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
}

describe('the rollout waiter', () => {
  test('does not take the previous revision’s Healthy for the new one, and exits 0 once it is promoted', async () => {
    const promoted = rollout({ observedGeneration: '7', phase: 'Healthy', stableRS: 'bbbb', currentPodHash: 'bbbb' });
    const { code, output } = await waitAgainst([STALE, STALE, CANARY, CANARY, promoted]);
    expect(output.trim().split('\n')).toEqual([
      'rollout erp/erp-api: the controller has not observed generation 7 yet (observed 6)',
      'rollout erp/erp-api: generation 7 is Paused, step 1',
      'rollout erp/erp-api: generation 7 is promoted: pod-template hash bbbb is stable',
    ]);
    expect(code).toBe(0);
  });

  test('exits 1 with the controller’s message when the canary aborts', async () => {
    const aborted = rollout({
      observedGeneration: '7',
      phase: 'Degraded',
      abort: true,
      stableRS: 'aaaa',
      currentPodHash: 'bbbb',
      message: 'RolloutAborted: Rollout aborted update to revision 7: Metric "slo-latency" assessed Failed',
    });
    const { code, output } = await waitAgainst([STALE, CANARY, aborted]);
    expect(output.trim().split('\n').at(-1)).toBe(
      'rollout erp/erp-api: generation 7 was aborted: RolloutAborted: Rollout aborted update to revision 7: Metric "slo-latency" assessed Failed',
    );
    expect(code).toBe(1);
  });
});
