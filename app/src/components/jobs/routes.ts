import { Router } from 'express';
import type { Request, RequestHandler } from 'express';
import { z } from 'zod';

import type { Database } from '../../db/pool.js';
import { UnauthorizedError } from '../../errors.js';
import { describeRoute, withApiDocs } from '../../http/openapi.js';
import type { OpenAPIRegistry } from '../../http/openapi.js';
import { paginationShape, pageJson, pageResponse, pageWindow } from '../../http/pagination.js';
import { requestContext } from '../../http/request-context.js';
import { validate } from '../../http/validate.js';
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
  const userId = requestContext(req)?.userId;
  if (userId === undefined) throw new UnauthorizedError();
  return { ...event, actorUserId: userId, ip: req.ip, userAgent: req.get('User-Agent') };
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

/** The dead-letter set of each queue, for administrators: list, retry, discard; every call is audited. */
export function createJobsRouter({ db, jobs, audit, authenticate, authorize }: JobsRouterDependencies): Router {
  const router = Router();
  const manage = authorize('jobs:manage');

  const listDeadLetter = validate({ params: queueParams, query: deadLetterQuery });
  router.get('/api/v1/jobs/:queue/dead-letter', authenticate, manage, listDeadLetter, async (req, res) => {
    const { params, query } = listDeadLetter.input(req);
    const { offset, limit } = pageWindow(query);
    const { jobs: items, total } = await jobs.deadLettered(params.queue, offset, limit);
    await audit.record(
      db,
      auditedEvent(req, {
        type: JOB_AUDIT_EVENT.deadLetterRead,
        resourceType: 'queue',
        resourceId: params.queue,
        metadata: { page: query.page, limit: query.limit, total },
      }),
    );
    res.json(pageJson({ items, page: query.page, limit: query.limit, total }, jobJson));
  });

  const retryJob = validate({ params: jobParams });
  router.post('/api/v1/jobs/:queue/dead-letter/:id/retry', authenticate, manage, retryJob, async (req, res) => {
    const { params } = retryJob.input(req);
    const job = await jobs.retry(params.queue, params.id);
    await audit.record(
      db,
      auditedEvent(req, {
        type: JOB_AUDIT_EVENT.retried,
        resourceType: 'job',
        resourceId: `${params.queue}:${params.id}`,
        after: jobAudit(job),
      }),
    );
    res.json(jobJson(job));
  });

  const discardJob = validate({ params: jobParams });
  router.delete('/api/v1/jobs/:queue/dead-letter/:id', authenticate, manage, discardJob, async (req, res) => {
    const { params } = discardJob.input(req);
    const job = await jobs.discard(params.queue, params.id);
    await audit.record(
      db,
      auditedEvent(req, {
        type: JOB_AUDIT_EVENT.discarded,
        resourceType: 'job',
        resourceId: `${params.queue}:${params.id}`,
        before: jobAudit(job),
      }),
    );
    res.status(204).end();
  });

  return withApiDocs(router, describeJobsRoutes);
}

/** The dead-letter routes in the API reference. */
export function describeJobsRoutes(registry: OpenAPIRegistry): void {
  const admin = { tags: ['jobs'], auth: 'bearer', permission: 'jobs:manage' } as const;
  describeRoute(registry, {
    ...admin,
    method: 'get',
    path: '/api/v1/jobs/:queue/dead-letter',
    summary: 'Jobs that used up their attempts, newest first (audited)',
    request: { params: queueParams, query: deadLetterQuery },
    responses: { 200: { description: 'One page of dead-lettered jobs.', schema: pageResponse(jobResponse, 'jobs') } },
  });
  describeRoute(registry, {
    ...admin,
    method: 'post',
    path: '/api/v1/jobs/:queue/dead-letter/:id/retry',
    summary: 'Run a dead-lettered job again with a fresh set of attempts (audited)',
    request: { params: jobParams },
    responses: { 200: { description: 'The job, waiting again.', schema: jobResponse } },
    errors: ['NOT_FOUND'],
  });
  describeRoute(registry, {
    ...admin,
    method: 'delete',
    path: '/api/v1/jobs/:queue/dead-letter/:id',
    summary: 'Remove a dead-lettered job for good (audited)',
    request: { params: jobParams },
    responses: { 204: { description: 'Removed.' } },
    errors: ['NOT_FOUND'],
  });
}
