// Brings in the ProvidedContext augmentation, so inject('services') is typed.
import type {} from '../../../pipelines/src/testing/services.js';
import type { TestServices } from '../../../pipelines/src/testing/services.js';
import { inject } from 'vitest';

export type { TestServices };

/** The PostgreSQL and Redis the global setup started for this run. */
export function testServices(): TestServices {
  return inject('services');
}
