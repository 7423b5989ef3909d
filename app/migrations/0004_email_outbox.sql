-- Outgoing email written in the same transaction as the change that causes it (e.g. an account lockout),
-- and sent later by a worker, so a mail outage never loses or blocks a notification.

CREATE TABLE email_outbox (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id uuid REFERENCES users (id) ON DELETE CASCADE,
  recipient text NOT NULL,
  template text NOT NULL,
  payload jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  send_after timestamptz NOT NULL DEFAULT now(),
  attempts integer NOT NULL DEFAULT 0,
  last_error text,
  sent_at timestamptz,
  CONSTRAINT email_outbox_recipient_check CHECK (position('@' IN recipient) > 1),
  CONSTRAINT email_outbox_template_check CHECK (template ~ '^[a-z][a-z0-9_]*$'),
  CONSTRAINT email_outbox_attempts_check CHECK (attempts >= 0)
);
CREATE INDEX email_outbox_user_id_idx ON email_outbox (user_id);
-- The worker's queue: unsent mail, oldest due first.
CREATE INDEX email_outbox_due_idx ON email_outbox (send_after) WHERE sent_at IS NULL;

GRANT SELECT, INSERT, UPDATE, DELETE ON email_outbox TO erp_app;
