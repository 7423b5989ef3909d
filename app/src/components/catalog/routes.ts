import type { Request, RequestHandler, Router } from 'express';
import { z } from 'zod';

import type { Database } from '../../db/pool.js';
import { requestSignal } from '../../http/abort.js';
import { endpointRouter } from '../../http/endpoint.js';
import { callerId } from '../../http/request-context.js';
import { defineEndpoint } from '../access/index.js';
import type { Authorize, Holds } from '../access/index.js';
import type { Order, OrderSummary } from './orders/service.js';
import { ANY_OWNER, createOrderService } from './orders/service.js';
import type { OrderOwner } from './orders/service.js';
import { ORDER_STATUSES, createOrderBody, listOrdersQuery, orderIdParams } from './orders/schemas.js';
import { pageJson, pageResponse } from '../../http/pagination.js';
import type { ProductCache } from './products/cache.js';
import type { Product } from './products/service.js';
import { createProductService } from './products/service.js';
import { createProductBody, listProductsQuery, productIdParams, updateProductBody } from './products/schemas.js';

export interface CatalogRouterDependencies {
  readonly db: Database;
  /** Sets the caller's user id on the request context, or fails the request with 401. */
  readonly authenticate: RequestHandler;
  /** The access component's permission guard; mounted after `authenticate` on every route. */
  readonly authorize: Authorize;
  /** Whether the caller holds a permission: holders of orders:read see every user's orders. */
  readonly holds: Holds;
  /** Product reads by id through Redis, invalidated by every product write; without it reads query the database. */
  readonly productCache?: ProductCache | undefined;
}

// The wire format is snake_case, the same names the sort and filter parameters use.
const productResponse = z.strictObject({
  id: z.uuid(),
  sku: z.string(),
  name: z.string(),
  description: z.string(),
  price_cents: z.int(),
  stock: z.int(),
  is_active: z.boolean(),
  created_at: z.iso.datetime(),
  updated_at: z.iso.datetime(),
});
const orderSummaryResponse = z.strictObject({
  id: z.uuid(),
  user_id: z.uuid(),
  status: z.enum(ORDER_STATUSES),
  total_cents: z.int(),
  created_at: z.iso.datetime(),
  updated_at: z.iso.datetime(),
});
const orderResponse = orderSummaryResponse.extend({
  items: z.array(
    z.strictObject({
      product_id: z.uuid(),
      sku: z.string(),
      name: z.string(),
      quantity: z.int(),
      unit_price_cents: z.int(),
    }),
  ),
});

function productJson(product: Product): z.input<typeof productResponse> {
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

function orderSummaryJson(order: Omit<OrderSummary, 'itemCount'>): z.input<typeof orderSummaryResponse> {
  return {
    id: order.id,
    user_id: order.userId,
    status: order.status,
    total_cents: order.totalCents,
    created_at: order.createdAt.toISOString(),
    updated_at: order.updatedAt.toISOString(),
  };
}

function orderJson(order: Order): z.input<typeof orderResponse> {
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

/** Products and orders under /api/v1; every route needs an authenticated caller. */
export function createCatalogRouter({
  db,
  authenticate,
  authorize,
  holds,
  productCache,
}: CatalogRouterDependencies): Router {
  const products = createProductService(db, productCache);
  const orders = createOrderService(db, productCache);
  // orders:read (managers) sees every user's orders; orders:read_own only the caller's.
  const readableOrders = async (req: Request): Promise<OrderOwner> =>
    (await holds(req, 'orders:read')) ? ANY_OWNER : callerId(req);
  const product = { tags: ['products'] } as const;
  const order = { tags: ['orders'] } as const;
  const orderReaders = { permission: 'orders:read_own', alternatives: ['orders:read'] } as const;

  return endpointRouter(
    [
      defineEndpoint({
        ...product,
        method: 'get',
        path: '/api/v1/products',
        summary: 'List products, filtered, sorted and paginated',
        access: { permission: 'products:read' },
        request: { query: listProductsQuery },
        responses: { 200: { description: 'One page of products.', schema: pageResponse(productResponse) } },
        handle: async ({ query }, _req, res) => {
          const page = await products.list({
            page: query.page,
            limit: query.limit,
            sort: query.sort,
            filter: {
              nameContains: query.name,
              minPriceCents: query.min_price_cents,
              maxPriceCents: query.max_price_cents,
            },
          });
          res.json(pageJson(page, productJson));
        },
      }),
      defineEndpoint({
        ...product,
        method: 'get',
        path: '/api/v1/products/:id',
        summary: 'One product',
        access: { permission: 'products:read' },
        request: { params: productIdParams },
        responses: { 200: { description: 'The product.', schema: productResponse } },
        errors: ['NOT_FOUND'],
        handle: async ({ params }, _req, res) => {
          res.json(productJson(await products.get(params.id)));
        },
      }),
      defineEndpoint({
        ...product,
        method: 'post',
        path: '/api/v1/products',
        summary: 'Create a product',
        access: { permission: 'products:create' },
        request: { body: createProductBody },
        responses: {
          201: { description: 'Created.', schema: productResponse, headers: { Location: 'The new product.' } },
        },
        errors: ['CONFLICT', 'TRANSACTION_CONFLICT'],
        handle: async ({ body }, _req, res) => {
          const created = await products.create({
            sku: body.sku,
            name: body.name,
            description: body.description,
            priceCents: body.price_cents,
            stock: body.stock,
          });
          res.status(201).location(`/api/v1/products/${created.id}`).json(productJson(created));
        },
      }),
      defineEndpoint({
        ...product,
        method: 'patch',
        path: '/api/v1/products/:id',
        summary: 'Change a product; stock moves by stock_delta',
        access: { permission: 'products:update' },
        request: { params: productIdParams, body: updateProductBody },
        responses: { 200: { description: 'The changed product.', schema: productResponse } },
        errors: ['NOT_FOUND', 'CONFLICT', 'TRANSACTION_CONFLICT'],
        handle: async ({ params, body }, _req, res) => {
          const changed = await products.update(params.id, {
            sku: body.sku,
            name: body.name,
            description: body.description,
            priceCents: body.price_cents,
            stockDelta: body.stock_delta,
          });
          res.json(productJson(changed));
        },
      }),
      defineEndpoint({
        ...order,
        method: 'post',
        path: '/api/v1/orders',
        summary: 'Place an order for the caller; takes the stock or fails whole',
        access: { permission: 'orders:create' },
        request: { body: createOrderBody },
        responses: {
          201: { description: 'Created.', schema: orderResponse, headers: { Location: 'The new order.' } },
        },
        errors: ['NOT_FOUND', 'CONFLICT', 'TRANSACTION_CONFLICT'],
        handle: async ({ body }, req, res) => {
          const created = await orders.createOrder(
            callerId(req),
            body.items.map((line) => ({ productId: line.product_id, quantity: line.quantity })),
            { signal: requestSignal(req) },
          );
          res.status(201).location(`/api/v1/orders/${created.id}`).json(orderJson(created));
        },
      }),
      defineEndpoint({
        ...order,
        method: 'get',
        path: '/api/v1/orders',
        summary: "The caller's orders (every user's with orders:read), sorted and paginated",
        description:
          "Holders of `orders:read` (managers, administrators) see every user's orders; others only their own.",
        access: orderReaders,
        request: { query: listOrdersQuery },
        responses: {
          200: {
            description: 'One page of order summaries.',
            schema: pageResponse(orderSummaryResponse.extend({ item_count: z.int() })),
          },
        },
        handle: async ({ query }, req, res) => {
          const page = await orders.listOrders(await readableOrders(req), query);
          res.json(pageJson(page, (summary) => ({ ...orderSummaryJson(summary), item_count: summary.itemCount })));
        },
      }),
      defineEndpoint({
        ...order,
        method: 'get',
        path: '/api/v1/orders/:id',
        summary: 'One order with its lines',
        description: "Someone else's order answers 404, unless the caller holds `orders:read`.",
        access: orderReaders,
        request: { params: orderIdParams },
        responses: { 200: { description: 'The order.', schema: orderResponse } },
        errors: ['NOT_FOUND'],
        handle: async ({ params }, req, res) => {
          res.json(orderJson(await orders.getOrder(await readableOrders(req), params.id)));
        },
      }),
      defineEndpoint({
        ...order,
        method: 'post',
        path: '/api/v1/orders/:id/cancel',
        summary: 'Cancel an order of the caller that has not shipped',
        access: { permission: 'orders:cancel_own' },
        request: { params: orderIdParams },
        responses: { 200: { description: 'The cancelled order.', schema: orderResponse } },
        errors: ['NOT_FOUND', 'CONFLICT', 'TRANSACTION_CONFLICT'],
        handle: async ({ params }, req, res) => {
          res.json(orderJson(await orders.cancelOrder(callerId(req), params.id, { signal: requestSignal(req) })));
        },
      }),
    ],
    { authenticate, authorize },
  );
}
