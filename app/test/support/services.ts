// Brings in the ProvidedContext augmentation, so inject('services') is typed.
import type {} from '@slipway/pipelines/testing/services';
import type { TestServices } from '@slipway/pipelines/testing/services';
import { inject } from 'vitest';

export type { TestServices };

/** The PostgreSQL and Redis the global setup started for this run. */
export function testServices(): TestServices {
  return inject('services');
}
