// The Pulumi program (Pulumi.yaml: main: infra/). Everything lives in src/; this file only wires it up.
import { loadStackConfig } from './src/config.js';
import { loadMonitoringSources } from './src/monitoring-sources.js';
import { defaultReleaseInputs, slipway } from './src/program.js';

const outputs = slipway(loadStackConfig(), defaultReleaseInputs(loadMonitoringSources()));

export const vpcId = outputs.vpcId;
export const clusterName = outputs.clusterName;
export const kubeconfig = outputs.kubeconfig;
export const databaseAddress = outputs.databaseAddress;
export const cacheEndpoint = outputs.cacheEndpoint;
export const backupBucket = outputs.backupBucket;
export const backupVault = outputs.backupVault;
export const url = outputs.url;
export const image = outputs.image;
