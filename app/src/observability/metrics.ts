import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

import {
  APP_METRICS,
  HEALTH_CHECKS,
  JOB_DEPTH_STATES,
  JOB_FAILURE_REASONS,
  JOB_QUEUES,
  LOGIN_RESULTS,
  POOL_STATES,
  RATE_LIMITERS,
  TOKEN_VALIDATION_RESULTS,
} from './metric-catalogue.js';
import type {
  CacheResult,
  HealthCheckName,
  JobDepthState,
  JobFailureReason,
  JobQueueName,
  JobResult,
  LoginResult,
  MetricDefinition,
  PoolState,
  RateLimiterName,
  TokenValidationResult,
} from './metric-catalogue.js';

type LabelOf<D extends MetricDefinition> = D['labelNames'][number];

/** One queue as the worker reads it from Redis at a scrape. */
export interface QueueSnapshot {
  readonly queue: JobQueueName;
  readonly depth: Readonly<Record<JobDepthState, number>>;
  readonly oldestWaitingAgeSeconds: number;
}

/** Pool occupancy as the database layer reports it. */
export interface PoolCounts {
  readonly total: number;
  readonly idle: number;
  readonly waiting: number;
}

/** One settled query, as the database layer reports it to its listeners. */
export interface QueryObservation {
  readonly operation: string;
  readonly durationMs: number;
  readonly ok: boolean;
}

/** What {@link Metrics.observeDatabase} needs from the database layer; db/pool.ts's Database has both. */
export interface ObservableDatabase {
  onQuery(listener: (event: QueryObservation) => void): () => void;
  stats(): PoolCounts;
}

export interface MetricsOptions {
  /** Adds prom-client's process and Node.js runtime metrics; on unless a test turns it off. */
  readonly defaultMetrics?: boolean;
}

/**
 * The service's Prometheus metrics on a registry of its own (never prom-client's global one), built from
 * {@link APP_METRICS}. One instance per app, so each test app counts alone; components record through the
 * typed methods and never touch prom-client.
 */
export class Metrics {
  readonly registry = new Registry();

  readonly #httpRequests = this.#counter(APP_METRICS.httpRequestsTotal);
  readonly #httpDuration = this.#histogram(APP_METRICS.httpRequestDurationSeconds);
  readonly #httpInFlight = this.#gauge(APP_METRICS.httpRequestsInFlight);
  readonly #loginAttempts = this.#counter(APP_METRICS.authLoginAttemptsTotal);
  readonly #lockouts = this.#counter(APP_METRICS.authLockoutsTotal);
  readonly #addressLockouts = this.#counter(APP_METRICS.authAddressLockoutsTotal);
  readonly #tokenValidations = this.#counter(APP_METRICS.authTokenValidationsTotal);
  readonly #dbQueries = this.#counter(APP_METRICS.dbQueriesTotal);
  readonly #dbQueryDuration = this.#histogram(APP_METRICS.dbQueryDurationSeconds);
  readonly #dbPool = this.#gauge(APP_METRICS.dbPoolConnections, () => this.#collectPool());
  readonly #dbRetries = this.#counter(APP_METRICS.dbTransactionRetriesTotal);
  readonly #dbRollbacks = this.#counter(APP_METRICS.dbTransactionRollbacksTotal);
  readonly #cacheOperations = this.#counter(APP_METRICS.cacheOperationsTotal);
  readonly #cacheDuration = this.#histogram(APP_METRICS.cacheOperationDurationSeconds);
  readonly #rateLimitBlocks = this.#counter(APP_METRICS.rateLimitBlocksTotal);
  readonly #usersCreated = this.#counter(APP_METRICS.usersCreatedTotal);
  readonly #backupLastSuccess = this.#gauge(APP_METRICS.backupLastSuccessTimestampSeconds);
  readonly #healthCheckUp = this.#gauge(APP_METRICS.healthCheckUp, () => this.#collectHealth());
  readonly #jobsDepth = this.#gauge(APP_METRICS.jobsQueueDepth, () => this.#collectQueues());
  readonly #jobsOldestWaiting = this.#gauge(APP_METRICS.jobsOldestWaitingAgeSeconds);
  readonly #jobDuration = this.#histogram(APP_METRICS.jobDurationSeconds);
  readonly #jobFailures = this.#counter(APP_METRICS.jobFailuresTotal);
  readonly #jobRetries = this.#counter(APP_METRICS.jobRetriesTotal);
  readonly #jobsDeadLettered = this.#counter(APP_METRICS.jobsDeadLetteredTotal);
  #readQueues: (() => Promise<readonly QueueSnapshot[]>) | undefined;

  #readPool: (() => PoolCounts) | undefined;
  #runHealthChecks: (() => Promise<Readonly<Record<string, { readonly status: 'up' | 'down' }>>>) | undefined;

  constructor(options: MetricsOptions = {}) {
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    // Series with a closed label set start at 0, so rate() and absent() work before the first event.
    for (const result of LOGIN_RESULTS) this.#loginAttempts.inc({ result }, 0);
    for (const result of TOKEN_VALIDATION_RESULTS) this.#tokenValidations.inc({ result }, 0);
    for (const limiter of RATE_LIMITERS) this.#rateLimitBlocks.inc({ limiter }, 0);
    for (const counter of [
      this.#lockouts,
      this.#addressLockouts,
      this.#dbRetries,
      this.#dbRollbacks,
      this.#usersCreated,
    ])
      counter.inc(0);
    this.#backupLastSuccess.set(0);
    this.#httpInFlight.set(0);
    for (const queue of JOB_QUEUES) {
      for (const reason of JOB_FAILURE_REASONS) this.#jobFailures.inc({ queue, reason }, 0);
      this.#jobRetries.inc({ queue }, 0);
      this.#jobsDeadLettered.inc({ queue }, 0);
    }
  }

  /** Reads every queue's depth and oldest waiting job at each scrape (the worker's /metrics). */
  observeQueues(read: () => Promise<readonly QueueSnapshot[]>): void {
    this.#readQueues = read;
  }

  /** One attempt of a job ended. */
  jobAttempt(queue: JobQueueName, result: JobResult, seconds: number): void {
    this.#jobDuration.observe({ queue, result }, seconds);
  }

  /** One attempt failed; `retried` when the job has another attempt left, otherwise it was dead-lettered. */
  jobFailed(queue: JobQueueName, reason: JobFailureReason, retried: boolean): void {
    this.#jobFailures.inc({ queue, reason });
    if (retried) this.#jobRetries.inc({ queue });
    else this.#jobsDeadLettered.inc({ queue });
  }

  /** A job's worker died and the stalled check took it back. */
  jobStalled(queue: JobQueueName): void {
    this.#jobFailures.inc({ queue, reason: 'stalled' });
  }

  async #collectQueues(): Promise<void> {
    const snapshots = await this.#readQueues?.().catch(() => undefined);
    if (snapshots === undefined) return;
    for (const snapshot of snapshots) {
      for (const state of JOB_DEPTH_STATES) {
        this.#jobsDepth.set({ queue: snapshot.queue, state }, snapshot.depth[state]);
      }
      this.#jobsOldestWaiting.set({ queue: snapshot.queue }, snapshot.oldestWaitingAgeSeconds);
    }
  }

  /** The text Prometheus scrapes, with its content type. */
  async exposition(): Promise<{ readonly contentType: string; readonly body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /** Counts one request as in flight; call the returned function once when it ends. */
  httpRequestStarted(): () => void {
    this.#httpInFlight.inc();
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.#httpInFlight.dec();
    };
  }

  /** `route` is the matched route pattern (never a raw path); see http-metrics.ts. */
  httpRequest(method: string, route: string, status: string, seconds: number): void {
    const labels = { method, route, status };
    this.#httpRequests.inc(labels);
    this.#httpDuration.observe(labels, seconds);
  }

  authLoginAttempt(result: LoginResult): void {
    this.#loginAttempts.inc({ result });
  }

  authLockout(): void {
    this.#lockouts.inc();
  }

  authAddressLockout(): void {
    this.#addressLockouts.inc();
  }

  authTokenValidation(result: TokenValidationResult): void {
    this.#tokenValidations.inc({ result });
  }

  /** `operation` is the query's fixed label, such as `users.findByEmail`. */
  dbQuery(operation: string, seconds: number, ok: boolean): void {
    this.#dbQueries.inc({ operation, result: ok ? 'success' : 'error' });
    this.#dbQueryDuration.observe({ operation }, seconds);
  }

  dbTransactionRetry(): void {
    this.#dbRetries.inc();
  }

  dbTransactionRollback(): void {
    this.#dbRollbacks.inc();
  }

  /** Reads the pool's occupancy at every scrape; a second call replaces the first source. */
  observeDbPool(read: () => PoolCounts): void {
    this.#readPool = read;
  }

  /** Records every query the database reports and its pool occupancy; returns the function that stops it. */
  observeDatabase(database: ObservableDatabase): () => void {
    this.observeDbPool(() => database.stats());
    return database.onQuery((event) => {
      this.dbQuery(event.operation, event.durationMs / 1000, event.ok);
    });
  }

  /** `cache` is a fixed name such as `permissions`; an `error` is a cache that failed, not a miss. */
  cacheOperation(cache: string, result: CacheResult, seconds: number): void {
    this.#cacheOperations.inc({ cache, result });
    this.#cacheDuration.observe({ cache }, seconds);
  }

  rateLimitBlock(limiter: RateLimiterName): void {
    this.#rateLimitBlocks.inc({ limiter });
  }

  userCreated(): void {
    this.#usersCreated.inc();
  }

  backupSucceeded(at: Date = new Date()): void {
    this.#backupLastSuccess.set(at.getTime() / 1000);
  }

  /** Runs the readiness checks at every scrape, so `health_check_up` holds even when no probe asked lately. */
  observeHealth(run: () => Promise<Readonly<Record<string, { readonly status: 'up' | 'down' }>>>): void {
    this.#runHealthChecks = run;
  }

  healthCheck(check: HealthCheckName, up: boolean): void {
    this.#healthCheckUp.set({ check }, up ? 1 : 0);
  }

  async #collectHealth(): Promise<void> {
    const results = await this.#runHealthChecks?.();
    if (results === undefined) return;
    for (const check of HEALTH_CHECKS) {
      const result = results[check];
      if (result !== undefined) this.healthCheck(check, result.status === 'up');
    }
  }

  #collectPool(): void {
    const counts = this.#readPool?.();
    if (counts === undefined) return;
    for (const state of POOL_STATES satisfies readonly PoolState[]) this.#dbPool.set({ state }, counts[state]);
  }

  #counter<D extends MetricDefinition & { readonly type: 'counter' }>(definition: D): Counter<LabelOf<D>> {
    return new Counter<LabelOf<D>>({
      name: definition.name,
      help: definition.help,
      labelNames: definition.labelNames,
      registers: [this.registry],
    });
  }

  #gauge<D extends MetricDefinition & { readonly type: 'gauge' }>(
    definition: D,
    collect?: () => void | Promise<void>,
  ): Gauge<LabelOf<D>> {
    return new Gauge<LabelOf<D>>({
      name: definition.name,
      help: definition.help,
      labelNames: definition.labelNames,
      registers: [this.registry],
      ...(collect === undefined ? {} : { collect }),
    });
  }

  #histogram<D extends MetricDefinition & { readonly type: 'histogram' }>(definition: D): Histogram<LabelOf<D>> {
    return new Histogram<LabelOf<D>>({
      name: definition.name,
      help: definition.help,
      labelNames: definition.labelNames,
      buckets: [...(definition.buckets ?? [])],
      registers: [this.registry],
    });
  }
}
