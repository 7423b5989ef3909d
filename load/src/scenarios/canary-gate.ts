/**
 * The canary gate: an open model of GATE_RATE requests per second (default 20) for GATE_DURATION (default 30s)
 * against the canary, each one request of the production-like mix, judged by the SLO thresholds. Fewer than
 * GATE_MIN_REQUESTS answers (default 100, the fewest at which a p99 is one request in a hundred) is no verdict.
 * One virtual user (the seeding sign-in): a canary without TRUST_PROXY counts every sign-in against the gate's address.
 */
import type { Scenario } from '../engine/model.js';
import { durationMs, wholeNumber, type Env } from '../engine/settings.js';
import { sloThresholds } from '../engine/thresholds.js';
import { MIX } from './erp-api.js';

export function canaryGate(env: Env): Scenario {
  return {
    name: 'gate',
    description: 'the canary gate: the production-like mix at a low constant rate',
    products: wholeNumber(env, 'GATE_PRODUCTS', 5),
    users: 1,
    flows: [
      {
        name: 'gate',
        arrival: {
          model: 'constant',
          rate: wholeNumber(env, 'GATE_RATE', 20),
          durationMs: durationMs(env, 'GATE_DURATION', '30s'),
        },
        mix: MIX,
      },
    ],
    thresholds: sloThresholds(),
    minRequests: wholeNumber(env, 'GATE_MIN_REQUESTS', 100),
  };
}
