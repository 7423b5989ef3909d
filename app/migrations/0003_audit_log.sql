-- The audit log: append-only, hash-chained (each row's hash covers the previous row's hash, computed by the
-- audit component). Triggers refuse UPDATE, DELETE and TRUNCATE for everyone, the owner included; erp_app
-- may only SELECT and INSERT.

CREATE TABLE audit_logs (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  occurred_at timestamptz NOT NULL DEFAULT now(),
  -- No foreign key: the log must outlive and record anything, including unknown or failed actors.
  actor_user_id uuid,
  event_type text NOT NULL,
  resource_type text,
  resource_id text,
  ip inet,
  user_agent text,
  before jsonb,
  after jsonb,
  metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  prev_hash text,
  hash text NOT NULL,
  CONSTRAINT audit_logs_event_type_check CHECK (length(event_type) BETWEEN 1 AND 100),
  CONSTRAINT audit_logs_hash_check CHECK (length(hash) > 0)
);
CREATE INDEX audit_logs_occurred_at_idx ON audit_logs (occurred_at);
CREATE INDEX audit_logs_actor_user_id_idx ON audit_logs (actor_user_id, occurred_at);
CREATE INDEX audit_logs_resource_idx ON audit_logs (resource_type, resource_id, occurred_at);
CREATE INDEX audit_logs_event_type_idx ON audit_logs (event_type, occurred_at);

CREATE FUNCTION audit_logs_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_logs is append-only: % is not allowed', TG_OP
    USING ERRCODE = 'insufficient_privilege',
          HINT = 'record a new audit event instead of changing or removing one';
END
$$;

CREATE TRIGGER audit_logs_no_update BEFORE UPDATE ON audit_logs
  FOR EACH ROW EXECUTE FUNCTION audit_logs_refuse_change();
CREATE TRIGGER audit_logs_no_delete BEFORE DELETE ON audit_logs
  FOR EACH ROW EXECUTE FUNCTION audit_logs_refuse_change();
CREATE TRIGGER audit_logs_no_truncate BEFORE TRUNCATE ON audit_logs
  FOR EACH STATEMENT EXECUTE FUNCTION audit_logs_refuse_change();

GRANT SELECT, INSERT ON audit_logs TO erp_app;
