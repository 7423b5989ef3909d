import {
  APP_INGRESS,
  APP_JOB,
  APP_JOB_LABEL,
  METRICS_PORT,
  METRICS_SERVICE,
  WORKER_JOB,
  WORKER_METRICS_SERVICE,
} from './config.js';
import {
  appServiceMonitorSpec,
  discoveryLabels,
  operatorRelabelConfigs,
  relabel,
  workerServiceMonitorSpec,
} from './service-monitor.js';

/**
 * Labels of app series in the promtool cases: what prometheus-operator's relabelling of the ServiceMonitor gives a
 * pod of the metrics Service, so a rule that selects a label the cluster does not attach fails its test.
 */

/** The labels infra puts on every app Service (a test in infra holds its Services to the same job). */
export const FIXTURE_SERVICE_LABELS: Readonly<Record<string, string>> = {
  [APP_JOB_LABEL]: APP_JOB,
  'app.kubernetes.io/part-of': 'slipway',
  'slipway.dev/metrics': 'true',
};

export const FIXTURE_NAMESPACE = 'erp';

/** The scraped labels of one app pod, numbered from 1. */
export function appTarget(pod = 1): Readonly<Record<string, string>> {
  const hash = '7f9c6d5b8';
  const labels = relabel(
    discoveryLabels({
      address: `10.0.1.${16 + pod}:8080`,
      namespace: FIXTURE_NAMESPACE,
      service: { name: METRICS_SERVICE, labels: FIXTURE_SERVICE_LABELS },
      pod: {
        name: `${APP_JOB}-${hash}-${['x2k4q', 'm8r7t', 'p3z9w'][pod - 1] ?? String(pod)}`,
        labels: { 'app.kubernetes.io/name': APP_JOB, 'rollouts-pod-template-hash': hash },
        container: APP_JOB,
      },
      portName: METRICS_PORT,
    }),
    operatorRelabelConfigs(appServiceMonitorSpec(FIXTURE_NAMESPACE, FIXTURE_SERVICE_LABELS)),
  );
  if (labels === undefined) throw new Error('the ServiceMonitor relabelling drops the fixture pod: fix appTarget');
  return labels;
}

/** A series selector in promtool's input notation: `metric{<pod's target labels>,<extra>}`. */
export function appSeries(metric: string, extra: Readonly<Record<string, string>> = {}, pod = 1): string {
  const labels = { ...appTarget(pod), ...extra };
  return `${metric}{${Object.entries(labels)
    .map(([name, value]) => `${name}=${JSON.stringify(value)}`)
    .join(',')}}`;
}

/** The labels infra puts on the worker's Services. */
export const FIXTURE_WORKER_SERVICE_LABELS: Readonly<Record<string, string>> = {
  ...FIXTURE_SERVICE_LABELS,
  [APP_JOB_LABEL]: WORKER_JOB,
};

/** The scraped labels of one worker pod, numbered from 1. */
export function workerTarget(pod = 1): Readonly<Record<string, string>> {
  const labels = relabel(
    discoveryLabels({
      address: `10.0.1.${40 + pod}:8080`,
      namespace: FIXTURE_NAMESPACE,
      service: { name: WORKER_METRICS_SERVICE, labels: FIXTURE_WORKER_SERVICE_LABELS },
      pod: {
        name: `${WORKER_JOB}-6b8d4f7c9-${['h4n2v', 'q9w3e', 't7y5u'][pod - 1] ?? String(pod)}`,
        labels: { [APP_JOB_LABEL]: WORKER_JOB },
        container: WORKER_JOB,
      },
      portName: METRICS_PORT,
    }),
    operatorRelabelConfigs(workerServiceMonitorSpec(FIXTURE_NAMESPACE, FIXTURE_WORKER_SERVICE_LABELS)),
  );
  if (labels === undefined)
    throw new Error('the worker ServiceMonitor relabelling drops the fixture pod: fix workerTarget');
  return labels;
}

/** A worker series selector in promtool's input notation. */
export function workerSeries(metric: string, extra: Readonly<Record<string, string>> = {}, pod = 1): string {
  const labels = { ...workerTarget(pod), ...extra };
  return `${metric}{${Object.entries(labels)
    .map(([name, value]) => `${name}=${JSON.stringify(value)}`)
    .join(',')}}`;
}

/** A request counter of ingress-nginx for erp-api's Ingress, as its chart's ServiceMonitor scrapes it. */
export function edgeSeries(status: string): string {
  const labels: Record<string, string> = {
    job: 'ingress-nginx-controller-metrics',
    namespace: 'ingress-nginx',
    service: 'ingress-nginx-controller-metrics',
    endpoint: 'metrics',
    pod: 'ingress-nginx-controller-5d8f7c9b4-q7w2e',
    container: 'controller',
    instance: '10.0.3.9:10254',
    controller_class: 'k8s.io/ingress-nginx',
    controller_namespace: 'ingress-nginx',
    controller_pod: 'ingress-nginx-controller-5d8f7c9b4-q7w2e',
    exported_namespace: FIXTURE_NAMESPACE,
    exported_service: `${APP_JOB}-stable`,
    host: 'erp.example.com',
    ingress: APP_INGRESS,
    method: 'GET',
    path: '/',
    status,
  };
  return `nginx_ingress_controller_requests{${Object.entries(labels)
    .map(([name, value]) => `${name}=${JSON.stringify(value)}`)
    .join(',')}}`;
}
