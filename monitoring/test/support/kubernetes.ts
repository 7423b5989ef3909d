import type { KubernetesObject } from '../../src/kubernetes.js';

/** The Alertmanager Secret carries paths to secret files only, never a webhook URL or key. */
export function alertmanagerSecretIsPlain(secret: KubernetesObject): boolean {
  const text = JSON.stringify(secret);
  return text.includes('_file') && !/hooks\.slack\.com|routing_key"|api_url"/.test(text);
}
