import type { Database } from '../../../db/pool.js';
import { AppError, ConflictError, NotFoundError } from '../../../errors.js';
import type { Page } from '../../../http/pagination.js';
import type { ProductCache } from './cache.js';
import { findProductById, insertProduct, listProducts, updateProduct } from './repository.js';
import type { NewProduct, Product, ProductChanges, ProductListQuery } from './repository.js';

export type { NewProduct, Product, ProductChanges, ProductFilter, ProductListQuery } from './repository.js';

export interface ProductService {
  /** @throws {ConflictError} naming `sku` when another product already uses it. */
  create(product: NewProduct): Promise<Product>;
  /** @throws {NotFoundError} */
  get(id: string): Promise<Product>;
  list(query: ProductListQuery): Promise<Page<Product>>;
  /** @throws {NotFoundError} | {ConflictError} for a taken sku or a stock that would go below 0. */
  update(id: string, changes: ProductChanges): Promise<Product>;
  /** Adds `delta` units (negative removes) atomically. @throws {NotFoundError} | {ConflictError} below 0. */
  adjustStock(id: string, delta: number): Promise<Product>;
}

function productNotFound(id: string): NotFoundError {
  return new NotFoundError(`product ${id} was not found; check the id`, { details: { productId: id } });
}

/** The classified database error reworded for the catalogue: a taken sku, a stock that would go negative. */
function catalogueError(error: unknown, id: string | undefined, changes: ProductChanges): unknown {
  if (!(error instanceof AppError)) return error;
  const constraint = error.details?.constraint;
  if (constraint === 'products_sku_key') {
    return new ConflictError(
      `sku ${changes.sku === undefined ? '' : `${JSON.stringify(changes.sku)} `}is already used by another product; choose a different sku`,
      { cause: error, details: { constraint, fields: ['sku'] } },
    );
  }
  if (constraint === 'products_stock_check') {
    return new ConflictError(
      `product ${id ?? ''} has fewer than ${-(changes.stockDelta ?? 0)} units in stock; stock cannot go below 0`,
      { cause: error, details: { constraint, fields: ['stock'], productId: id } },
    );
  }
  return error;
}

/**
 * The catalogue's products. With `cache`, reads by id go through Redis and every update invalidates the product
 * after it commits (see ProductCache for how stale a read can be); without it every read queries the database.
 */
export function createProductService(db: Database, cache?: ProductCache): ProductService {
  const update = async (id: string, changes: ProductChanges): Promise<Product> => {
    let product: Product | undefined;
    try {
      product = await updateProduct(db, id, changes);
    } catch (error) {
      throw catalogueError(error, id, changes);
    } finally {
      // one autocommitted statement: committed (or not) by now; a failed one changed nothing, and a miss is harmless
      await cache?.invalidate([id]);
    }
    if (product === undefined) throw productNotFound(id);
    return product;
  };
  const find = (id: string): Promise<Product | undefined> =>
    cache === undefined ? findProductById(db, id) : cache.read(id, () => findProductById(db, id));

  return {
    create: async (product) => {
      try {
        return await insertProduct(db, product);
      } catch (error) {
        throw catalogueError(error, undefined, { sku: product.sku });
      }
    },
    get: async (id) => {
      const product = await find(id);
      if (product === undefined) throw productNotFound(id);
      return product;
    },
    list: (query) => listProducts(db, query),
    update,
    adjustStock: (id, delta) => update(id, { stockDelta: delta }),
  };
}
