/** One failed request of the background traffic. */
export interface TrafficFailure {
  readonly at: number;
  /** The HTTP status, or 0 when no answer came (refused, reset, timeout). */
  readonly status: number;
}

/**
 * Requests through the front door at a steady rate for the whole release, so Prometheus sees real canary and stable
 * traffic. Counts what failed: no answer, or nginx's own 502/504 (a version it could not reach), not the app's 5xx.
 */
export class BackgroundTraffic {
  private timer: NodeJS.Timeout | undefined;
  private inFlight = new Set<Promise<void>>();
  sent = 0;
  answered = 0;
  readonly failures: TrafficFailure[] = [];

  constructor(
    private readonly url: string,
    private readonly rate: number,
    private readonly paths: readonly string[] = ['/api/v1/products', '/api/v1/orders', '/health/live'],
  ) {}

  start(): void {
    const interval = 1000 / this.rate;
    this.timer = setInterval(() => {
      const path = this.paths[this.sent % this.paths.length] ?? '/';
      this.sent += 1;
      const request = this.send(path).finally(() => this.inFlight.delete(request));
      this.inFlight.add(request);
    }, interval);
  }

  private async send(path: string): Promise<void> {
    try {
      const response = await fetch(`${this.url}${path}`, { signal: AbortSignal.timeout(10_000) });
      await response.arrayBuffer();
      this.answered += 1;
      if (response.status === 502 || response.status === 504)
        this.failures.push({ at: Date.now(), status: response.status });
    } catch {
      this.failures.push({ at: Date.now(), status: 0 });
    }
  }

  /** Failures between two instants (e.g. around a weight change). */
  failedBetween(from: number, to: number): number {
    return this.failures.filter((failure) => failure.at >= from && failure.at <= to).length;
  }

  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    await Promise.all([...this.inFlight]);
  }
}
