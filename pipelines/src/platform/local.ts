import { join } from 'node:path';

import { PlatformError } from './errors.js';
import { repoRoot, scopeDir } from './paths.js';
import { localSecret } from './secrets.js';
import { portFromEnv } from './ports.js';
import { alertReceiverService } from './services/alert-receiver.js';
import { alertmanagerService } from './services/alertmanager.js';
import { appService } from './services/app.js';
import { argoRolloutsService } from './services/argo-rollouts.js';
import { JAEGER_PORTS, jaegerService } from './services/jaeger.js';
import { nginxService } from './services/nginx.js';
import { objectStoreClientEnv, objectStoreService } from './services/object-store.js';
import { postgresService, walCommandFromCheckout } from './services/postgres.js';
import { prometheusService, SOURCE_POD_TEMPLATE_HASH } from './services/prometheus.js';
import { pushgatewayService } from './services/pushgateway.js';
import { redisService } from './services/redis.js';
import { SMTP_SINK_PORTS, smtpSinkService } from './services/smtp-sink.js';
import { workerService } from './services/worker.js';
import { readStable } from '../release/canary/store.js';
import { registryService } from '../release/registry.js';
import type { ServiceDefinition } from './supervisor.js';

export const LOCAL_HOST = '127.0.0.1';
export const DEFAULT_PORTS = {
  app: 8081,
  postgres: 55432,
  redis: 56379,
  registry: 5000,
  nginx: 8080,
  prometheus: 9090,
  alertmanager: 9093,
  alertReceiver: 9095,
  worker: 8082,
  argoRollouts: 8090,
  objectStore: 9000,
  pushgateway: 9091,
} as const;

/** The variable that moves each port of the local platform. */
export const PORT_VARIABLES = {
  app: 'PORT',
  postgres: 'SLIPWAY_POSTGRES_PORT',
  redis: 'SLIPWAY_REDIS_PORT',
  registry: 'SLIPWAY_REGISTRY_PORT',
  nginx: 'SLIPWAY_NGINX_PORT',
  prometheus: 'SLIPWAY_PROMETHEUS_PORT',
  alertmanager: 'SLIPWAY_ALERTMANAGER_PORT',
  alertReceiver: 'SLIPWAY_ALERT_RECEIVER_PORT',
  worker: 'SLIPWAY_WORKER_PORT',
  argoRollouts: 'SLIPWAY_ARGO_ROLLOUTS_PORT',
  objectStore: 'SLIPWAY_OBJECT_STORE_PORT',
  pushgateway: 'SLIPWAY_PUSHGATEWAY_PORT',
} as const satisfies Record<keyof typeof DEFAULT_PORTS, string>;

/** Every variable that moves a port of the local platform: a test that runs its own gives each a free port. */
export const ALL_PORT_VARIABLES = [
  ...Object.values(PORT_VARIABLES),
  ...Object.values(JAEGER_PORTS).map(({ env }) => env),
  ...Object.values(SMTP_SINK_PORTS).map(({ env }) => env),
] as const;

/** The port of one local service: its variable, or its default. */
export function localPort(env: NodeJS.ProcessEnv, service: keyof typeof DEFAULT_PORTS): number {
  return portFromEnv(env, PORT_VARIABLES[service], DEFAULT_PORTS[service]);
}

/** The pod name the platform's own app (run from source) has in Prometheus. */
export const SOURCE_APP_POD = 'erp-api-source-0';
/** The pod name the local Prometheus gives the worker run from source. */
export const SOURCE_WORKER_POD = 'erp-api-worker-source-0';
export const APP_DATABASE = 'erp';
/** The bucket the local object store makes for `erp-api backup`. */
export const LOCAL_BACKUP_BUCKET = 'erp-backups';
/** The app's least-privilege login (app/migrations/0001 makes it): it owns nothing, migrations run as the owner. */
export const APP_DATABASE_ROLE = 'erp_app';
/** The last line `npm start` prints once everything answers. */
export const RUNNING_FOOTER = 'Ctrl-C, or `npm stop` from another terminal, stops it.';

/** Which folder under .local/ a platform instance uses; SLIPWAY_SCOPE lets tests run one beside a developer's. */
export function platformScope(env: NodeJS.ProcessEnv): string {
  const scope = env.SLIPWAY_SCOPE ?? 'platform';
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(scope)) {
    throw new PlatformError(
      `SLIPWAY_SCOPE=${JSON.stringify(scope)} is not a folder name`,
      'use lower-case letters, digits and dashes (e.g. platform-2), or unset it',
    );
  }
  return scope;
}

/** The account `npm start` makes and grants the admin role; its password is in {@link adminPasswordFile}. */
export const LOCAL_ADMIN_EMAIL = 'admin@slipway.local';

/** The local administrator's password file (mode 0600), made on the first start. */
export function adminPasswordFile(scope: string): string {
  return join(localPaths(scope).dir, 'secrets', 'admin-password');
}

/** A WAL segment reaches the object store at most this long after a write: the local RPO bound (≤ 60 s). */
export const LOCAL_ARCHIVE_TIMEOUT_SECONDS = 30;

/** Where a platform instance keeps data, logs and its state file. */
export function localPaths(scope: string): { dir: string; stateFile: string; logDir: string } {
  const dir = scopeDir(scope);
  return { dir, stateFile: join(dir, 'state.json'), logDir: join(dir, 'logs') };
}

/**
 * The app's per-client limits on the local platform, unless the caller sets them. TRUST_PROXY=1 is the cluster's
 * setting too (infra: one ingress hop; here nginx). The limit is lifted because every local client (a person, the
 * release's background traffic, the canary gate, a load run) is 127.0.0.1: a per-address limit would limit the
 * machine, not a client. `RATE_LIMIT_PER_MINUTE=100 npm start` runs with the production limit.
 */
export const LOCAL_APP_LIMITS = { RATE_LIMIT_PER_MINUTE: '1000000', TRUST_PROXY: '1' } as const;

/** Variables of the caller's environment handed through to the app (its own config schema validates them). */
// RATE_LIMIT_PER_MINUTE and TRUST_PROXY let a local load run (load/README.md) lift the per-IP limits.
const APP_ENV_PASSTHROUGH = [
  'LOG_LEVEL',
  'SHUTDOWN_DRAIN_MS',
  'SHUTDOWN_TIMEOUT_MS',
  'RATE_LIMIT_PER_MINUTE',
  'TRUST_PROXY',
] as const;

/**
 * The services of the embedded default platform, in start order; each is a ServiceDefinition of its own file
 * under services/.
 */
export function localPlatform(env: NodeJS.ProcessEnv, scope: string): ServiceDefinition[] {
  const { dir } = localPaths(scope);
  const postgres = postgresService({
    dir: join(dir, 'postgres'),
    host: LOCAL_HOST,
    port: portFromEnv(env, 'SLIPWAY_POSTGRES_PORT', DEFAULT_PORTS.postgres),
    portEnv: 'SLIPWAY_POSTGRES_PORT',
    databases: [APP_DATABASE],
    // point-in-time recovery: every WAL file goes to the object store (erp-api restore --to-time replays them)
    archive: {
      command: walCommandFromCheckout(repoRoot, 'push'),
      timeoutSeconds: LOCAL_ARCHIVE_TIMEOUT_SECONDS,
      env: objectStoreClientEnv(`http://${LOCAL_HOST}:${String(localPort(env, 'objectStore'))}`, LOCAL_BACKUP_BUCKET),
    },
  });
  const redis = redisService({
    dir: join(dir, 'redis'),
    host: LOCAL_HOST,
    port: portFromEnv(env, 'SLIPWAY_REDIS_PORT', DEFAULT_PORTS.redis),
    portEnv: 'SLIPWAY_REDIS_PORT',
    // the worker's queues live here: an accepted job must survive a Redis restart
    appendOnly: true,
  });
  // traces of the local app, in memory; its UI is the URL `npm run status` shows
  const jaeger = jaegerService({
    dir: join(dir, 'jaeger'),
    host: LOCAL_HOST,
    port: portFromEnv(env, JAEGER_PORTS.ui.env, JAEGER_PORTS.ui.port),
    portEnv: JAEGER_PORTS.ui.env,
    otlpPort: portFromEnv(env, JAEGER_PORTS.otlp.env, JAEGER_PORTS.otlp.port),
    otlpPortEnv: JAEGER_PORTS.otlp.env,
    grpcPort: portFromEnv(env, JAEGER_PORTS.grpc.env, JAEGER_PORTS.grpc.port),
    grpcPortEnv: JAEGER_PORTS.grpc.env,
  });
  // the worker's mail goes here: GET <url>/messages lists what would have been delivered
  const smtpSink = smtpSinkService({
    dir: join(dir, 'smtp-sink'),
    host: LOCAL_HOST,
    port: portFromEnv(env, SMTP_SINK_PORTS.smtp.env, SMTP_SINK_PORTS.smtp.port),
    portEnv: SMTP_SINK_PORTS.smtp.env,
    httpPort: portFromEnv(env, SMTP_SINK_PORTS.http.env, SMTP_SINK_PORTS.http.port),
    httpPortEnv: SMTP_SINK_PORTS.http.env,
  });
  // backups of the local database (erp-api backup, and the release's backup before migrating)
  const objectStore = objectStoreService({
    dir: join(dir, 'object-store'),
    host: LOCAL_HOST,
    port: localPort(env, 'objectStore'),
    portEnv: PORT_VARIABLES.objectStore,
    bucket: LOCAL_BACKUP_BUCKET,
  });
  const passthrough: Record<string, string> = {};
  for (const key of APP_ENV_PASSTHROUGH) {
    const value = env[key];
    if (value !== undefined) passthrough[key] = value;
  }
  const appRolePassword = localSecret(join(dir, 'secrets', 'app-database-password'), 24);
  // once a release promoted a container, that serves as stable: the source app's exit is then no crash to restart
  const superseded = (): string | undefined => {
    const stable = readStable(scope);
    return stable?.container === undefined ? undefined : `the promoted release ${stable.digest ?? stable.container}`;
  };
  const app = appService(
    {
      host: LOCAL_HOST,
      port: portFromEnv(env, 'PORT', DEFAULT_PORTS.app),
      portEnv: 'PORT',
      env: {
        NODE_ENV: 'development',
        APP_ENV: 'dev',
        ...LOCAL_APP_LIMITS,
        ...passthrough,
        DATABASE_URL: postgres.connectionStringAs(APP_DATABASE_ROLE, appRolePassword, APP_DATABASE),
        REDIS_URL: redis.connectionUrl,
        OTEL_EXPORTER_OTLP_ENDPOINT: jaeger.otlpEndpoint,
        // made once per local platform and kept under .local/, so tokens and password hashes survive restarts
        JWT_SECRETS: localSecret(join(dir, 'secrets', 'jwt-secret'), 48),
        PASSWORD_PEPPER: localSecret(join(dir, 'secrets', 'password-pepper'), 32),
        // the store's BACKUP_* settings, which the release hands to the image's backup with the store's keys
        ...Object.fromEntries(Object.entries(objectStore.clientEnv).filter(([name]) => name.startsWith('BACKUP_'))),
      },
      migration: { ownerDatabaseUrl: postgres.connectionString(APP_DATABASE), appRolePassword },
      administrator: {
        email: LOCAL_ADMIN_EMAIL,
        username: 'admin',
        password: localSecret(adminPasswordFile(scope), 24),
      },
    },
    superseded,
  );
  // the same build and environment as the app, taking invoice and email jobs from Redis
  const worker = workerService({
    host: LOCAL_HOST,
    port: localPort(env, 'worker'),
    portEnv: PORT_VARIABLES.worker,
    env: { ...(app.env ?? {}), SMTP_URL: smtpSink.smtpUrl, MAIL_FROM: 'erp-api@slipway.local' },
  });
  // the release CLI pushes, signs and verifies images here (npm run release -- sign, SLIPWAY_REGISTRY)
  const registry = registryService({
    dir: join(dir, 'registry'),
    host: LOCAL_HOST,
    port: portFromEnv(env, 'SLIPWAY_REGISTRY_PORT', DEFAULT_PORTS.registry),
    portEnv: 'SLIPWAY_REGISTRY_PORT',
  });
  // alerts reach people through this receiver locally: GET <url>/notifications lists what would have been sent
  const alertReceiver = alertReceiverService({
    dir: join(dir, 'alert-receiver'),
    host: LOCAL_HOST,
    port: localPort(env, 'alertReceiver'),
    portEnv: PORT_VARIABLES.alertReceiver,
  });
  const alertmanager = alertmanagerService({
    dir: join(dir, 'alertmanager'),
    host: LOCAL_HOST,
    port: localPort(env, 'alertmanager'),
    portEnv: PORT_VARIABLES.alertmanager,
    receiverUrl: alertReceiver.url,
  });
  // backups and restore drills push their results here; Prometheus scrapes it with honor_labels
  const pushgateway = pushgatewayService({
    dir: join(dir, 'pushgateway'),
    host: LOCAL_HOST,
    port: localPort(env, 'pushgateway'),
    portEnv: PORT_VARIABLES.pushgateway,
  });
  const prometheus = prometheusService({
    dir: join(dir, 'prometheus'),
    host: LOCAL_HOST,
    port: localPort(env, 'prometheus'),
    portEnv: PORT_VARIABLES.prometheus,
    alertmanager: `${alertmanager.host}:${String(alertmanager.port)}`,
    pushgateway: `${pushgateway.host}:${String(pushgateway.port)}`,
    appTargets: [
      { address: `${app.host}:${String(app.port)}`, pod: SOURCE_APP_POD, podTemplateHash: SOURCE_POD_TEMPLATE_HASH },
    ],
    workerTargets: [{ address: `${worker.host}:${String(worker.port)}`, pod: SOURCE_WORKER_POD }],
  });
  // the front door: people and load go through it; a release moves its split between versions
  const nginx = nginxService({
    dir: join(dir, 'nginx'),
    host: LOCAL_HOST,
    port: localPort(env, 'nginx'),
    portEnv: PORT_VARIABLES.nginx,
    servers: [{ address: `${app.host}:${String(app.port)}`, weight: 100 }],
  });
  // the AnalysisRuns of finished releases, as the Argo Rollouts controller keeps them for history
  const argoRollouts = argoRolloutsService({
    scope,
    host: LOCAL_HOST,
    port: localPort(env, 'argoRollouts'),
    portEnv: PORT_VARIABLES.argoRollouts,
    targetsDir: prometheus.targetsDir,
  });
  return [
    postgres,
    redis,
    objectStore,
    registry,
    jaeger,
    app,
    smtpSink,
    worker,
    alertReceiver,
    alertmanager,
    pushgateway,
    prometheus,
    nginx,
    argoRollouts,
  ];
}
