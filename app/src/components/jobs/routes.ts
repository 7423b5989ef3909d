import type { Request, RequestHandler, Router } from 'express';
import { z } from 'zod';

import type { Database } from '../../db/pool.js';
import { endpointRouter } from '../../http/endpoint.js';
import { paginationShape, pageJson, pageResponse, pageWindow } from '../../http/pagination.js';
import { callerId } from '../../http/request-context.js';
import { defineEndpoint } from '../access/index.js';
import type { Authorize } from '../access/index.js';
import type { AuditEvent } from '../audit/events.js';
import type { AuditLog } from '../audit/log.js';
import { jobJson, jobResponse } from './json.js';
import { QUEUE_NAMES } from './queues.js';
import type { JobQueues, JobView } from './queues.js';

/** Audit event types of dead-letter administration. */
export const JOB_AUDIT_EVENT = {
  deadLetterRead: 'jobs.dead_letter.read',
  retried: 'jobs.job.retried',
  discarded: 'jobs.job.discarded',
} as const;

export interface JobsRouterDependencies {
  readonly db: Database;
  readonly jobs: JobQueues;
  readonly audit: Pick<AuditLog, 'record'>;
  readonly authenticate: RequestHandler;
  readonly authorize: Authorize;
}

const queueParams = z.strictObject({
  queue: z.enum(QUEUE_NAMES, { error: `queue must be one of ${QUEUE_NAMES.join(', ')}` }),
});
const jobParams = queueParams.extend({
  id: z
    .string()
    .regex(/^[A-Za-z0-9:_-]{1,100}$/, { error: 'id must be a job id: 1 to 100 letters, digits, ":", "_" or "-"' }),
});
const deadLetterQuery = z.strictObject({ ...paginationShape });

function auditedEvent(req: Request, event: Omit<AuditEvent, 'actorUserId' | 'ip' | 'userAgent'>): AuditEvent {
  return { ...event, actorUserId: callerId(req), ip: req.ip, userAgent: req.get('User-Agent') };
}

function jobAudit(job: JobView): Record<string, string | number> {
  return {
    queue: job.queue,
    name: job.name,
    state: job.state,
    attempts_made: job.attemptsMade,
    ...(job.failedReason === undefined ? {} : { failed_reason: job.failedReason }),
  };
}

/** The audit event of a change to one dead-lettered job: the job, and its state before or after. */
function jobEvent(
  req: Request,
  type: (typeof JOB_AUDIT_EVENT)['retried' | 'discarded'],
  job: { readonly queue: string; readonly id: string },
  change: Pick<AuditEvent, 'before' | 'after'>,
): AuditEvent {
  return auditedEvent(req, { type, resourceType: 'job', resourceId: `${job.queue}:${job.id}`, ...change });
}

/** The dead-letter set of each queue, for administrators: list, retry, discard; every call is audited. */
export function createJobsRouter({ db, jobs, audit, authenticate, authorize }: JobsRouterDependencies): Router {
  const admin = { tags: ['jobs'], access: { permission: 'jobs:manage' } } as const;
  return endpointRouter(
    [
      defineEndpoint({
        ...admin,
        method: 'get',
        path: '/api/v1/jobs/:queue/dead-letter',
        summary: 'Jobs that used up their attempts, newest first (audited)',
        request: { params: queueParams, query: deadLetterQuery },
        responses: {
          200: { description: 'One page of dead-lettered jobs.', schema: pageResponse(jobResponse, 'jobs') },
        },
        handle: async ({ params, query }, req, res) => {
          const { offset, limit } = pageWindow(query);
          const { jobs: items, total } = await jobs.deadLettered(params.queue, offset, limit);
          const metadata = { page: query.page, limit: query.limit, total };
          await audit.record(
            db,
            auditedEvent(req, {
              type: JOB_AUDIT_EVENT.deadLetterRead,
              resourceType: 'queue',
              resourceId: params.queue,
              metadata,
            }),
          );
          res.json(pageJson({ items, page: query.page, limit: query.limit, total }, jobJson));
        },
      }),
      defineEndpoint({
        ...admin,
        method: 'post',
        path: '/api/v1/jobs/:queue/dead-letter/:id/retry',
        summary: 'Run a dead-lettered job again with a fresh set of attempts (audited)',
        request: { params: jobParams },
        responses: { 200: { description: 'The job, waiting again.', schema: jobResponse } },
        errors: ['NOT_FOUND'],
        handle: async ({ params }, req, res) => {
          const job = await jobs.retry(params.queue, params.id);
          await audit.record(db, jobEvent(req, JOB_AUDIT_EVENT.retried, params, { after: jobAudit(job) }));
          res.json(jobJson(job));
        },
      }),
      defineEndpoint({
        ...admin,
        method: 'delete',
        path: '/api/v1/jobs/:queue/dead-letter/:id',
        summary: 'Remove a dead-lettered job for good (audited)',
        request: { params: jobParams },
        responses: { 204: { description: 'Removed.' } },
        errors: ['NOT_FOUND'],
        handle: async ({ params }, req, res) => {
          const job = await jobs.discard(params.queue, params.id);
          await audit.record(db, jobEvent(req, JOB_AUDIT_EVENT.discarded, params, { before: jobAudit(job) }));
          res.status(204).end();
        },
      }),
    ],
    { authenticate, authorize },
  );
}
