-- Products, orders and their lines. Money is in integer cents; prices are copied onto order lines
-- so later price changes do not rewrite past orders.

CREATE TABLE products (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  sku text NOT NULL,
  name text NOT NULL,
  description text NOT NULL DEFAULT '',
  price_cents integer NOT NULL,
  stock integer NOT NULL DEFAULT 0,
  is_active boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT products_sku_key UNIQUE (sku),
  CONSTRAINT products_sku_check CHECK (sku ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
  CONSTRAINT products_name_check CHECK (length(name) BETWEEN 1 AND 200),
  CONSTRAINT products_price_cents_check CHECK (price_cents > 0),
  CONSTRAINT products_stock_check CHECK (stock >= 0)
);
CREATE INDEX products_name_idx ON products (lower(name));
CREATE INDEX products_created_at_idx ON products (created_at);
CREATE TRIGGER products_set_updated_at BEFORE UPDATE ON products FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE orders (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  -- Orders outlive nothing: a user with orders is deactivated, not deleted.
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
  status text NOT NULL DEFAULT 'pending',
  total_cents bigint NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT orders_status_check CHECK (status IN ('pending', 'paid', 'shipped', 'delivered', 'cancelled')),
  CONSTRAINT orders_total_cents_check CHECK (total_cents >= 0)
);
-- Serves the FK and "my orders, newest first".
CREATE INDEX orders_user_id_created_at_idx ON orders (user_id, created_at DESC);
CREATE INDEX orders_status_idx ON orders (status);
CREATE INDEX orders_created_at_idx ON orders (created_at);
CREATE TRIGGER orders_set_updated_at BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE order_items (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  order_id uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
  -- A product that was ordered is deactivated, not deleted.
  product_id uuid NOT NULL REFERENCES products (id) ON DELETE RESTRICT,
  quantity integer NOT NULL,
  unit_price_cents integer NOT NULL,
  CONSTRAINT order_items_order_id_product_id_key UNIQUE (order_id, product_id),
  CONSTRAINT order_items_quantity_check CHECK (quantity > 0),
  CONSTRAINT order_items_unit_price_cents_check CHECK (unit_price_cents >= 0)
);
-- The unique constraint covers order_id; product_id needs its own index.
CREATE INDEX order_items_product_id_idx ON order_items (product_id);

GRANT SELECT, INSERT, UPDATE, DELETE ON products, orders, order_items TO erp_app;
