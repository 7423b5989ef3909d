import { Router } from 'express';
import type { Request, RequestHandler } from 'express';

import type { Database } from '../../db/pool.js';
import { UnauthorizedError } from '../../errors.js';
import { requestSignal } from '../../http/abort.js';
import { requestContext } from '../../http/request-context.js';
import { validate } from '../../http/validate.js';
import type { Order, OrderSummary } from './orders/service.js';
import { createOrderService } from './orders/service.js';
import { createOrderBody, listOrdersQuery, orderIdParams } from './orders/schemas.js';
import type { Page } from './page.js';
import type { Product } from './products/service.js';
import { createProductService } from './products/service.js';
import { createProductBody, listProductsQuery, productIdParams, updateProductBody } from './products/schemas.js';

export interface CatalogRouterDependencies {
  readonly db: Database;
  /** Sets the caller's user id on the request context, or fails the request with 401. */
  readonly authenticate: RequestHandler;
}

// The wire format is snake_case, the same names the sort and filter parameters use.
function productJson(product: Product) {
  return {
    id: product.id,
    sku: product.sku,
    name: product.name,
    description: product.description,
    price_cents: product.priceCents,
    stock: product.stock,
    is_active: product.isActive,
    created_at: product.createdAt.toISOString(),
    updated_at: product.updatedAt.toISOString(),
  };
}

function orderSummaryJson(order: Omit<OrderSummary, 'itemCount'>) {
  return {
    id: order.id,
    user_id: order.userId,
    status: order.status,
    total_cents: order.totalCents,
    created_at: order.createdAt.toISOString(),
    updated_at: order.updatedAt.toISOString(),
  };
}

function orderJson(order: Order) {
  return {
    ...orderSummaryJson(order),
    items: order.items.map((item) => ({
      product_id: item.productId,
      sku: item.sku,
      name: item.name,
      quantity: item.quantity,
      unit_price_cents: item.unitPriceCents,
    })),
  };
}

function pageJson<T, J>(page: Page<T>, render: (item: T) => J) {
  return { items: page.items.map(render), page: page.page, limit: page.limit, total: page.total };
}

/** The caller's user id, which `authenticate` put on the request context. */
function callerId(req: Request): string {
  const userId = requestContext(req)?.userId;
  if (userId === undefined) throw new UnauthorizedError();
  return userId;
}

/** Products and orders under /api/v1; every route needs an authenticated caller. */
export function createCatalogRouter({ db, authenticate }: CatalogRouterDependencies): Router {
  const products = createProductService(db);
  const orders = createOrderService(db);
  const router = Router();

  const listProducts = validate({ query: listProductsQuery });
  router.get('/api/v1/products', authenticate, listProducts, async (req, res) => {
    const { query } = listProducts.input(req);
    const page = await products.list({
      page: query.page,
      limit: query.limit,
      sort: query.sort,
      filter: { nameContains: query.name, minPriceCents: query.min_price_cents, maxPriceCents: query.max_price_cents },
    });
    res.json(pageJson(page, productJson));
  });

  const getProduct = validate({ params: productIdParams });
  router.get('/api/v1/products/:id', authenticate, getProduct, async (req, res) => {
    const { params } = getProduct.input(req);
    res.json(productJson(await products.get(params.id)));
  });

  const createProduct = validate({ body: createProductBody });
  // RBAC: authorize('products:write') goes between authenticate and the validator once roles are enforced.
  router.post('/api/v1/products', authenticate, createProduct, async (req, res) => {
    const { body } = createProduct.input(req);
    const product = await products.create({
      sku: body.sku,
      name: body.name,
      description: body.description,
      priceCents: body.price_cents,
      stock: body.stock,
    });
    res.status(201).location(`/api/v1/products/${product.id}`).json(productJson(product));
  });

  const updateProduct = validate({ params: productIdParams, body: updateProductBody });
  // RBAC: authorize('products:write') goes between authenticate and the validator once roles are enforced.
  router.patch('/api/v1/products/:id', authenticate, updateProduct, async (req, res) => {
    const { params, body } = updateProduct.input(req);
    const product = await products.update(params.id, {
      sku: body.sku,
      name: body.name,
      description: body.description,
      priceCents: body.price_cents,
      stockDelta: body.stock_delta,
    });
    res.json(productJson(product));
  });

  const createOrder = validate({ body: createOrderBody });
  router.post('/api/v1/orders', authenticate, createOrder, async (req, res) => {
    const { body } = createOrder.input(req);
    const order = await orders.createOrder(
      callerId(req),
      body.items.map((line) => ({ productId: line.product_id, quantity: line.quantity })),
      { signal: requestSignal(req) },
    );
    res.status(201).location(`/api/v1/orders/${order.id}`).json(orderJson(order));
  });

  const listOrders = validate({ query: listOrdersQuery });
  router.get('/api/v1/orders', authenticate, listOrders, async (req, res) => {
    const { query } = listOrders.input(req);
    const page = await orders.listOrders(callerId(req), query);
    res.json(pageJson(page, (order) => ({ ...orderSummaryJson(order), item_count: order.itemCount })));
  });

  const getOrder = validate({ params: orderIdParams });
  router.get('/api/v1/orders/:id', authenticate, getOrder, async (req, res) => {
    const { params } = getOrder.input(req);
    res.json(orderJson(await orders.getOrder(callerId(req), params.id)));
  });

  const cancelOrder = validate({ params: orderIdParams });
  router.post('/api/v1/orders/:id/cancel', authenticate, cancelOrder, async (req, res) => {
    const { params } = cancelOrder.input(req);
    const order = await orders.cancelOrder(callerId(req), params.id, { signal: requestSignal(req) });
    res.json(orderJson(order));
  });

  return router;
}
