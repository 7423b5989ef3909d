import { randomUUID } from 'node:crypto';

import { Queue } from 'bullmq';
import type { Job, JobsOptions } from 'bullmq';
import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';

import type { Config } from '../../config.js';
import { NotFoundError, RateLimitError, ServiceUnavailableError } from '../../errors.js';
import { JOB_QUEUES } from '../../observability/metric-catalogue.js';
import type { JobQueueName } from '../../observability/metric-catalogue.js';

/** The queues the worker serves; the API only adds to them. The metric catalogue names them. */
export const QUEUE_NAMES = JOB_QUEUES;
export type QueueName = JobQueueName;

/** Every key BullMQ writes starts with this, beside the service's other `erp-api:` keys. */
export const QUEUE_PREFIX = 'erp-api:jobs';

/** What a client sees of a job's life; BullMQ's `failed` after the last attempt is the dead-letter set. */
export const JOB_STATES = ['waiting', 'delayed', 'active', 'completed', 'dead_lettered', 'unknown'] as const;
export type JobStateName = (typeof JOB_STATES)[number];

/** Seconds of completions the drain rate is computed over, in buckets of {@link DRAIN_BUCKET_SECONDS}. */
const DRAIN_WINDOW_SECONDS = 60;
const DRAIN_BUCKET_SECONDS = 10;
/** Retry-After when nothing drained in the window (no worker running): a few minutes, not a tight retry loop. */
const IDLE_RETRY_AFTER_SECONDS = 300;
// An idempotency key outlives any pending job; it is dropped when the job finishes.
const IDEMPOTENCY_TTL_MS = 7 * 86_400_000;
// A reservation is released right after the add; this only bounds one leaked by a crash in between.
const RESERVATION_TTL_SECONDS = 60;

/**
 * Admission, atomically: an existing pending job for the idempotency key wins; otherwise the waiting jobs plus
 * the adds in flight are compared with the limit, and a slot is reserved. Returns {1, id} | {0, waiting} | {2, id}.
 */
const ADMIT_SCRIPT = `
local existing = redis.call('GET', KEYS[1])
if existing then return {1, existing} end
local waiting = redis.call('LLEN', KEYS[2]) + redis.call('LLEN', KEYS[3]) + redis.call('ZCARD', KEYS[4])
  + (tonumber(redis.call('GET', KEYS[5])) or 0)
if waiting >= tonumber(ARGV[1]) then return {0, tostring(waiting)} end
redis.call('INCR', KEYS[5])
redis.call('EXPIRE', KEYS[5], ARGV[4])
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return {2, ARGV[2]}
`;
/** Drops an idempotency key only while it still names `ARGV[1]`, so a newer job's key survives. */
const RELEASE_KEY_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/** BullMQ's own keys of a queue, for the admission script. */
function queueKey(queue: QueueName, suffix: string): string {
  return `${QUEUE_PREFIX}:${queue}:${suffix}`;
}

/** Where a job's idempotency key lives, e.g. one per order for invoices. */
export function idempotencyKey(queue: QueueName, key: string): string {
  return `${QUEUE_PREFIX}:${queue}:idempotency:${key}`;
}

function drainBucketKey(queue: QueueName, bucket: number): string {
  return `${QUEUE_PREFIX}:${queue}:drained:${bucket}`;
}

/**
 * Counts one finished job towards the queue's drain rate (the worker calls it), in 10-second buckets kept
 * twice the window.
 */
export async function recordDrained(redis: Redis, queue: QueueName, now = Date.now()): Promise<void> {
  const key = drainBucketKey(queue, Math.floor(now / 1000 / DRAIN_BUCKET_SECONDS));
  await redis
    .multi()
    .incr(key)
    .expire(key, DRAIN_WINDOW_SECONDS * 2)
    .exec();
}

/** Drops the idempotency key of a finished job when it still names that job. */
export async function releaseIdempotencyKey(redis: Redis, queue: QueueName, key: string, jobId: string): Promise<void> {
  await redis.eval(RELEASE_KEY_SCRIPT, 1, idempotencyKey(queue, key), jobId);
}

/** What the queues read from the configuration. */
export type JobQueuesConfig = Pick<Config, 'redisUrl' | 'jobs'>;

/** Options every job gets from the configuration: attempts, exponential backoff, how long finished jobs stay. */
export function jobOptions(config: JobQueuesConfig): JobsOptions {
  return {
    attempts: config.jobs.attempts,
    backoff: { type: 'exponential', delay: config.jobs.backoffMs },
    // Completed jobs stay a day, so a client can still read the state it was told to poll.
    removeOnComplete: { age: 86_400 },
    // The dead-letter set: jobs that used up their attempts, kept for the configured retention.
    removeOnFail: { age: Math.floor(config.jobs.deadLetterRetentionMs / 1000) },
  };
}

/** ioredis options for BullMQ: it must keep retrying commands itself, so no per-request retry limit. */
export function queueConnectionOptions(connectionName: string): RedisOptions {
  return { maxRetriesPerRequest: null, connectionName, retryStrategy: (attempt) => Math.min(attempt * 200, 2_000) };
}

/** A job as the API shows it. */
export interface JobView {
  readonly id: string;
  readonly queue: QueueName;
  readonly name: string;
  readonly state: JobStateName;
  readonly attemptsMade: number;
  readonly attempts: number;
  readonly failedReason: string | undefined;
  readonly createdAt: Date;
  readonly finishedAt: Date | undefined;
  readonly data: Readonly<Record<string, unknown>>;
}

/** BullMQ's state name as the API names it. */
export function stateName(state: string): JobStateName {
  switch (state) {
    case 'waiting':
    case 'prioritized':
    case 'waiting-children':
      return 'waiting';
    case 'delayed':
      return 'delayed';
    case 'active':
      return 'active';
    case 'completed':
      return 'completed';
    case 'failed':
      // BullMQ keeps a job with attempts left in `delayed` for its backoff; `failed` holds only finished failures.
      return 'dead_lettered';
    default:
      return 'unknown';
  }
}

async function viewOf(queue: QueueName, job: Job): Promise<JobView> {
  const attempts = job.opts.attempts ?? 1;
  const state = stateName(await job.getState());
  return {
    id: job.id ?? '',
    queue,
    name: job.name,
    state,
    attemptsMade: job.attemptsMade,
    attempts,
    failedReason: job.failedReason === '' ? undefined : job.failedReason,
    createdAt: new Date(job.timestamp),
    finishedAt: job.finishedOn === undefined ? undefined : new Date(job.finishedOn),
    data: job.data as Record<string, unknown>,
  };
}

/** The outcome of an enqueue: a new job, or the pending one the idempotency key already names. */
export interface Enqueued {
  readonly job: JobView;
  readonly created: boolean;
}

function unavailable(error: unknown): ServiceUnavailableError {
  return new ServiceUnavailableError('the job queue is unavailable (Redis); retry in a few seconds', {
    cause: error,
    retryAfterSeconds: 5,
  });
}

/**
 * The API side of the queues: admits jobs within the backlog limit, with idempotency keys, and reads, retries and
 * discards them. One Redis connection of its own, failing fast while Redis is away (503), never blocking requests.
 */
export class JobQueues {
  readonly #redis: Redis;
  readonly #queues: Readonly<Record<QueueName, Queue>>;
  readonly #config: JobQueuesConfig;

  constructor(config: JobQueuesConfig) {
    this.#config = config;
    this.#redis = new Redis(config.redisUrl, {
      enableOfflineQueue: false,
      commandTimeout: 2_000,
      maxRetriesPerRequest: 1,
      connectionName: 'erp-api-queues',
      // Connects on first use, so an app that never queues anything (tests, tools) opens nothing.
      lazyConnect: true,
      retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
    });
    this.#redis.on('error', () => undefined);
    const queue = (name: QueueName): Queue => {
      const made = new Queue(name, {
        connection: this.#redis,
        prefix: QUEUE_PREFIX,
        defaultJobOptions: jobOptions(config),
      });
      // A Redis outage reaches each caller as a 503; the event itself needs no handling.
      made.on('error', () => undefined);
      return made;
    };
    this.#queues = { invoices: queue('invoices'), email: queue('email') };
  }

  /** Connects on first use; later calls find the client connected, or reconnecting on its own. */
  async #connected(): Promise<void> {
    if (this.#redis.status === 'wait') await this.#redis.connect();
  }

  /**
   * Adds a job unless the idempotency key names a pending one (then that job is returned) or the queue holds
   * `JOB_QUEUE_LIMIT` waiting jobs.
   * @throws {RateLimitError} at the limit, with a Retry-After from the observed drain rate
   * @throws {ServiceUnavailableError} while Redis is away
   */
  async enqueue(queue: QueueName, name: string, data: Record<string, unknown>, idempotency: string): Promise<Enqueued> {
    try {
      await this.#connected();
      for (let round = 0; round < 2; round += 1) {
        const admitted = await this.#admit(queue, idempotency);
        if (admitted.outcome === 'existing') {
          const job = await this.#queues[queue].getJob(admitted.value);
          if (job !== undefined) {
            const view = await viewOf(queue, job);
            if (view.state !== 'completed' && view.state !== 'dead_lettered') return { job: view, created: false };
          }
          // The key outlived its job (finished, or lost): drop it and admit again.
          await releaseIdempotencyKey(this.#redis, queue, idempotency, admitted.value);
          continue;
        }
        if (admitted.outcome === 'full') {
          const waiting = Number(admitted.value);
          const retryAfter = await this.retryAfterSeconds(queue, waiting);
          throw new RateLimitError(
            `the ${queue} queue holds ${waiting} waiting jobs, its limit of ${this.#config.jobs.queueLimit}; retry after ${retryAfter} s`,
            retryAfter,
            { details: { queue, waiting, limit: this.#config.jobs.queueLimit } },
          );
        }
        try {
          const job = await this.#queues[queue].add(
            name,
            { ...data, idempotencyKey: idempotency },
            {
              jobId: admitted.value,
            },
          );
          return { job: await viewOf(queue, job), created: true };
        } catch (error) {
          await releaseIdempotencyKey(this.#redis, queue, idempotency, admitted.value).catch(() => undefined);
          throw error;
        } finally {
          await this.#redis.decr(queueKey(queue, 'admitting')).catch(() => undefined);
        }
      }
      throw new Error(`the idempotency key ${idempotency} of the ${queue} queue changed twice during one enqueue`);
    } catch (error) {
      if (error instanceof RateLimitError) throw error;
      throw unavailable(error);
    }
  }

  async #admit(
    queue: QueueName,
    idempotency: string,
  ): Promise<{ readonly outcome: 'existing' | 'full' | 'reserved'; readonly value: string }> {
    const reply = (await this.#redis.eval(
      ADMIT_SCRIPT,
      5,
      idempotencyKey(queue, idempotency),
      queueKey(queue, 'wait'),
      queueKey(queue, 'paused'),
      queueKey(queue, 'prioritized'),
      queueKey(queue, 'admitting'),
      String(this.#config.jobs.queueLimit),
      randomUUID(),
      String(IDEMPOTENCY_TTL_MS),
      String(RESERVATION_TTL_SECONDS),
    )) as [number, string];
    const [code, value] = reply;
    return { outcome: code === 1 ? 'existing' : code === 0 ? 'full' : 'reserved', value };
  }

  /**
   * Seconds until the backlog above the limit should have drained at the rate jobs finished over the last minute;
   * {@link IDLE_RETRY_AFTER_SECONDS} when none finished.
   */
  async retryAfterSeconds(queue: QueueName, waiting: number, now = Date.now()): Promise<number> {
    const current = Math.floor(now / 1000 / DRAIN_BUCKET_SECONDS);
    const buckets = DRAIN_WINDOW_SECONDS / DRAIN_BUCKET_SECONDS;
    const keys = Array.from({ length: buckets }, (_, index) => drainBucketKey(queue, current - index));
    await this.#connected();
    const counts = await this.#redis.mget(...keys);
    const drained = counts.reduce((sum, count) => sum + Number(count ?? 0), 0);
    if (drained === 0) return IDLE_RETRY_AFTER_SECONDS;
    // The current bucket is only partly over.
    const seconds = (buckets - 1) * DRAIN_BUCKET_SECONDS + ((now / 1000) % DRAIN_BUCKET_SECONDS);
    const perSecond = drained / seconds;
    const excess = Math.max(1, waiting - this.#config.jobs.queueLimit + 1);
    return Math.min(IDLE_RETRY_AFTER_SECONDS, Math.max(1, Math.ceil(excess / perSecond)));
  }

  /** One job. @throws {NotFoundError} when the queue has no such job (never added, or removed after retention) */
  async get(queue: QueueName, id: string): Promise<JobView> {
    let job: Job | undefined;
    try {
      await this.#connected();
      job = await this.#queues[queue].getJob(id);
    } catch (error) {
      throw unavailable(error);
    }
    if (job === undefined) {
      throw new NotFoundError(`the ${queue} queue has no job ${id}; finished jobs are kept for a limited time`);
    }
    return viewOf(queue, job);
  }

  /** The pending job of an idempotency key, if any. */
  async pendingFor(queue: QueueName, idempotency: string): Promise<JobView | undefined> {
    let id: string | null;
    try {
      await this.#connected();
      id = await this.#redis.get(idempotencyKey(queue, idempotency));
    } catch (error) {
      throw unavailable(error);
    }
    if (id === null) return undefined;
    return this.get(queue, id).catch((error: unknown) => {
      if (error instanceof NotFoundError) return undefined;
      throw error;
    });
  }

  /** The dead-letter set of a queue, newest first, and its size. */
  async deadLettered(
    queue: QueueName,
    offset: number,
    limit: number,
  ): Promise<{ readonly jobs: JobView[]; readonly total: number }> {
    try {
      await this.#connected();
      const [jobs, total] = await Promise.all([
        this.#queues[queue].getFailed(offset, offset + limit - 1),
        this.#queues[queue].getFailedCount(),
      ]);
      return { jobs: await Promise.all(jobs.map((job) => viewOf(queue, job))), total };
    } catch (error) {
      throw unavailable(error);
    }
  }

  /** A dead-lettered job, or NotFoundError naming what it is instead. */
  async #deadLetteredJob(queue: QueueName, id: string): Promise<Job> {
    await this.#connected();
    const job = await this.#queues[queue].getJob(id);
    if (job === undefined) throw new NotFoundError(`the ${queue} queue has no job ${id}`);
    if ((await job.getState()) !== 'failed') {
      throw new NotFoundError(`job ${id} of the ${queue} queue is not in the dead-letter set`, {
        details: { state: (await viewOf(queue, job)).state },
      });
    }
    return job;
  }

  /** Moves a dead-lettered job back to waiting with a fresh set of attempts. */
  async retry(queue: QueueName, id: string): Promise<JobView> {
    const job = await this.#deadLetteredJob(queue, id).catch((error: unknown) => {
      if (error instanceof NotFoundError) throw error;
      throw unavailable(error);
    });
    try {
      await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
      return await this.get(queue, id);
    } catch (error) {
      throw unavailable(error);
    }
  }

  /** Removes a dead-lettered job for good; returns what it was. */
  async discard(queue: QueueName, id: string): Promise<JobView> {
    const job = await this.#deadLetteredJob(queue, id).catch((error: unknown) => {
      if (error instanceof NotFoundError) throw error;
      throw unavailable(error);
    });
    try {
      const view = await viewOf(queue, job);
      await job.remove();
      return view;
    } catch (error) {
      throw unavailable(error);
    }
  }

  async close(): Promise<void> {
    await Promise.all(Object.values(this.#queues).map((queue) => queue.close().catch(() => undefined)));
    this.#redis.disconnect();
  }
}
