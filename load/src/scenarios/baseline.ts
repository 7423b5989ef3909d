/**
 * Baseline: the production-like mix at BASELINE_RATE iterations per second (default 100) for BASELINE_DURATION
 * (default 5m), plus sign-ins at LOGIN_RATE (default 1/s). Thresholds are the SLOs.
 *   TARGET_URL=http://127.0.0.1:8080 SEED_EMAIL=… SEED_PASSWORD=… .tools/bin/k6 run load/src/scenarios/baseline.ts
 */
import { steadyMix } from './erp-api.ts';

const mix = steadyMix({ scenario: 'baseline', prefix: 'BASELINE', rate: 100, duration: '5m' });

export const options = mix.options;
export const setup = mix.setup;
export const signIn = mix.signIn;
export const handleSummary = mix.handleSummary;
export default mix.run;
