import type { Request, RequestHandler, Router } from 'express';
import { z } from 'zod';

import type { Database } from '../../db/pool.js';
import { NotFoundError } from '../../errors.js';
import { endpointRouter } from '../../http/endpoint.js';
import { callerId } from '../../http/request-context.js';
import { defineEndpoint } from '../access/index.js';
import type { Authorize, Holds } from '../access/index.js';
import { ANY_OWNER, createOrderService } from '../catalog/orders/service.js';
import type { OrderOwner } from '../catalog/orders/service.js';
import { orderIdParams } from '../catalog/orders/schemas.js';
import { jobJson, jobResponse } from '../jobs/json.js';
import type { JobQueues } from '../jobs/queues.js';
import { findInvoice } from './repository.js';

/** The name of the invoice queue's render job. */
export const RENDER_INVOICE_JOB = 'render-invoice';

export interface InvoiceRouterDependencies {
  readonly db: Database;
  readonly jobs: JobQueues;
  readonly authenticate: RequestHandler;
  readonly authorize: Authorize;
  readonly holds: Holds;
}

const invoiceJobParams = z.strictObject({
  id: z.uuid({ error: 'id must be an order id (a UUID)' }),
  job_id: z.uuid({ error: 'job_id must be a job id (a UUID) as the Location of POST …/invoice gives it' }),
});

const enqueuedResponse = z.strictObject({ job: jobResponse, created: z.boolean() });

function jobLocation(orderId: string, jobId: string): string {
  return `/api/v1/orders/${orderId}/invoice/jobs/${jobId}`;
}

/**
 * Invoices of orders: the API queues the rendering and the worker (`erp-api worker`) stores the PDF. Whoever may
 * read the order may ask for its invoice.
 */
export function createInvoiceRouter({ db, jobs, authenticate, authorize, holds }: InvoiceRouterDependencies): Router {
  const orders = createOrderService(db);
  const readable = async (req: Request): Promise<OrderOwner> =>
    (await holds(req, 'orders:read')) ? ANY_OWNER : callerId(req);
  const invoice = {
    tags: ['invoices'],
    access: { permission: 'orders:read_own', alternatives: ['orders:read'] },
  } as const;
  const readers = "Holders of `orders:read` may use any order; others only their own (someone else's answers 404).";

  return endpointRouter(
    [
      defineEndpoint({
        ...invoice,
        method: 'post',
        path: '/api/v1/orders/:id/invoice',
        summary: 'Queue the rendering of the order’s invoice PDF',
        description: `${readers} While a rendering of the same order is pending, that job is answered again (\`created: false\`). At the queue's backlog limit the answer is 429 with a Retry-After from the observed drain rate.`,
        request: { params: orderIdParams },
        responses: {
          202: {
            description: 'Queued (or already pending); poll the Location for the job, then GET the invoice.',
            schema: enqueuedResponse,
            headers: { Location: 'The job.' },
          },
        },
        errors: ['NOT_FOUND'],
        handle: async ({ params }, req, res) => {
          // 404 for an order the caller may not see, before anything is queued.
          await orders.getOrder(await readable(req), params.id);
          const { job, created } = await jobs.enqueue(
            'invoices',
            RENDER_INVOICE_JOB,
            { orderId: params.id, requestedBy: callerId(req) },
            `order:${params.id}`,
          );
          res
            .status(202)
            .location(jobLocation(params.id, job.id))
            .json({ job: jobJson(job), created });
        },
      }),
      defineEndpoint({
        ...invoice,
        method: 'get',
        path: '/api/v1/orders/:id/invoice/jobs/:job_id',
        summary: 'The state of an invoice rendering job',
        description: `${readers} Finished jobs are kept a day, dead-lettered ones for JOB_DEAD_LETTER_RETENTION_DAYS.`,
        request: { params: invoiceJobParams },
        responses: { 200: { description: 'The job.', schema: jobResponse } },
        errors: ['NOT_FOUND'],
        handle: async ({ params }, req, res) => {
          await orders.getOrder(await readable(req), params.id);
          const job = await jobs.get('invoices', params.job_id);
          if (job.data.orderId !== params.id) {
            throw new NotFoundError(`order ${params.id} has no invoice job ${params.job_id}`);
          }
          res.json(jobJson(job));
        },
      }),
      defineEndpoint({
        ...invoice,
        method: 'get',
        path: '/api/v1/orders/:id/invoice',
        summary: 'The order’s invoice as a PDF',
        description: `${readers} Before the document is stored the answer is 404 with \`details.state\`: the pending job's state, or \`none\`.`,
        request: { params: orderIdParams },
        responses: {
          200: {
            description: 'The PDF.',
            schema: z.string().meta({ format: 'binary' }),
            contentType: 'application/pdf',
            headers: { ETag: 'The SHA-256 of the document.' },
          },
        },
        errors: ['NOT_FOUND'],
        handle: async ({ params }, req, res) => {
          await orders.getOrder(await readable(req), params.id);
          const stored = await findInvoice(db, params.id);
          if (stored === undefined) {
            const pending = await jobs.pendingFor('invoices', `order:${params.id}`);
            throw new NotFoundError(
              pending === undefined
                ? `order ${params.id} has no invoice yet; POST /api/v1/orders/${params.id}/invoice to render one`
                : `the invoice of order ${params.id} is not rendered yet (job ${pending.id} is ${pending.state}); try again shortly`,
              {
                details: { state: pending?.state ?? 'none', ...(pending === undefined ? {} : { job_id: pending.id }) },
              },
            );
          }
          res
            .status(200)
            .type('application/pdf')
            .set('Content-Disposition', `inline; filename="invoice-${params.id}.pdf"`)
            .set('ETag', `"${stored.sha256}"`)
            .send(stored.pdf);
        },
      }),
    ],
    { authenticate, authorize },
  );
}
