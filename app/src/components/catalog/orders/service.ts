import type { Database } from '../../../db/pool.js';
import { withTransaction } from '../../../db/transaction.js';
import { ConflictError, NotFoundError, ValidationError } from '../../../errors.js';
import type { Page } from '../../../http/pagination.js';
import type { ProductCache } from '../products/cache.js';
import {
  findOrderForUser,
  insertOrder,
  listOrdersForUser,
  lockOrderForUser,
  lockOrderLines,
  lockProducts,
  moveStock,
  setOrderStatus,
} from './repository.js';
import type { LockedProduct, Order, OrderItem, OrderListQuery, OrderSummary } from './repository.js';
import { MAX_LINE_QUANTITY, MAX_ORDER_LINES } from './schemas.js';

export type { Order, OrderItem, OrderListQuery, OrderSummary } from './repository.js';
export type { OrderStatus } from './schemas.js';

/** One line of a cart: which product and how many units. */
export interface OrderLineRequest {
  readonly productId: string;
  readonly quantity: number;
}

export interface OrderCallOptions {
  /** Aborting it (the client went away) rolls the transaction back. */
  readonly signal?: AbortSignal | undefined;
}

/** Reads across every user's orders (the orders:read permission) rather than the caller's own. */
export const ANY_OWNER = null;
/** Whose orders a read may see: one user's id, or {@link ANY_OWNER}. */
export type OrderOwner = string | typeof ANY_OWNER;

export interface OrderService {
  /**
   * Places a pending order for `userId`, taking the stock of every line in one transaction: all lines or none.
   * A product may appear on one line only (duplicates are refused, not merged, so a client bug is not billed).
   * @throws {ValidationError} empty cart, duplicate product, bad quantity
   * @throws {NotFoundError} naming every product that does not exist
   * @throws {ConflictError} naming the sku of a product without enough stock or no longer sold
   */
  createOrder(userId: string, items: readonly OrderLineRequest[], options?: OrderCallOptions): Promise<Order>;
  /**
   * The order with its lines, in one query. `owner` is the caller's user id, or {@link ANY_OWNER} for a caller
   * allowed to read every order (orders:read). @throws {NotFoundError} also when another user owns it.
   */
  getOrder(owner: OrderOwner, orderId: string): Promise<Order>;
  /** The orders of `owner`, or of everyone for {@link ANY_OWNER}. */
  listOrders(owner: OrderOwner, query: OrderListQuery): Promise<Page<OrderSummary>>;
  /**
   * Cancels a pending order of `userId` and puts its stock back, in one transaction.
   * @throws {NotFoundError} also when another user owns it; {ConflictError} when it is not pending.
   */
  cancelOrder(userId: string, orderId: string, options?: OrderCallOptions): Promise<Order>;
}

function orderNotFound(orderId: string): NotFoundError {
  // The same answer whether the order is missing or someone else's, so ids cannot be probed.
  return new NotFoundError(`order ${orderId} was not found; check the id`, { details: { orderId } });
}

/** Domain rules on the cart, for callers that did not come through the HTTP schema. */
function checkCart(items: readonly OrderLineRequest[]): void {
  const fields: Record<string, string[]> = {};
  if (items.length === 0) fields.items = ['must hold at least one line'];
  if (items.length > MAX_ORDER_LINES) fields.items = [`must hold at most ${MAX_ORDER_LINES} lines`];
  const seen = new Set<string>();
  items.forEach((line, index) => {
    if (!Number.isInteger(line.quantity) || line.quantity < 1 || line.quantity > MAX_LINE_QUANTITY) {
      fields[`items.${index}.quantity`] = [`must be a whole number from 1 to ${MAX_LINE_QUANTITY}`];
    }
    if (seen.has(line.productId)) {
      fields[`items.${index}.productId`] = ['is already on another line; put its whole quantity on one line'];
    }
    seen.add(line.productId);
  });
  if (Object.keys(fields).length > 0) {
    const problems = Object.entries(fields).map(([field, messages]) => `${field} ${messages.join(', ')}`);
    throw new ValidationError(`the order cannot be placed: ${problems.join('; ')}`, fields);
  }
}

/** Every line priced from its locked product, or the error that refuses the whole order. */
function priceLines(items: readonly OrderLineRequest[], products: readonly LockedProduct[]): OrderItem[] {
  const byId = new Map(products.map((product) => [product.id, product]));
  const missing = items.filter((line) => !byId.has(line.productId)).map((line) => line.productId);
  if (missing.length > 0) {
    throw new NotFoundError(
      `${missing.length === 1 ? 'product' : 'products'} ${missing.join(', ')} not found; remove ${missing.length === 1 ? 'it' : 'them'} from the order`,
      { details: { productIds: missing } },
    );
  }
  const lines: OrderItem[] = [];
  const short: { sku: string; productId: string; requested: number; available: number }[] = [];
  const retired: string[] = [];
  for (const line of items) {
    const product = byId.get(line.productId);
    if (product === undefined) continue; // reported as missing above
    if (!product.isActive) retired.push(product.sku);
    else if (product.stock < line.quantity) {
      short.push({ sku: product.sku, productId: product.id, requested: line.quantity, available: product.stock });
    }
    lines.push({
      productId: product.id,
      sku: product.sku,
      name: product.name,
      quantity: line.quantity,
      unitPriceCents: product.priceCents,
    });
  }
  if (retired.length > 0) {
    throw new ConflictError(`sku ${retired.join(', ')} is no longer sold; remove it from the order`, {
      details: { skus: retired },
    });
  }
  if (short.length > 0) {
    const described = short.map((s) => `sku ${s.sku}: ${s.requested} requested, ${s.available} in stock`);
    throw new ConflictError(`not enough stock (${described.join('; ')}); lower the quantity and retry`, {
      details: { insufficientStock: short },
    });
  }
  return lines;
}

/**
 * Orders. With `productCache`, the products whose stock an order takes or gives back are invalidated after its
 * transaction ends, so the next product read shows the new stock.
 */
export function createOrderService(db: Database, productCache?: ProductCache): OrderService {
  const getOrder = async (owner: OrderOwner, orderId: string): Promise<Order> => {
    const order = await findOrderForUser(db, owner, orderId);
    if (order === undefined) throw orderNotFound(orderId);
    return order;
  };

  return {
    createOrder: async (userId, items, options = {}) => {
      checkCart(items);
      try {
        return await withTransaction(
          db,
          async (tx) => {
            const products = await lockProducts(
              tx,
              items.map((line) => line.productId),
            );
            const lines = priceLines(items, products);
            const totalCents = lines.reduce((sum, line) => sum + line.quantity * line.unitPriceCents, 0);
            await moveStock(tx, lines, -1);
            const order = await insertOrder(tx, userId, totalCents, lines);
            return { ...order, items: lines };
          },
          { name: 'orders.create', signal: options.signal },
        );
      } finally {
        // after the commit (or a rollback, when the extra miss is harmless)
        await productCache?.invalidate(items.map((line) => line.productId));
      }
    },

    getOrder,

    listOrders: (owner, query) => listOrdersForUser(db, owner, query),

    cancelOrder: async (userId, orderId, options = {}) => {
      const restocked = new Set<string>();
      try {
        await withTransaction(
          db,
          async (tx) => {
            const order = await lockOrderForUser(tx, userId, orderId);
            if (order === undefined) throw orderNotFound(orderId);
            if (order.status !== 'pending') {
              throw new ConflictError(`order ${orderId} is ${order.status}; only pending orders can be cancelled`, {
                details: { orderId, status: order.status },
              });
            }
            const lines = await lockOrderLines(tx, orderId);
            for (const line of lines) restocked.add(line.productId);
            await moveStock(tx, lines, 1);
            await setOrderStatus(tx, orderId, 'cancelled');
          },
          { name: 'orders.cancel', signal: options.signal },
        );
      } finally {
        // after the commit (or a rollback, when the extra miss is harmless)
        await productCache?.invalidate([...restocked]);
      }
      return getOrder(userId, orderId);
    },
  };
}
