import { createServer } from 'node:http';
import type { Server } from 'node:http';

import { Queue, Worker } from 'bullmq';
import type { Job } from 'bullmq';
import { Redis } from 'ioredis';
import { createTransport } from 'nodemailer';
import type { Transporter } from 'nodemailer';

import { ANY_OWNER, createOrderService } from '../components/catalog/orders/service.js';
import { EMAIL_JOB, dueOutboxIds, sendOutboxMail } from '../components/email/outbox.js';
import { renderInvoicePdf } from '../components/invoices/pdf.js';
import { orderOwnerEmail, storeInvoice } from '../components/invoices/repository.js';
import {
  QUEUE_PREFIX,
  jobOptions,
  queueConnectionOptions,
  recordDrained,
  releaseIdempotencyKey,
} from '../components/jobs/queues.js';
import { QUEUE_NAMES } from '../components/jobs/queues.js';
import type { QueueName } from '../components/jobs/queues.js';
import type { Config } from '../config.js';
import { assertMigrationsApplied } from '../db/migrations.js';
import { createDatabase, databaseSettings } from '../db/pool.js';
import type { Database } from '../db/pool.js';
import { isEntryPoint } from './entry-point.js';
import { exitIfMigrationsPending, loadEntryPointConfig, shutDownOnSignals } from '../lifecycle.js';
import { createLogger } from '../logger.js';
import type { Logger } from '../logger.js';
import { Metrics } from '../observability/metrics.js';
import type { QueueSnapshot } from '../observability/metrics.js';

/** The scheduler that makes one worker scan the outbox every EMAIL_OUTBOX_POLL_MS. */
const OUTBOX_SCHEDULER_ID = 'email-outbox-scan';

/** One attempt ran longer than JOB_TIMEOUT_MS; the queue counts it as a failed attempt. */
export class JobTimeoutError extends Error {
  override readonly name = 'JobTimeoutError';
}

/** Runs `work` and rejects with {@link JobTimeoutError} after `timeoutMs`; `signal` tells the work to give up. */
async function withTimeout<T>(timeoutMs: number, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new JobTimeoutError(`the attempt ran longer than JOB_TIMEOUT_MS (${timeoutMs} ms)`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([work(controller.signal), expired]);
  } finally {
    clearTimeout(timer);
  }
}

export interface RunningWorker {
  /** Where /health/live, /health/ready and /metrics answer. */
  readonly url: string;
  /**
   * Stops taking jobs, lets the running ones finish within SHUTDOWN_TIMEOUT_MS and closes every connection;
   * false when running jobs had to be abandoned (another worker picks them up after the stalled interval).
   */
  shutdown(reason: string): Promise<boolean>;
}

/** The invoice job: render the order's PDF and store it. */
function invoiceProcessor(db: Database) {
  const orders = createOrderService(db);
  return async (job: Job): Promise<{ bytes: number }> => {
    const { orderId } = job.data as { orderId: string };
    const order = await orders.getOrder(ANY_OWNER, orderId);
    const pdf = await renderInvoicePdf(order, { customerEmail: (await orderOwnerEmail(db, orderId)) ?? 'unknown' });
    await storeInvoice(db, orderId, job.id ?? '', pdf);
    return { bytes: pdf.length };
  };
}

/** The email jobs: a scan queues each due outbox row once (its job id is the row's), a send delivers one. */
function emailProcessor(db: Database, queue: Queue, transport: Transporter | undefined, config: Config) {
  return async (job: Job): Promise<unknown> => {
    if (job.name === EMAIL_JOB.scanOutbox) {
      const ids = await dueOutboxIds(db);
      // A row already queued (waiting, running or dead-lettered) keeps its one job: BullMQ ignores a known id.
      await queue.addBulk(
        ids.map((id) => ({ name: EMAIL_JOB.send, data: { outboxId: id }, opts: { jobId: `email-${id}` } })),
      );
      return { queued: ids.length };
    }
    if (transport === undefined) throw new Error('SMTP_URL is empty; set it so the worker can send mail');
    const { outboxId } = job.data as { outboxId: string };
    return { outcome: await sendOutboxMail(db, transport, config.mailFrom, outboxId) };
  };
}

/** Depth by state and the oldest waiting job's age: BullMQ adds at the head of `wait` and takes from its tail. */
async function snapshotOf(name: QueueName, queue: Queue, redis: Redis): Promise<QueueSnapshot> {
  const counts = await queue.getJobCounts('waiting', 'prioritized', 'delayed', 'active', 'failed');
  const oldestId = await redis.lindex(`${QUEUE_PREFIX}:${name}:wait`, -1);
  const createdAt = oldestId === null ? null : await redis.hget(`${QUEUE_PREFIX}:${name}:${oldestId}`, 'timestamp');
  return {
    queue: name,
    depth: {
      waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0),
      delayed: counts.delayed ?? 0,
      active: counts.active ?? 0,
      dead_lettered: counts.failed ?? 0,
    },
    oldestWaitingAgeSeconds: createdAt === null ? 0 : Math.max(0, (Date.now() - Number(createdAt)) / 1000),
  };
}

/** Connects, checks the schema, starts a BullMQ worker per queue and a small HTTP server for probes and metrics. */
export async function startWorker(config: Config, logger: Logger): Promise<RunningWorker> {
  const db = createDatabase(databaseSettings(config), logger);
  try {
    await assertMigrationsApplied(db.pool);
  } catch (error) {
    await db.end().catch(() => undefined);
    throw error;
  }
  const connection = new Redis(config.redisUrl, queueConnectionOptions('erp-api-worker'));
  let redisDown = false;
  connection.on('error', (error) => {
    if (redisDown) return;
    redisDown = true;
    logger.warn({ err: error }, 'redis unavailable; the worker reconnects and resumes by itself');
  });
  connection.on('ready', () => {
    redisDown = false;
  });
  const metrics = new Metrics();
  const queues: Readonly<Record<QueueName, Queue>> = {
    invoices: new Queue('invoices', { connection, prefix: QUEUE_PREFIX, defaultJobOptions: jobOptions(config) }),
    email: new Queue('email', { connection, prefix: QUEUE_PREFIX, defaultJobOptions: jobOptions(config) }),
  };
  const emailQueue = queues.email;
  metrics.observeQueues(() => Promise.all(QUEUE_NAMES.map((queue) => snapshotOf(queue, queues[queue], connection))));
  const transport = config.smtpUrl === undefined ? undefined : createTransport(config.smtpUrl);
  const { jobs } = config;

  const workerFor = (queue: QueueName, process: (job: Job) => Promise<unknown>): Worker => {
    const attempt = async (job: Job): Promise<unknown> => {
      const started = performance.now();
      try {
        const result = await withTimeout(jobs.timeoutMs, () => process(job));
        metrics.jobAttempt(queue, 'completed', (performance.now() - started) / 1000);
        return result;
      } catch (error) {
        metrics.jobAttempt(queue, 'failed', (performance.now() - started) / 1000);
        throw error;
      }
    };
    const worker = new Worker(queue, attempt, {
      connection,
      prefix: QUEUE_PREFIX,
      concurrency: jobs.concurrency,
      stalledInterval: jobs.stalledIntervalMs,
      // A killed worker's lock lapses after this, and the next stalled check hands its job to another worker.
      lockDuration: jobs.stalledIntervalMs,
      maxStalledCount: 1,
      autorun: false,
    });
    const finished = async (job: Job): Promise<void> => {
      await recordDrained(connection, queue).catch(() => undefined);
      const key = (job.data as { idempotencyKey?: unknown }).idempotencyKey;
      if (typeof key === 'string' && job.id !== undefined) {
        await releaseIdempotencyKey(connection, queue, key, job.id).catch(() => undefined);
      }
    };
    worker.on('completed', (job) => {
      logger.info({ queue, jobId: job.id, name: job.name, attemptsMade: job.attemptsMade }, 'job completed');
      void finished(job);
    });
    worker.on('failed', (job, error) => {
      if (job === undefined) return;
      const attempts = job.opts.attempts ?? 1;
      const last = job.attemptsMade >= attempts || job.finishedOn !== undefined;
      logger.warn(
        { queue, jobId: job.id, name: job.name, attemptsMade: job.attemptsMade, attempts, err: error },
        last ? 'job dead-lettered: out of attempts' : 'job attempt failed; retrying after backoff',
      );
      metrics.jobFailed(queue, error instanceof JobTimeoutError ? 'timeout' : 'error', !last);
      if (last) void finished(job);
    });
    worker.on('stalled', (jobId) => {
      metrics.jobStalled(queue);
      logger.warn({ queue, jobId }, 'job stalled: its worker stopped; running it again');
    });
    worker.on('error', (error) => logger.error({ queue, err: error }, 'worker error'));
    return worker;
  };

  const workers = [
    workerFor('invoices', invoiceProcessor(db)),
    workerFor('email', emailProcessor(db, emailQueue, transport, config)),
  ];
  if (transport === undefined) {
    logger.warn('SMTP_URL is empty: email_outbox rows stay unsent');
  } else {
    await emailQueue.upsertJobScheduler(
      OUTBOX_SCHEDULER_ID,
      { every: jobs.outboxPollMs },
      { name: EMAIL_JOB.scanOutbox, opts: { attempts: 1, removeOnComplete: true, removeOnFail: true } },
    );
  }

  let stopping = false;
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (path === '/health/live') {
      response.writeHead(200, { 'Content-Type': 'application/json' }).end('{"status":"up"}\n');
    } else if (path === '/health/ready') {
      const ready = !stopping && connection.status === 'ready';
      response
        .writeHead(ready ? 200 : 503, { 'Content-Type': 'application/json' })
        .end(`${JSON.stringify({ status: ready ? 'up' : 'down' })}\n`);
    } else if (path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => response.writeHead(200, { 'Content-Type': metrics.registry.contentType }).end(text),
        () => response.writeHead(500).end(),
      );
    } else {
      response.writeHead(404, { 'Content-Type': 'application/json' }).end('{"error":"not found"}\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const url = `http://${config.host}:${typeof address === 'object' && address !== null ? address.port : config.port}`;
  for (const worker of workers) void worker.run();
  logger.info(
    { url, queues: workers.map((worker) => worker.name), concurrency: jobs.concurrency },
    'worker started; taking jobs',
  );

  const shutdown = async (reason: string): Promise<boolean> => {
    stopping = true;
    logger.info({ reason, timeoutMs: config.shutdownTimeoutMs }, 'worker stopping: no new jobs; running ones finish');
    const closed = Promise.all(workers.map((worker) => worker.close())).then(() => true);
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), config.shutdownTimeoutMs);
    });
    const finished = await Promise.race([closed, expired]);
    clearTimeout(timer);
    if (finished) {
      logger.info('running jobs finished');
    } else {
      logger.warn(
        { timeoutMs: config.shutdownTimeoutMs },
        'running jobs did not finish in time; abandoning them to the stalled check of another worker',
      );
      await Promise.all(workers.map((worker) => worker.close(true).catch(() => undefined)));
    }
    await Promise.all(Object.values(queues).map((queue) => queue.close().catch(() => undefined)));
    connection.disconnect();
    transport?.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await db.end().catch(() => undefined);
    logger.info('worker stopped');
    return finished;
  };
  return { url, shutdown };
}

/** The entry point (`erp-api worker`): validate config, take jobs, and stop gracefully on SIGTERM or SIGINT. */
export async function main(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const config = loadEntryPointConfig(env);
  if (config === undefined) return;
  const logger = createLogger(config);
  let running: RunningWorker;
  try {
    running = await startWorker(config, logger);
  } catch (error) {
    exitIfMigrationsPending(error, logger);
    logger.fatal({ err: error }, 'worker could not start; check DATABASE_URL, REDIS_URL, HOST and PORT');
    process.exit(1);
  }
  shutDownOnSignals(logger, (signal) => running.shutdown(signal));
}

if (isEntryPoint(import.meta.url)) {
  main().catch((error: unknown) => {
    process.stderr.write(
      `erp-api worker failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  });
}
