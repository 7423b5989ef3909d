-- The base roles and what each may do. Permissions are resource:action; "_own" actions limit the caller
-- to rows they own (their orders, their profile).

INSERT INTO permissions (name, description) VALUES
  ('users:read', 'list and view any user'),
  ('users:manage', 'create, update and deactivate users'),
  ('roles:manage', 'grant and revoke roles'),
  ('products:read', 'list and view products'),
  ('products:create', 'add products'),
  ('products:update', 'change products, prices and stock'),
  ('products:delete', 'deactivate products'),
  ('orders:create', 'place orders'),
  ('orders:read_own', 'view one''s own orders'),
  ('orders:read', 'view any order'),
  ('orders:update', 'change the status of any order'),
  ('orders:cancel_own', 'cancel one''s own pending orders'),
  ('audit:read', 'read the audit log');

INSERT INTO roles (name, description) VALUES
  ('admin', 'full access, including users, roles and the audit log'),
  ('manager', 'runs the catalogue and fulfils orders'),
  ('customer', 'browses products and places orders');

INSERT INTO role_permissions (role_id, permission_id)
SELECT r.id, p.id
  FROM roles r
  JOIN permissions p ON
    r.name = 'admin'
    OR (r.name = 'manager' AND p.name IN (
      'users:read', 'products:read', 'products:create', 'products:update', 'products:delete',
      'orders:read', 'orders:update', 'audit:read'))
    OR (r.name = 'customer' AND p.name IN (
      'products:read', 'orders:create', 'orders:read_own', 'orders:cancel_own'));
