-- Refresh tokens issued by sign-in, one row per token. A refresh spends its row and issues the next one in the
-- same family (one family per sign-in); a spent token presented again revokes the whole family (reuse detection).

CREATE TABLE refresh_tokens (
  -- The token's jti: the JWT itself is never stored.
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  family_id uuid NOT NULL,
  issued_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz,
  CONSTRAINT refresh_tokens_expiry_check CHECK (expires_at > issued_at)
);
CREATE INDEX refresh_tokens_user_id_idx ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_family_id_idx ON refresh_tokens (family_id);

GRANT SELECT, INSERT, UPDATE, DELETE ON refresh_tokens TO erp_app;
