/**
 * Soak: the production-like mix at SOAK_RATE iterations per second (default 50) for SOAK_DURATION (default 2m;
 * the long setting is SOAK_DURATION=2h), plus sign-ins at LOGIN_RATE (default 1/s). Thresholds are the SLOs; run it
 * through `npm run bench` (BENCH_SCENARIOS=soak) to have the app's RSS growth measured as well.
 *   TARGET_URL=http://127.0.0.1:8080 SEED_EMAIL=… SEED_PASSWORD=… .tools/bin/k6 run load/src/scenarios/soak.ts
 */
import { steadyMix } from './erp-api.ts';

const mix = steadyMix({ scenario: 'soak', prefix: 'SOAK', rate: 50, duration: '2m' });

export const options = mix.options;
export const setup = mix.setup;
export const signIn = mix.signIn;
export const handleSummary = mix.handleSummary;
export default mix.run;
