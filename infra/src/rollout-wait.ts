/**
 * What makes `pulumi up` wait for the canary of the revision it just applied. The Rollout's own
 * `pulumi.com/waitFor` reads `.status.phase`, which on an update is still the previous revision's `Healthy` until
 * the controller observes the new generation; so after each Rollout change a Job in the app image polls the Rollout
 * until the controller has observed the new generation and promoted it (exit 0), or the canary aborted (exit 1).
 */

/**
 * The waiter's judgement on one read of the Rollout: waiting, promoted or aborted. Argo Rollouts writes `status.observedGeneration` as a string; a status older than `metadata.generation` says
 * nothing about the new revision.
 */
const JUDGE = `
function judge(rollout) {
  const generation = Number(rollout?.metadata?.generation ?? NaN);
  const status = rollout?.status ?? {};
  const observed = Number(status.observedGeneration ?? NaN);
  if (!(observed >= generation))
    return { state: 'waiting', reason: 'the controller has not observed generation ' + generation + ' yet (observed ' + (status.observedGeneration ?? 'none') + ')' };
  if (status.abort === true || status.phase === 'Degraded')
    return { state: 'aborted', reason: 'generation ' + generation + ' ' + (status.abort === true ? 'was aborted' : 'is Degraded') + ': ' + (status.message ?? 'no message') };
  if (status.phase === 'Healthy' && status.stableRS !== undefined && status.stableRS === status.currentPodHash)
    return { state: 'promoted', reason: 'generation ' + generation + ' is promoted: pod-template hash ' + status.currentPodHash + ' is stable' };
  return { state: 'waiting', reason: 'generation ' + generation + ' is ' + (status.phase ?? 'without a phase') + ', step ' + (status.currentStepIndex ?? '?') + (status.message ? ': ' + status.message : '') };
}`;

/**
 * An ES module run by `node` in the Job: reads the Rollout from the in-cluster API with the pod's service account
 * token every POLL_SECONDS, prints each change of verdict, exits 0 when promoted and 1 when aborted.
 * KUBE_API_URL and TOKEN_FILE default to what Kubernetes gives every pod.
 */
export const ROLLOUT_WAIT_SCRIPT = `${JUDGE}
import { readFileSync } from 'node:fs';
const { NAMESPACE, ROLLOUT } = process.env;
const api = process.env.KUBE_API_URL ?? 'https://' + process.env.KUBERNETES_SERVICE_HOST + ':' + process.env.KUBERNETES_SERVICE_PORT;
const tokenFile = process.env.TOKEN_FILE ?? '/var/run/secrets/kubernetes.io/serviceaccount/token';
const pollMs = Number(process.env.POLL_SECONDS ?? '5') * 1000;
const url = api + '/apis/argoproj.io/v1alpha1/namespaces/' + NAMESPACE + '/rollouts/' + ROLLOUT;
let last = '';
for (;;) {
  let verdict;
  try {
    const response = await fetch(url, { headers: { authorization: 'Bearer ' + readFileSync(tokenFile, 'utf8').trim() } });
    verdict = response.ok ? judge(await response.json()) : { state: 'waiting', reason: 'GET ' + url + ' answered ' + response.status };
  } catch (error) {
    verdict = { state: 'waiting', reason: 'GET ' + url + ' failed: ' + error.message };
  }
  if (verdict.reason !== last) console.log('rollout ' + NAMESPACE + '/' + ROLLOUT + ': ' + verdict.reason);
  last = verdict.reason;
  if (verdict.state === 'promoted') process.exit(0);
  if (verdict.state === 'aborted') process.exit(1);
  await new Promise((resolve) => setTimeout(resolve, pollMs));
}
`;
