-- Users, roles and permissions (RBAC), and the erp_app role the service's login is a member of.
-- Ids of users, products and orders are UUIDs, so they cannot be enumerated from the URLs that carry them.

-- Roles are cluster-wide: another database of the same cluster (or a concurrent runner there) may have made it.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'erp_app') THEN
    CREATE ROLE erp_app NOLOGIN;
  END IF;
EXCEPTION
  WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

GRANT USAGE ON SCHEMA public TO erp_app;
GRANT SELECT ON schema_migrations TO erp_app;

-- Keeps updated_at honest whatever the statement that changed the row.
CREATE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END
$$;

CREATE TABLE users (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  email text NOT NULL,
  username text NOT NULL,
  password_hash text NOT NULL,
  is_active boolean NOT NULL DEFAULT true,
  failed_login_count integer NOT NULL DEFAULT 0,
  locked_until timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT users_email_check CHECK (length(email) BETWEEN 3 AND 254 AND position('@' IN email) > 1),
  CONSTRAINT users_username_check CHECK (length(username) BETWEEN 1 AND 64),
  CONSTRAINT users_password_hash_check CHECK (length(password_hash) > 0),
  CONSTRAINT users_failed_login_count_check CHECK (failed_login_count >= 0)
);
-- Case-insensitive uniqueness: Ada@Example.com and ada@example.com are one account; look up by lower(email).
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
CREATE TRIGGER users_set_updated_at BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE roles (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name text NOT NULL CONSTRAINT roles_name_key UNIQUE,
  description text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT roles_name_check CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$')
);

CREATE TABLE permissions (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- resource:action, e.g. orders:create
  name text NOT NULL CONSTRAINT permissions_name_key UNIQUE,
  description text NOT NULL DEFAULT '',
  CONSTRAINT permissions_name_check CHECK (name ~ '^[a-z][a-z_]*:[a-z][a-z_]*$')
);

CREATE TABLE user_roles (
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  -- A role still held by someone cannot be deleted: take it away from them first.
  role_id bigint NOT NULL REFERENCES roles (id) ON DELETE RESTRICT,
  granted_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, role_id)
);
-- The primary key covers user_id; role_id needs its own index for "who has this role" and FK checks.
CREATE INDEX user_roles_role_id_idx ON user_roles (role_id);

CREATE TABLE role_permissions (
  role_id bigint NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
  permission_id bigint NOT NULL REFERENCES permissions (id) ON DELETE RESTRICT,
  PRIMARY KEY (role_id, permission_id)
);
CREATE INDEX role_permissions_permission_id_idx ON role_permissions (permission_id);

GRANT SELECT, INSERT, UPDATE, DELETE ON users, roles, permissions, user_roles, role_permissions TO erp_app;
