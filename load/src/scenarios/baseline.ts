/**
 * Baseline: the production-like mix at BASELINE_RATE requests per second (default 100) for BASELINE_DURATION
 * (default 5m), plus sign-ins at LOGIN_RATE (default 1/s). Thresholds are the SLOs.
 */
import type { Scenario } from '../engine/model.js';
import type { Env } from '../engine/settings.js';
import { steadyMix } from './erp-api.js';

export function baseline(env: Env): Scenario {
  return steadyMix(env, {
    name: 'baseline',
    prefix: 'BASELINE',
    rate: 100,
    duration: '5m',
    description: 'the production-like mix at an ordinary rate',
  });
}
