import { createHash } from 'node:crypto';

import type { Queryable } from '../../db/pool.js';

/** A stored invoice document. */
export interface StoredInvoice {
  readonly orderId: string;
  readonly jobId: string;
  readonly pdf: Buffer;
  readonly sha256: string;
  readonly updatedAt: Date;
}

/** Stores (or replaces) the PDF of an order; a repeated job writes the same row again, never a second one. */
export async function storeInvoice(q: Queryable, orderId: string, jobId: string, pdf: Buffer): Promise<void> {
  const sha256 = createHash('sha256').update(pdf).digest('hex');
  await q.query(
    'invoices.store',
    `INSERT INTO invoices (order_id, job_id, pdf, sha256) VALUES ($1, $2, $3, $4)
     ON CONFLICT (order_id) DO UPDATE SET job_id = EXCLUDED.job_id, pdf = EXCLUDED.pdf, sha256 = EXCLUDED.sha256`,
    [orderId, jobId, pdf, sha256],
  );
}

/** The stored invoice of an order, or undefined. */
export async function findInvoice(q: Queryable, orderId: string): Promise<StoredInvoice | undefined> {
  const result = await q.query<{ order_id: string; job_id: string; pdf: Buffer; sha256: string; updated_at: Date }>(
    'invoices.find',
    'SELECT order_id, job_id, pdf, sha256, updated_at FROM invoices WHERE order_id = $1',
    [orderId],
  );
  const row = result.rows[0];
  if (row === undefined) return undefined;
  return { orderId: row.order_id, jobId: row.job_id, pdf: row.pdf, sha256: row.sha256, updatedAt: row.updated_at };
}

/** The e-mail address of the order's owner, for the document's customer line. */
export async function orderOwnerEmail(q: Queryable, orderId: string): Promise<string | undefined> {
  const result = await q.query<{ email: string }>(
    'invoices.owner_email',
    'SELECT u.email FROM orders o JOIN users u ON u.id = o.user_id WHERE o.id = $1',
    [orderId],
  );
  return result.rows[0]?.email;
}
