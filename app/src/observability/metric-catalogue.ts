/**
 * Every metric erp-api exposes on /metrics, as plain data: the prom-client registry is built from it, and the
 * monitoring workspace checks its alert and dashboard queries against it. No imports, no side effects.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram';

export interface MetricDefinition {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string;
  readonly labelNames: readonly string[];
  /** The only values a label takes, for labels with a closed set; queries may match on exactly these. */
  readonly labelValues?: Readonly<Record<string, readonly string[]>>;
  /** Histogram bucket upper bounds, in the metric's unit. */
  readonly buckets?: readonly number[];
}

/** A metric prom-client's collectDefaultMetrics adds; `linuxOnly` ones read /proc and are absent elsewhere. */
export interface DefaultMetricDefinition extends MetricDefinition {
  readonly linuxOnly?: boolean;
}

/** Seconds; dense around the 500 ms latency SLO so its burn rate is read from a bucket edge, not interpolated. */
export const HTTP_DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5] as const;
/** Seconds; queries are expected well under the request budget. */
export const DB_DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] as const;
export const CACHE_DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25] as const;

/** `route` of requests no route matched: raw paths would make the label unbounded. */
export const UNMATCHED_ROUTE = 'unmatched';
/**
 * Paths (and everything below them) the request metrics leave out: kubelet probes and Prometheus scrapes are not
 * users, and a readiness 503 is the platform's signal, not a user's error; counting them would dilute the SLIs.
 */
export const UNMEASURED_PATHS = ['/health', '/metrics'] as const;

/** `method` of requests whose method is not a standard HTTP method. */
export const OTHER_METHOD = 'other';
/** `status` of requests whose client went away before the response was complete (nginx's convention). */
export const CLIENT_CLOSED_STATUS = '499';

export const LOGIN_RESULTS = ['success', 'failure', 'locked', 'rate_limited'] as const;
export const TOKEN_VALIDATION_RESULTS = ['valid', 'invalid', 'expired', 'revoked'] as const;
export const QUERY_RESULTS = ['success', 'error'] as const;
export const POOL_STATES = ['total', 'idle', 'waiting'] as const;
export const CACHE_RESULTS = ['hit', 'miss', 'error'] as const;
/** The dependencies readiness checks, as `check` of `health_check_up`. */
export const HEALTH_CHECKS = ['postgres', 'redis'] as const;
/** `general`: every API request per client IP; `login`: sign-in attempts per account and IP. */
export const RATE_LIMITERS = ['general', 'login'] as const;

/** The worker's queues (`erp-api worker`). */
export const JOB_QUEUES = ['invoices', 'email'] as const;
/** `state` of `jobs_queue_depth`: `dead_lettered` is the set of jobs out of attempts. */
export const JOB_DEPTH_STATES = ['waiting', 'delayed', 'active', 'dead_lettered'] as const;
export const JOB_RESULTS = ['completed', 'failed'] as const;
/** Why an attempt failed: ran past JOB_TIMEOUT_MS, threw, or its worker died (the stalled check took it back). */
export const JOB_FAILURE_REASONS = ['timeout', 'error', 'stalled'] as const;
/** Seconds; a PDF or a mail takes well under a second, JOB_TIMEOUT_MS is 30 s. */
export const JOB_DURATION_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;

export type JobQueueName = (typeof JOB_QUEUES)[number];
export type JobDepthState = (typeof JOB_DEPTH_STATES)[number];
export type JobResult = (typeof JOB_RESULTS)[number];
export type JobFailureReason = (typeof JOB_FAILURE_REASONS)[number];
export type LoginResult = (typeof LOGIN_RESULTS)[number];
export type TokenValidationResult = (typeof TOKEN_VALIDATION_RESULTS)[number];
export type PoolState = (typeof POOL_STATES)[number];
export type CacheResult = (typeof CACHE_RESULTS)[number];
export type RateLimiterName = (typeof RATE_LIMITERS)[number];
export type HealthCheckName = (typeof HEALTH_CHECKS)[number];

/** The service's own metrics, keyed by the name code uses for them. */
export const APP_METRICS = {
  httpRequestsTotal: {
    name: 'http_requests_total',
    type: 'counter',
    help: 'HTTP requests answered, by method, matched route pattern and status code.',
    labelNames: ['method', 'route', 'status'],
  },
  httpRequestDurationSeconds: {
    name: 'http_request_duration_seconds',
    type: 'histogram',
    help: 'Time from receiving an HTTP request to the end of its response, in seconds.',
    labelNames: ['method', 'route', 'status'],
    buckets: HTTP_DURATION_BUCKETS,
  },
  httpRequestsInFlight: {
    name: 'http_requests_in_flight',
    type: 'gauge',
    help: 'HTTP requests being served right now.',
    labelNames: [],
  },
  authLoginAttemptsTotal: {
    name: 'auth_login_attempts_total',
    type: 'counter',
    help: 'Sign-in attempts, by result.',
    labelNames: ['result'],
    labelValues: { result: LOGIN_RESULTS },
  },
  authLockoutsTotal: {
    name: 'auth_lockouts_total',
    type: 'counter',
    help: 'Accounts locked after too many failed sign-ins.',
    labelNames: [],
  },
  authAddressLockoutsTotal: {
    name: 'auth_address_lockouts_total',
    type: 'counter',
    help: 'Client addresses shut out of one account after too many wrong passwords in a row from them.',
    labelNames: [],
  },
  authTokenValidationsTotal: {
    name: 'auth_token_validations_total',
    type: 'counter',
    help: 'Access token checks, by result.',
    labelNames: ['result'],
    labelValues: { result: TOKEN_VALIDATION_RESULTS },
  },
  dbQueriesTotal: {
    name: 'db_queries_total',
    type: 'counter',
    help: 'Database queries, by operation label and result.',
    labelNames: ['operation', 'result'],
    labelValues: { result: QUERY_RESULTS },
  },
  dbQueryDurationSeconds: {
    name: 'db_query_duration_seconds',
    type: 'histogram',
    help: 'Time a database query held its connection, in seconds, by operation label.',
    labelNames: ['operation'],
    buckets: DB_DURATION_BUCKETS,
  },
  dbPoolConnections: {
    name: 'db_pool_connections',
    type: 'gauge',
    help: 'Database pool connections: total open, idle, and callers waiting for one.',
    labelNames: ['state'],
    labelValues: { state: POOL_STATES },
  },
  dbTransactionRetriesTotal: {
    name: 'db_transaction_retries_total',
    type: 'counter',
    help: 'Transactions run again after a deadlock or serialization failure.',
    labelNames: [],
  },
  dbTransactionRollbacksTotal: {
    name: 'db_transaction_rollbacks_total',
    type: 'counter',
    help: 'Transactions rolled back.',
    labelNames: [],
  },
  cacheOperationsTotal: {
    name: 'cache_operations_total',
    type: 'counter',
    help: 'Cache lookups, by cache and result.',
    labelNames: ['cache', 'result'],
    labelValues: { result: CACHE_RESULTS },
  },
  cacheOperationDurationSeconds: {
    name: 'cache_operation_duration_seconds',
    type: 'histogram',
    help: 'Time a cache lookup took, in seconds, by cache.',
    labelNames: ['cache'],
    buckets: CACHE_DURATION_BUCKETS,
  },
  rateLimitBlocksTotal: {
    name: 'rate_limit_blocks_total',
    type: 'counter',
    help: 'Requests refused with 429 by a rate limiter, by limiter.',
    labelNames: ['limiter'],
    labelValues: { limiter: RATE_LIMITERS },
  },
  usersCreatedTotal: {
    name: 'users_created_total',
    type: 'counter',
    help: 'User accounts created.',
    labelNames: [],
  },
  healthCheckUp: {
    name: 'health_check_up',
    type: 'gauge',
    help: 'Whether the last readiness check of a dependency succeeded (1) or failed (0), by check.',
    labelNames: ['check'],
    labelValues: { check: HEALTH_CHECKS },
  },
  backupLastSuccessTimestampSeconds: {
    name: 'backup_last_success_timestamp_seconds',
    type: 'gauge',
    help: 'Unix time of the last successful database backup seen by this process; 0 until one is recorded.',
    labelNames: [],
  },
  jobsQueueDepth: {
    name: 'jobs_queue_depth',
    type: 'gauge',
    help: 'Jobs in a queue by state, read from Redis at each scrape of a worker.',
    labelNames: ['queue', 'state'],
    labelValues: { queue: JOB_QUEUES, state: JOB_DEPTH_STATES },
  },
  jobsOldestWaitingAgeSeconds: {
    name: 'jobs_oldest_waiting_age_seconds',
    type: 'gauge',
    help: 'Age of the oldest waiting job of a queue in seconds, 0 when none waits; read at each scrape of a worker.',
    labelNames: ['queue'],
    labelValues: { queue: JOB_QUEUES },
  },
  jobDurationSeconds: {
    name: 'job_duration_seconds',
    type: 'histogram',
    help: 'Time one attempt of a job ran in this worker, in seconds, by queue and result.',
    labelNames: ['queue', 'result'],
    labelValues: { queue: JOB_QUEUES, result: JOB_RESULTS },
    buckets: JOB_DURATION_BUCKETS,
  },
  jobFailuresTotal: {
    name: 'job_failures_total',
    type: 'counter',
    help: 'Failed job attempts, by queue and reason.',
    labelNames: ['queue', 'reason'],
    labelValues: { queue: JOB_QUEUES, reason: JOB_FAILURE_REASONS },
  },
  jobRetriesTotal: {
    name: 'job_retries_total',
    type: 'counter',
    help: 'Failed attempts that left the job another attempt after its backoff, by queue.',
    labelNames: ['queue'],
    labelValues: { queue: JOB_QUEUES },
  },
  jobsDeadLetteredTotal: {
    name: 'jobs_dead_lettered_total',
    type: 'counter',
    help: 'Jobs moved to the dead-letter set after their last attempt, by queue.',
    labelNames: ['queue'],
    labelValues: { queue: JOB_QUEUES },
  },
} as const satisfies Record<string, MetricDefinition>;

export type AppMetricKey = keyof typeof APP_METRICS;

/** What prom-client 15.1.3's collectDefaultMetrics registers (no prefix), as it names and describes them. */
export const DEFAULT_METRICS: readonly DefaultMetricDefinition[] = [
  {
    name: 'process_cpu_user_seconds_total',
    type: 'counter',
    help: 'Total user CPU time spent in seconds.',
    labelNames: [],
  },
  {
    name: 'process_cpu_system_seconds_total',
    type: 'counter',
    help: 'Total system CPU time spent in seconds.',
    labelNames: [],
  },
  {
    name: 'process_cpu_seconds_total',
    type: 'counter',
    help: 'Total user and system CPU time spent in seconds.',
    labelNames: [],
  },
  {
    name: 'process_start_time_seconds',
    type: 'gauge',
    help: 'Start time of the process since unix epoch in seconds.',
    labelNames: [],
  },
  { name: 'process_resident_memory_bytes', type: 'gauge', help: 'Resident memory size in bytes.', labelNames: [] },
  {
    name: 'process_virtual_memory_bytes',
    type: 'gauge',
    help: 'Virtual memory size in bytes.',
    labelNames: [],
    linuxOnly: true,
  },
  { name: 'process_heap_bytes', type: 'gauge', help: 'Process heap size in bytes.', labelNames: [], linuxOnly: true },
  {
    name: 'process_open_fds',
    type: 'gauge',
    help: 'Number of open file descriptors.',
    labelNames: [],
    linuxOnly: true,
  },
  {
    name: 'process_max_fds',
    type: 'gauge',
    help: 'Maximum number of open file descriptors.',
    labelNames: [],
    linuxOnly: true,
  },
  { name: 'nodejs_eventloop_lag_seconds', type: 'gauge', help: 'Lag of event loop in seconds.', labelNames: [] },
  {
    name: 'nodejs_eventloop_lag_min_seconds',
    type: 'gauge',
    help: 'The minimum recorded event loop delay.',
    labelNames: [],
  },
  {
    name: 'nodejs_eventloop_lag_max_seconds',
    type: 'gauge',
    help: 'The maximum recorded event loop delay.',
    labelNames: [],
  },
  {
    name: 'nodejs_eventloop_lag_mean_seconds',
    type: 'gauge',
    help: 'The mean of the recorded event loop delays.',
    labelNames: [],
  },
  {
    name: 'nodejs_eventloop_lag_stddev_seconds',
    type: 'gauge',
    help: 'The standard deviation of the recorded event loop delays.',
    labelNames: [],
  },
  {
    name: 'nodejs_eventloop_lag_p50_seconds',
    type: 'gauge',
    help: 'The 50th percentile of the recorded event loop delays.',
    labelNames: [],
  },
  {
    name: 'nodejs_eventloop_lag_p90_seconds',
    type: 'gauge',
    help: 'The 90th percentile of the recorded event loop delays.',
    labelNames: [],
  },
  {
    name: 'nodejs_eventloop_lag_p99_seconds',
    type: 'gauge',
    help: 'The 99th percentile of the recorded event loop delays.',
    labelNames: [],
  },
  {
    name: 'nodejs_active_resources',
    type: 'gauge',
    help: 'Number of active resources that are currently keeping the event loop alive, grouped by async resource type.',
    labelNames: ['type'],
  },
  { name: 'nodejs_active_resources_total', type: 'gauge', help: 'Total number of active resources.', labelNames: [] },
  {
    name: 'nodejs_active_handles',
    type: 'gauge',
    help: 'Number of active libuv handles grouped by handle type. Every handle type is C++ class name.',
    labelNames: ['type'],
  },
  { name: 'nodejs_active_handles_total', type: 'gauge', help: 'Total number of active handles.', labelNames: [] },
  {
    name: 'nodejs_active_requests',
    type: 'gauge',
    help: 'Number of active libuv requests grouped by request type. Every request type is C++ class name.',
    labelNames: ['type'],
  },
  { name: 'nodejs_active_requests_total', type: 'gauge', help: 'Total number of active requests.', labelNames: [] },
  {
    name: 'nodejs_heap_size_total_bytes',
    type: 'gauge',
    help: 'Process heap size from Node.js in bytes.',
    labelNames: [],
  },
  {
    name: 'nodejs_heap_size_used_bytes',
    type: 'gauge',
    help: 'Process heap size used from Node.js in bytes.',
    labelNames: [],
  },
  {
    name: 'nodejs_external_memory_bytes',
    type: 'gauge',
    help: 'Node.js external memory size in bytes.',
    labelNames: [],
  },
  {
    name: 'nodejs_heap_space_size_total_bytes',
    type: 'gauge',
    help: 'Process heap space size total from Node.js in bytes.',
    labelNames: ['space'],
  },
  {
    name: 'nodejs_heap_space_size_used_bytes',
    type: 'gauge',
    help: 'Process heap space size used from Node.js in bytes.',
    labelNames: ['space'],
  },
  {
    name: 'nodejs_heap_space_size_available_bytes',
    type: 'gauge',
    help: 'Process heap space size available from Node.js in bytes.',
    labelNames: ['space'],
  },
  {
    name: 'nodejs_version_info',
    type: 'gauge',
    help: 'Node.js version info.',
    labelNames: ['version', 'major', 'minor', 'patch'],
  },
  {
    name: 'nodejs_gc_duration_seconds',
    type: 'histogram',
    help: 'Garbage collection duration by kind, one of major, minor, incremental or weakcb.',
    labelNames: ['kind'],
  },
];

/** The job label each command pushes its metrics to the Pushgateway under (Prometheus scrapes it with honor_labels). */
export const PUSH_JOBS = { backup: 'erp-api-backup', restoreDrill: 'erp-api-restore-drill' } as const;

/**
 * Metrics the backup and restore-drill commands push to the Pushgateway when they finish: they end before any
 * scrape. Grouped by `job` (see {@link PUSH_JOBS}) and `namespace`; a group is replaced only by a success.
 */
export const PUSHED_METRICS = {
  restoreDrillLastSuccessTimestampSeconds: {
    name: 'restore_drill_last_success_timestamp_seconds',
    type: 'gauge',
    help: 'Unix time the last restore drill finished with every check passed.',
    labelNames: [],
  },
  restoreDrillRtoSeconds: {
    name: 'restore_drill_rto_seconds',
    type: 'gauge',
    help: 'Wall time of the last successful restore drill, restore and every check included (its recovery time).',
    labelNames: [],
  },
  restoreDrillRpoSeconds: {
    name: 'restore_drill_rpo_seconds',
    type: 'gauge',
    help: 'Age of the newest change in the database the last successful drill restored, at the drill start (its recovery point).',
    labelNames: [],
  },
} as const satisfies Record<string, MetricDefinition>;

/** Every metric /metrics may expose (the service's own, then the process defaults), and what the jobs push. */
export const METRIC_CATALOGUE: readonly MetricDefinition[] = [
  ...Object.values(APP_METRICS),
  ...Object.values(PUSHED_METRICS),
  ...DEFAULT_METRICS,
];
