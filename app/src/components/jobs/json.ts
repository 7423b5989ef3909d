import { z } from 'zod';

import { JOB_STATES, QUEUE_NAMES } from './queues.js';
import type { JobView } from './queues.js';

/** A job on the wire, snake_case like every response. */
export const jobResponse = z.strictObject({
  id: z.string(),
  queue: z.enum(QUEUE_NAMES),
  name: z.string(),
  state: z.enum(JOB_STATES).meta({
    description:
      '`waiting` (queued), `delayed` (waiting for a retry after a failed attempt), `active`, `completed`, or `dead_lettered` (out of attempts; an administrator may retry or discard it).',
  }),
  attempts_made: z.int(),
  attempts: z.int(),
  failed_reason: z.string().optional(),
  created_at: z.iso.datetime(),
  finished_at: z.iso.datetime().optional(),
});

export function jobJson(job: JobView): z.input<typeof jobResponse> {
  return {
    id: job.id,
    queue: job.queue,
    name: job.name,
    state: job.state,
    attempts_made: job.attemptsMade,
    attempts: job.attempts,
    ...(job.failedReason === undefined ? {} : { failed_reason: job.failedReason }),
    created_at: job.createdAt.toISOString(),
    ...(job.finishedAt === undefined ? {} : { finished_at: job.finishedAt.toISOString() }),
  };
}
