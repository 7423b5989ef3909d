/**
 * Peak: the production-like mix at PEAK_RATE iterations per second (default 1000) for PEAK_DURATION
 * (default 2m), plus sign-ins at LOGIN_RATE (default 1/s). Thresholds are the SLOs.
 *   TARGET_URL=http://127.0.0.1:8080 SEED_EMAIL=… SEED_PASSWORD=… .tools/bin/k6 run load/src/scenarios/peak.ts
 */
import { steadyMix } from './erp-api.ts';

const mix = steadyMix({ scenario: 'peak', prefix: 'PEAK', rate: 1000, duration: '2m' });

export const options = mix.options;
export const setup = mix.setup;
export const signIn = mix.signIn;
export const handleSummary = mix.handleSummary;
export default mix.run;
