import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startJobsRig } from './support/jobs.js';
import type { JobsRig } from './support/jobs.js';
import { sampleValue, scrape } from './support/prometheus.js';
import { waitFor } from './support/server-process.js';

let rig: JobsRig;

beforeAll(async () => {
  rig = await startJobsRig('jobs-invoices');
}, 60_000);

afterAll(async () => {
  await (rig as JobsRig | undefined)?.close();
});

async function jobState(orderId: string, jobId: string): Promise<string> {
  const reply = await rig.call('GET', `/api/v1/orders/${orderId}/invoice/jobs/${jobId}`, rig.customerToken);
  expect(reply.status).toBe(200);
  return String(reply.body.state);
}

describe('invoices through the queue, rendered by a real worker process', () => {
  it('answers 202 with the job and its Location, 404 with the state until the PDF is stored, then the PDF', async () => {
    const [orderId = ''] = await rig.createOrders(1);
    const queued = await rig.call('POST', `/api/v1/orders/${orderId}/invoice`, rig.customerToken);
    expect(queued.status).toBe(202);
    const job = queued.body.job as { id: string; state: string; queue: string };
    expect(queued.body.created).toBe(true);
    expect(job).toMatchObject({ queue: 'invoices', state: 'waiting', attempts: 3, attempts_made: 0 });
    expect(queued.headers.get('location')).toBe(`/api/v1/orders/${orderId}/invoice/jobs/${job.id}`);

    const before = await rig.call('GET', `/api/v1/orders/${orderId}/invoice`, rig.customerToken);
    expect(before.status).toBe(404);
    expect(before.body.error).toMatchObject({ code: 'NOT_FOUND', details: { state: 'waiting', job_id: job.id } });

    // The same order while its job is pending: the pending job, not a second one.
    const again = await rig.call('POST', `/api/v1/orders/${orderId}/invoice`, rig.customerToken);
    expect(again.status).toBe(202);
    expect(again.body).toMatchObject({ created: false, job: { id: job.id } });

    await rig.spawnWorker();
    await waitFor('the invoice job to complete', async () =>
      (await jobState(orderId, job.id)) === 'completed' ? true : undefined,
    );
    const response = await fetch(`${rig.api.url}/api/v1/orders/${orderId}/invoice`, {
      headers: { Authorization: `Bearer ${rig.customerToken}` },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/pdf');
    const pdf = Buffer.from(await response.arrayBuffer());
    expect(pdf.subarray(0, 5).toString('latin1')).toBe('%PDF-');
    const [stored] = await rig.sql('SELECT job_id, octet_length(pdf) AS bytes FROM invoices WHERE order_id = $1', [
      orderId,
    ]);
    expect(stored).toEqual({ job_id: job.id, bytes: pdf.length });

    // Finished: a new request renders again under a new job.
    const later = await rig.call('POST', `/api/v1/orders/${orderId}/invoice`, rig.customerToken);
    expect(later.status).toBe(202);
    expect(later.body.created).toBe(true);
    expect((later.body.job as { id: string }).id).not.toBe(job.id);
  }, 60_000);

  it("answers 404 for someone else's order and for a job of another order", async () => {
    const [orderId = ''] = await rig.createOrders(1);
    const other = await rig.call('POST', `/api/v1/orders/${orderId}/invoice`, rig.adminToken);
    expect(other.status).toBe(202);
    const [second = ''] = await rig.createOrders(1);
    const wrong = await rig.call(
      'GET',
      `/api/v1/orders/${second}/invoice/jobs/${(other.body.job as { id: string }).id}`,
      rig.customerToken,
    );
    expect(wrong.status).toBe(404);
    const stranger = await rig.call('POST', `/api/v1/orders/${orderId}/invoice`, undefined);
    expect(stranger.status).toBe(401);
  });
});

describe('the dead-letter set', () => {
  it('takes a job that always fails after 3 attempts with growing delays; a retry after the fix completes it', async () => {
    const [orderId = ''] = await rig.createOrders(1);
    // The cause: the database refuses every invoice write until the trigger is dropped.
    await rig.sql(`CREATE FUNCTION refuse_invoice() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'invoice storage is down'; END $$`);
    await rig.sql(
      'CREATE TRIGGER refuse_invoice BEFORE INSERT OR UPDATE ON invoices FOR EACH ROW EXECUTE FUNCTION refuse_invoice()',
    );
    await rig.spawnWorker();
    const queued = await rig.call('POST', `/api/v1/orders/${orderId}/invoice`, rig.customerToken);
    const jobId = (queued.body.job as { id: string }).id;
    await waitFor(
      'the job to be dead-lettered',
      async () => ((await jobState(orderId, jobId)) === 'dead_lettered' ? true : undefined),
      30_000,
    );

    const attempts = rig
      .workerLogs()
      .filter((line) => line.jobId === jobId && typeof line.msg === 'string' && line.msg.startsWith('job '))
      .map((line) => ({ time: Date.parse(String(line.time)), msg: String(line.msg) }));
    expect(attempts.map((line) => line.msg)).toEqual([
      'job attempt failed; retrying after backoff',
      'job attempt failed; retrying after backoff',
      'job dead-lettered: out of attempts',
    ]);
    const [first, second, third] = attempts.map((line) => line.time);
    // Exponential: 300 ms, then 600 ms (JOB_BACKOFF_MS=300).
    expect(Number(second) - Number(first)).toBeGreaterThanOrEqual(300);
    expect(Number(third) - Number(second)).toBeGreaterThanOrEqual(600);
    expect(Number(third) - Number(second)).toBeGreaterThan(Number(second) - Number(first));

    const listed = await rig.call('GET', '/api/v1/jobs/invoices/dead-letter', rig.adminToken);
    expect(listed.status).toBe(200);
    expect(listed.body.items).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          id: jobId,
          state: 'dead_lettered',
          attempts_made: 3,
        }),
      ]),
    );
    const listedJob = (listed.body.items as { id: string; failed_reason?: string }[]).find((item) => item.id === jobId);
    expect(listedJob?.failed_reason).toBeTruthy();
    expect((await rig.call('GET', '/api/v1/jobs/invoices/dead-letter', rig.customerToken)).status).toBe(403);

    const invoices = { queue: 'invoices' };
    expect(await rig.workerMetric('job_failures_total', { ...invoices, reason: 'error' })).toBe(3);
    expect(await rig.workerMetric('job_retries_total', invoices)).toBe(2);
    expect(await rig.workerMetric('jobs_dead_lettered_total', invoices)).toBe(1);
    // Every worker reads the same depth from Redis; monitoring takes the max over them.
    const [firstWorker] = rig.workerUrls();
    expect(
      sampleValue(await scrape(firstWorker ?? ''), 'jobs_queue_depth', { ...invoices, state: 'dead_lettered' }),
    ).toBe(1);

    await rig.sql('DROP TRIGGER refuse_invoice ON invoices');
    const retried = await rig.call('POST', `/api/v1/jobs/invoices/dead-letter/${jobId}/retry`, rig.adminToken);
    expect(retried.status).toBe(200);
    await waitFor('the retried job to complete', async () =>
      (await jobState(orderId, jobId)) === 'completed' ? true : undefined,
    );
    expect(await rig.sql('SELECT 1 FROM invoices WHERE order_id = $1', [orderId])).toHaveLength(1);
    expect(
      await rig.workerMetric('job_duration_seconds_count', { ...invoices, result: 'completed' }),
    ).toBeGreaterThanOrEqual(2);

    const audited = await rig.sql(
      "SELECT event_type, resource_id FROM audit_logs WHERE event_type LIKE 'jobs.%' ORDER BY id",
    );
    expect(audited).toEqual(
      expect.arrayContaining([
        { event_type: 'jobs.dead_letter.read', resource_id: 'invoices' },
        { event_type: 'jobs.job.retried', resource_id: `invoices:${jobId}` },
      ]),
    );
    // Not dead-lettered any more: retrying or discarding it again is a 404 naming its state.
    const gone = await rig.call('DELETE', `/api/v1/jobs/invoices/dead-letter/${jobId}`, rig.adminToken);
    expect(gone.status).toBe(404);
    expect(gone.body.error).toMatchObject({ details: { state: 'completed' } });
  }, 60_000);
});
