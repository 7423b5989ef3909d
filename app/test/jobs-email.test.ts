import { rmSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { waitUntil } from '@slipway/pipelines/testing/wait';
import { scopeDir } from '@slipway/pipelines/platform/paths';
import { EMAIL_JOB } from '../src/components/email/outbox.js';
import { receivedMail, smtpSink } from '@slipway/pipelines/platform/services/smtp-sink';
import type { SmtpSink } from '@slipway/pipelines/platform/services/smtp-sink';
import { startJobsRig } from './support/jobs.js';
import type { JobsRig } from './support/jobs.js';
import { freePort } from './support/net.js';
import { waitFor } from './support/server-process.js';

const dir = join(scopeDir('test'), `run-${process.pid}-jobs-email`);
const started: { rig?: JobsRig; sink?: SmtpSink } = {};
let sinkUrl = '';

beforeAll(async () => {
  const sink = smtpSink(join(dir, 'messages.jsonl'));
  started.sink = sink;
  const smtpPort = await freePort();
  const httpPort = await freePort();
  await new Promise<void>((resolve) => sink.smtp.listen(smtpPort, '127.0.0.1', () => resolve()));
  await new Promise<void>((resolve) => sink.http.listen(httpPort, '127.0.0.1', () => resolve()));
  sinkUrl = `http://127.0.0.1:${httpPort}`;
  started.rig = await startJobsRig('jobs-email', {
    env: { SMTP_URL: `smtp://127.0.0.1:${smtpPort}`, MAIL_FROM: 'erp@mail.test', EMAIL_OUTBOX_POLL_MS: '1000' },
  });
}, 60_000);

afterAll(async () => {
  await started.rig?.close();
  await started.sink?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the email outbox', () => {
  it('is drained through the queue and sent over SMTP once, with a Message-ID to deduplicate on', async () => {
    const { rig } = started;
    if (rig === undefined) throw new Error('beforeAll did not start the rig');
    // As the account lockout writes it (app/src/components/auth/service.ts).
    const [row] = await rig.sql(
      `INSERT INTO email_outbox (user_id, recipient, template, payload)
       VALUES ($1, $2, 'account_locked', $3) RETURNING id::text AS id`,
      [
        rig.customer.id,
        rig.customer.email,
        JSON.stringify({ username: rig.customer.username, unlockAt: '2026-12-05T01:15:00.000Z', failedAttempts: 20 }),
      ],
    );
    const id = String(row?.id);
    await rig.spawnWorker();
    const mail = await waitFor('the mail at the SMTP sink', async () =>
      (await receivedMail(sinkUrl)).find((message) => message.to.includes(rig.customer.email)),
    );
    expect(mail).toMatchObject({
      from: 'erp@mail.test',
      messageId: `<email-outbox-${id}@mail.test>`,
      subject: 'Your account is locked for a while',
    });
    expect(mail.raw).toContain('locked until 2026-12-05T01:15:00.000Z');
    const [sent] = await rig.sql(
      'SELECT sent_at IS NOT NULL AS sent, attempts, last_error FROM email_outbox WHERE id = $1',
      [id],
    );
    expect(sent).toEqual({ sent: true, attempts: 1, last_error: null });

    // Later scans find nothing due: the row is not sent again.
    const scans = () =>
      rig.workerLogs().filter((line) => line.msg === 'job completed' && line.name === EMAIL_JOB.scanOutbox).length;
    const scansAfterSend = scans();
    await waitUntil('two more outbox scans after the send', () => scans() >= scansAfterSend + 2, {
      timeoutMs: 20_000,
      seen: () => `${scans() - scansAfterSend} scans`,
    });
    expect((await receivedMail(sinkUrl)).filter((message) => message.to.includes(rig.customer.email))).toHaveLength(1);
  }, 60_000);
});
