-- erp_audit_reader: the read-only login of the hourly `audit verify` job. It may read the audit log and nothing
-- else; it owns nothing, so it can neither change rows nor disable the append-only triggers.

-- Roles are cluster-wide: another database of the same cluster (or a concurrent runner there) may have made it.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'erp_audit_reader') THEN
    CREATE ROLE erp_audit_reader NOLOGIN;
  END IF;
EXCEPTION
  WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

GRANT USAGE ON SCHEMA public TO erp_audit_reader;
GRANT SELECT ON audit_logs TO erp_audit_reader;
