-- Invoice documents the worker renders per order (one per order; a new rendering replaces the old), and the
-- permission that lets administrators list, retry and discard background jobs that used up their attempts.

CREATE TABLE invoices (
  order_id uuid PRIMARY KEY REFERENCES orders (id) ON DELETE CASCADE,
  -- The queue job that rendered it, so an answer can name the job behind the document.
  job_id text NOT NULL,
  pdf bytea NOT NULL,
  sha256 text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT invoices_pdf_check CHECK (octet_length(pdf) BETWEEN 5 AND 10485760),
  CONSTRAINT invoices_sha256_check CHECK (sha256 ~ '^[0-9a-f]{64}$')
);
CREATE TRIGGER invoices_set_updated_at BEFORE UPDATE ON invoices
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();

GRANT SELECT, INSERT, UPDATE ON invoices TO erp_app;

INSERT INTO permissions (name, description) VALUES
  ('jobs:manage', 'list, retry and discard background jobs in the dead-letter set');

INSERT INTO role_permissions (role_id, permission_id)
SELECT r.id, p.id FROM roles r JOIN permissions p ON p.name = 'jobs:manage' WHERE r.name = 'admin';
