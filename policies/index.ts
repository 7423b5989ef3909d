// The policy pack entry (PulumiPolicy.yaml). Run with: pulumi preview --policy-pack policies
import { PolicyPack } from '@pulumi/policy';

import { mandatoryPolicies } from './src/policies';

new PolicyPack('slipway', { policies: [...mandatoryPolicies] });
