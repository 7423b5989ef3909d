/**
 * Shutdown state shared by the readiness probe and the server: once a shutdown begins, readiness
 * reports 503 and responses ask clients to close their connections.
 */
export class Lifecycle {
  #shutdownStartedAt: number | undefined;

  get shuttingDown(): boolean {
    return this.#shutdownStartedAt !== undefined;
  }

  /** Milliseconds since `Date.now()` epoch when the shutdown began, if it has. */
  get shutdownStartedAt(): number | undefined {
    return this.#shutdownStartedAt;
  }

  /** Marks the start of the shutdown; returns false when one was already under way. */
  beginShutdown(): boolean {
    if (this.#shutdownStartedAt !== undefined) return false;
    this.#shutdownStartedAt = Date.now();
    return true;
  }
}
