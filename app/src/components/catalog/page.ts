/** One page of a listing, with the number of rows that match across all pages. */
export interface Page<T> {
  readonly items: readonly T[];
  readonly page: number;
  readonly limit: number;
  /** Rows matching the filters on every page together. */
  readonly total: number;
}
