import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { call } from './support/auth.js';
import { startJobsRig } from './support/jobs.js';
import type { JobsRig } from './support/jobs.js';
import { waitFor } from './support/server-process.js';
import type { ServerProcess } from './support/server-process.js';

// Real worker processes against a private Redis and database; triggers make the worker's write slow or fail.
let rig: JobsRig;

beforeAll(async () => {
  rig = await startJobsRig('jobs-faults');
}, 60_000);

afterAll(async () => {
  await (rig as JobsRig | undefined)?.close();
});

async function jobState(orderId: string, jobId: string): Promise<string> {
  const reply = await rig.call('GET', `/api/v1/orders/${orderId}/invoice/jobs/${jobId}`, rig.customerToken);
  return String(reply.body.state);
}

async function requestInvoice(orderId: string): Promise<string> {
  const reply = await rig.call('POST', `/api/v1/orders/${orderId}/invoice`, rig.customerToken);
  expect(reply.status).toBe(202);
  return (reply.body.job as { id: string }).id;
}

async function stop(worker: ServerProcess, signal: NodeJS.Signals): Promise<{ code: number | null }> {
  worker.child.kill(signal);
  return worker.exited;
}

/** Makes every invoice write take `seconds`, standing in for a slow render. */
async function slowInvoices(seconds: number): Promise<void> {
  await rig.sql(`CREATE OR REPLACE FUNCTION slow_invoice() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_sleep(${seconds}); RETURN NEW; END $$`);
  await rig.sql('DROP TRIGGER IF EXISTS slow_invoice ON invoices');
  await rig.sql(
    'CREATE TRIGGER slow_invoice BEFORE INSERT OR UPDATE ON invoices FOR EACH ROW EXECUTE FUNCTION slow_invoice()',
  );
}

async function fastInvoices(): Promise<void> {
  await rig.sql('DROP TRIGGER IF EXISTS slow_invoice ON invoices');
}

describe('backpressure', () => {
  it('accepts 500 of 600 enqueues with no worker running, answers the rest 429 with Retry-After, then completes all 500', async () => {
    const orders = await rig.createOrders(600);
    const replies = await Promise.all(
      orders.map((orderId) =>
        call(rig.api.url, 'POST', `/api/v1/orders/${orderId}/invoice`, { token: rig.customerToken }),
      ),
    );
    const accepted = replies.filter((reply) => reply.status === 202);
    const refused = replies.filter((reply) => reply.status === 429);
    expect({ accepted: accepted.length, refused: refused.length }).toEqual({ accepted: 500, refused: 100 });
    for (const reply of refused) {
      expect(Number(reply.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(reply.body.error).toMatchObject({
        code: 'RATE_LIMITED',
        details: { queue: 'invoices', limit: 500 },
      });
    }

    const acceptedOrders = orders.filter((_orderId, index) => replies[index]?.status === 202);
    await Promise.all([rig.spawnWorker(), rig.spawnWorker()]);
    await waitFor(
      'all 500 accepted invoices to be stored',
      async () => {
        const [row] = await rig.sql('SELECT count(*)::int AS stored FROM invoices WHERE order_id = ANY($1::uuid[])', [
          acceptedOrders,
        ]);
        return row?.stored === 500 ? true : undefined;
      },
      120_000,
    );
    // Drained: the queue takes work again, and the answer names the drain rate it saw.
    const [next = ''] = await rig.createOrders(1);
    await requestInvoice(next);
  }, 180_000);
});

describe('a worker killed mid-job', () => {
  it('leaves the job to another worker after the stalled interval, and it completes once', async () => {
    // Workers from the test above stop first: each test picks who runs the job.
    await rig.stopWorkers();
    await slowInvoices(3);
    const first = await rig.spawnWorker();
    const [orderId = ''] = await rig.createOrders(1);
    const jobId = await requestInvoice(orderId);
    await waitFor('the job to be running', async () =>
      (await jobState(orderId, jobId)) === 'active' ? true : undefined,
    );
    expect((await stop(first, 'SIGKILL')).code).toBeNull();

    const second = await rig.spawnWorker();
    await waitFor(
      'the job to complete on the second worker',
      async () => ((await jobState(orderId, jobId)) === 'completed' ? true : undefined),
      30_000,
    );
    const completions = rig.workerLogs().filter((line) => line.jobId === jobId && line.msg === 'job completed');
    expect(completions).toHaveLength(1);
    expect(second.logs().some((line) => line.jobId === jobId && line.msg === 'job completed')).toBe(true);
    expect(await rig.sql('SELECT job_id FROM invoices WHERE order_id = $1', [orderId])).toEqual([{ job_id: jobId }]);
    await fastInvoices();
  }, 60_000);
});

describe('SIGTERM', () => {
  it('lets a 5-second job finish, takes no new job, and exits 0', async () => {
    await rig.stopWorkers();
    await slowInvoices(5);
    const worker = await rig.spawnWorker();
    const [orderId = '', later = ''] = await rig.createOrders(2);
    const jobId = await requestInvoice(orderId);
    await waitFor('the job to be running', async () =>
      (await jobState(orderId, jobId)) === 'active' ? true : undefined,
    );
    const signalledAt = Date.now();
    worker.child.kill('SIGTERM');
    await waitFor('the worker to begin its shutdown', () =>
      Promise.resolve(worker.logs().some((line) => String(line.msg).startsWith('worker stopping')) ? true : undefined),
    );
    const laterJob = await requestInvoice(later);
    const exit = await worker.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(Date.now() - signalledAt).toBeGreaterThan(2_000);
    expect(await jobState(orderId, jobId)).toBe('completed');
    expect(await jobState(later, laterJob)).toBe('waiting');
    expect(worker.logs().map((line) => line.msg)).toContain('running jobs finished');
    await fastInvoices();
  }, 60_000);
});

describe('Redis restarted with the append-only file on', () => {
  it('loses no accepted job', async () => {
    const durable = await startJobsRig('jobs-faults-aof', { appendOnly: true });
    try {
      const orders = await durable.createOrders(50);
      const accepted: string[] = [];
      for (const orderId of orders) {
        const reply = await durable.call('POST', `/api/v1/orders/${orderId}/invoice`, durable.customerToken);
        expect(reply.status).toBe(202);
        accepted.push(orderId);
      }
      await durable.redis.stop();
      await durable.redis.start();
      await durable.spawnWorker();
      await waitFor(
        'every accepted invoice to be stored after the restart',
        async () => {
          const [row] = await durable.sql(
            'SELECT count(*)::int AS stored FROM invoices WHERE order_id = ANY($1::uuid[])',
            [accepted],
          );
          return row?.stored === accepted.length ? true : undefined;
        },
        60_000,
      );
    } finally {
      await durable.close();
    }
  }, 120_000);
});
