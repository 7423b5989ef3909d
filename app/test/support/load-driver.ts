import { Agent, request } from 'node:http';

/** What one request of the load saw. */
export interface LoadSample {
  /** `Date.now()` when it was sent and when its answer (or error) was complete. */
  readonly sentAt: number;
  readonly doneAt: number;
  /** HTTP status, or undefined for a network error or timeout. */
  readonly status: number | undefined;
  /** The upstream that produced the answer, from nginx's `X-Upstream-Addr` (the last one when it retried). */
  readonly upstream: string | undefined;
  /** Every upstream nginx tried, in order. */
  readonly tried: readonly string[];
  /** The network error, or the start of the body of a non-2xx answer. */
  readonly error?: string;
}

export interface LoadOptions {
  /** Absolute URL to GET. */
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Requests started per second, whatever the answers take (an open model, as Vegeta's constant rate). */
  readonly ratePerSecond: number;
  /** A request still unanswered after this long counts as failed. */
  readonly timeoutMs?: number;
}

/** A steady load that runs until `stop()`. */
export interface SteadyLoad {
  /** The samples so far (answered requests only). */
  readonly samples: readonly LoadSample[];
  /** Stops starting requests and resolves with every sample once the ones in flight have settled. */
  stop(): Promise<LoadSample[]>;
}

function once(url: string, agent: Agent, headers: Readonly<Record<string, string>>, timeoutMs: number) {
  return new Promise<LoadSample>((resolve) => {
    const sentAt = Date.now();
    const settle = (status: number | undefined, upstreamHeader: string | undefined, error?: string): void => {
      const tried = upstreamHeader === undefined ? [] : upstreamHeader.split(/\s*[,:]\s+/);
      resolve({
        sentAt,
        doneAt: Date.now(),
        status,
        upstream: tried.at(-1),
        tried,
        ...(error === undefined ? {} : { error }),
      });
    };
    const outgoing = request(url, { agent, headers, timeout: timeoutMs }, (response) => {
      const upstream = response.headers['x-upstream-addr'];
      const status = response.statusCode;
      let body = '';
      response.setEncoding('utf8').on('data', (chunk: string) => {
        if (status === undefined || status >= 300) body += chunk;
      });
      response.once('end', () =>
        settle(
          status,
          typeof upstream === 'string' ? upstream : undefined,
          body === '' ? undefined : body.slice(0, 300),
        ),
      );
      response.once('error', (error) => settle(undefined, undefined, error.message));
    });
    outgoing.once('timeout', () => outgoing.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    outgoing.once('error', (error) => settle(undefined, undefined, error.message));
    outgoing.end();
  });
}

/**
 * Starts a constant-rate GET load over keep-alive connections, the way a browser fleet or a service client
 * reuses connections to an ingress.
 */
export function startSteadyLoad({ url, headers = {}, ratePerSecond, timeoutMs = 10_000 }: LoadOptions): SteadyLoad {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const samples: LoadSample[] = [];
  const inFlight = new Set<Promise<void>>();
  const intervalMs = 1_000 / ratePerSecond;
  const startedAt = Date.now();
  let sent = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  // Catch up on ticks a busy event loop delayed, so the rate holds on a loaded machine.
  const tick = (): void => {
    if (stopped) return;
    const due = Math.floor((Date.now() - startedAt) / intervalMs) + 1;
    for (; sent < due; sent += 1) {
      const pending = once(url, agent, headers, timeoutMs).then((sample) => {
        samples.push(sample);
        inFlight.delete(pending);
      });
      inFlight.add(pending);
    }
    timer = setTimeout(tick, intervalMs);
  };
  tick();
  return {
    samples,
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await Promise.all(inFlight);
      agent.destroy();
      return [...samples].sort((a, b) => a.sentAt - b.sentAt);
    },
  };
}
