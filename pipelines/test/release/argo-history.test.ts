import { rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';

import { afterAll, describe, expect, it } from 'vitest';

import { scopeDir } from '../../src/platform/paths.js';
import { argoHistoryServer, recordedRuns, RUN_HISTORY_LIMIT } from '../../src/platform/services/argo-rollouts.js';
import { saveRecord } from '../../src/release/canary/store.js';
import type { GateVerdict, ReleaseRecord } from '../../src/release/release-record.js';

const scope = `argo-history-${String(process.pid)}`;

afterAll(() => rmSync(scopeDir(scope), { recursive: true, force: true }));

/** A finished (or running) release of `hash` whose one gated stage ended with `verdicts`. */
function release(hash: string, outcome: ReleaseRecord['outcome'], verdicts: readonly GateVerdict[]): ReleaseRecord {
  const at = '2026-12-05T00:00:00.000Z';
  return {
    schemaVersion: 1,
    id: `20261205T0000${hash.slice(0, 2)}Z-${hash.slice(0, 8)}`,
    plan: 'erp-api-canary',
    profile: 'test',
    canary: { digest: `sha256:${hash.padEnd(64, '0')}`, namespace: 'local', podTemplateHash: hash },
    startedAt: at,
    outcome,
    stages: [
      {
        index: 1,
        weight: 10,
        startedAt: at,
        gates: verdicts.map((verdict, n) => ({
          kind: 'slo' as const,
          name: n === 0 ? 'availability' : 'latency',
          verdict,
          startedAt: at,
          finishedAt: at,
          numbers: {},
          detail: '',
        })),
      },
    ],
    timings: {},
  };
}

describe("the platform's Argo Rollouts history", () => {
  it('keeps the runs of finished releases, newest first, up to the controller history limits', () => {
    const records = [
      ...Array.from({ length: 7 }, (_, n) => release(`${String(10 + n)}aaaaaaaa`, 'promoted', ['passed', 'passed'])),
      release('90bbbbbbbb', 'rolled-back', ['passed', 'failed']),
      release('91cccccccc', 'running', ['passed']),
    ];
    const runs = recordedRuns(records);
    expect(runs[0]).toEqual({
      namespace: 'local',
      name: 'erp-api-90bbbbbbbb-1',
      phase: 'Failed',
      metrics: { availability: 'Successful', latency: 'Failed' },
    });
    expect(runs.filter((run) => run.phase === 'Successful')).toHaveLength(RUN_HISTORY_LIMIT);
    expect(runs.map((run) => run.name)).not.toContain('erp-api-91cccccccc-1');
    expect(runs.map((run) => run.name)).not.toContain('erp-api-10aaaaaaaa-1');
  });

  it('serves them under the controller metric names, read from the records at each scrape', async () => {
    const server = argoHistoryServer(scope);
    await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
    const url = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}/metrics`;
    try {
      expect(await (await fetch(url)).text()).not.toMatch(/^analysis_run_info\{/m);
      saveRecord(scope, release('42dddddddd', 'rolled-back', ['inconclusive']));
      const text = await (await fetch(url)).text();
      expect(text).toContain('analysis_run_info{namespace="local",name="erp-api-42dddddddd-1",phase="Inconclusive"} 1');
      expect(text).toContain(
        'analysis_run_metric_phase{namespace="local",name="erp-api-42dddddddd-1",metric="availability",type="Prometheus",phase="Inconclusive"} 1',
      );
      // the Rollout's own phase is the executor's to export while a release runs
      expect(text).not.toMatch(/^rollout_info\{/m);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
