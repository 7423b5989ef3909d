/**
 * Peak: the production-like mix at PEAK_RATE requests per second (default 1000) for PEAK_DURATION (default 2m), plus
 * sign-ins at LOGIN_RATE (default 1/s). Thresholds are the SLOs.
 */
import type { Scenario } from '../engine/model.js';
import type { Env } from '../engine/settings.js';
import { steadyMix } from './erp-api.js';

export function peak(env: Env): Scenario {
  return steadyMix(env, {
    name: 'peak',
    prefix: 'PEAK',
    rate: 1000,
    duration: '2m',
    description: 'the production-like mix at the busiest expected rate',
  });
}
