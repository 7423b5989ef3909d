import type { Transporter } from 'nodemailer';

import type { Queryable } from '../../db/pool.js';
import { LOCKOUT_EMAIL_TEMPLATE } from '../auth/service.js';

/** The email queue's jobs: one scans the outbox on a schedule, the other sends one row. */
export const EMAIL_JOB = { scanOutbox: 'scan-outbox', send: 'send-email' } as const;
/** Rows one scan queues at most; the next scan takes the rest. */
export const OUTBOX_SCAN_BATCH = 200;

/** A mail as the sender hands it to SMTP. */
export interface RenderedMail {
  readonly subject: string;
  readonly text: string;
}

/** Unsent, due rows of `email_outbox`, oldest first. */
export async function dueOutboxIds(q: Queryable, limit = OUTBOX_SCAN_BATCH): Promise<string[]> {
  const { rows } = await q.query<{ id: string }>(
    'emailOutbox.due',
    'SELECT id::text AS id FROM email_outbox WHERE sent_at IS NULL AND send_after <= now() ORDER BY send_after, id LIMIT $1',
    [limit],
  );
  return rows.map((row) => row.id);
}

function text(value: unknown, fallback: string): string {
  return typeof value === 'string' && value !== '' ? value : fallback;
}

/** The subject and body of a template; an unknown template is an error the job records and dead-letters. */
export function renderMail(template: string, payload: Readonly<Record<string, unknown>>): RenderedMail {
  if (template === LOCKOUT_EMAIL_TEMPLATE) {
    const unlockAt = text(payload.unlockAt, 'in 15 minutes');
    return {
      subject: 'Your account is locked for a while',
      text: [
        `Hello ${text(payload.username, '')},`.replace(' ,', ','),
        '',
        `After ${typeof payload.failedAttempts === 'number' ? String(payload.failedAttempts) : 'too many'} wrong passwords in a row your account is locked until ${unlockAt}.`,
        'If that was not you, someone may be guessing your password: change it once you can sign in again,',
        'or ask an administrator to unlock the account.',
      ].join('\n'),
    };
  }
  throw new Error(`email_outbox template ${JSON.stringify(template)} has no renderer; add it to renderMail()`);
}

/**
 * The Message-ID of an outbox row: the same on every delivery attempt, so a receiver that sees a mail twice
 * (at-least-once: the send succeeded but marking the row failed) can drop the copy.
 */
export function outboxMessageId(id: string, from: string): string {
  const domain = from.slice(from.lastIndexOf('@') + 1);
  return `<email-outbox-${id}@${domain}>`;
}

/** What sending one row did. */
export type SendOutcome = 'sent' | 'already_sent' | 'missing';

/**
 * Sends one outbox row over SMTP and marks it sent. A row already marked is not sent again; a failed send records
 * the error on the row and throws, so the queue retries it.
 */
export async function sendOutboxMail(
  q: Queryable,
  transport: Transporter,
  from: string,
  id: string,
): Promise<SendOutcome> {
  const { rows } = await q.query<{
    recipient: string;
    template: string;
    payload: Record<string, unknown>;
    sent_at: Date | null;
  }>('emailOutbox.find', 'SELECT recipient, template, payload, sent_at FROM email_outbox WHERE id = $1', [id]);
  const row = rows[0];
  if (row === undefined) return 'missing';
  if (row.sent_at !== null) return 'already_sent';
  try {
    const mail = renderMail(row.template, row.payload);
    await transport.sendMail({
      from,
      to: row.recipient,
      subject: mail.subject,
      text: mail.text,
      messageId: outboxMessageId(id, from),
      headers: { 'X-Erp-Outbox-Id': id },
    });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    await q.query(
      'emailOutbox.failed',
      'UPDATE email_outbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1',
      [id, message.slice(0, 1000)],
    );
    throw error;
  }
  await q.query(
    'emailOutbox.sent',
    'UPDATE email_outbox SET attempts = attempts + 1, last_error = NULL, sent_at = now() WHERE id = $1',
    [id],
  );
  return 'sent';
}
