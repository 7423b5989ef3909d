/** Vegeta's per-request results, kept compactly, and the statistics a summary and the thresholds read from them. */

/** One line of `vegeta encode --to json`, the fields read here. */
export interface VegetaResult {
  readonly code: number;
  /** RFC 3339 with nanoseconds: when the request was sent. */
  readonly timestamp: string;
  /** Nanoseconds from sending to reading the whole answer. */
  readonly latency: number;
  readonly error: string;
  readonly method: string;
  readonly url: string;
}

/** A growable column of numbers. */
class Column {
  private data = new Float64Array(1024);
  length = 0;

  push(value: number): void {
    if (this.length === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = value;
  }

  at(index: number): number {
    return this.data[index] ?? 0;
  }
}

/** Interned names (endpoints, flows, phases), stored as small numbers per request. */
class Names {
  readonly list: string[] = [];
  private readonly index = new Map<string, number>();

  id(name: string): number {
    let id = this.index.get(name);
    if (id === undefined) {
      id = this.list.length;
      this.list.push(name);
      this.index.set(name, id);
    }
    return id;
  }
}

export interface Selection {
  readonly endpoint?: string;
  readonly flow?: string;
  readonly phase?: string;
  /** Requests sent in [fromMs, toMs) after the run began. */
  readonly fromMs?: number;
  readonly toMs?: number;
}

export interface Stats {
  readonly requests: number;
  /** Per second, over the span from the first request sent to the last one answered. */
  readonly achievedRate: number;
  readonly minMs: number;
  readonly avgMs: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** 5xx answers and requests with no answer, over all. */
  readonly errorRate: number;
  /** Answers whose status was the expected one, over all. */
  readonly checkRate: number;
  /** Count per status; 0 is no answer (connection refused, timeout). */
  readonly statuses: Readonly<Record<string, number>>;
  /** The first few transport errors as Vegeta words them, for a person. */
  readonly errors: readonly string[];
}

/** The p-th percentile (0-100) of sorted values, nearest rank. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] ?? 0;
}

const MAX_ERROR_TEXTS = 5;

/** Every result of a run, tagged by endpoint, flow and phase. */
export class ResultStore {
  private readonly sentAt = new Column();
  private readonly latencyMs = new Column();
  private readonly status = new Column();
  private readonly endpointOf = new Column();
  private readonly phaseOf = new Column();
  private readonly checked = new Column();
  readonly endpoints = new Names();
  readonly phases = new Names();
  private readonly phaseFlow = new Map<number, string>();
  private readonly errorTexts = new Map<number, string[]>();
  /** ms since the epoch the run began; sentAt is kept relative to it. */
  readonly startedAt: number;

  constructor(startedAt: number) {
    this.startedAt = startedAt;
  }

  get size(): number {
    return this.sentAt.length;
  }

  add(result: {
    sentAtMs: number;
    latencyMs: number;
    status: number;
    endpoint: string;
    flow: string;
    phase: string;
    expectedStatus: number;
    error: string;
  }): void {
    const phase = this.phases.id(`${result.flow}/${result.phase}`);
    this.phaseFlow.set(phase, result.flow);
    this.sentAt.push(result.sentAtMs - this.startedAt);
    this.latencyMs.push(result.latencyMs);
    this.status.push(result.status);
    this.endpointOf.push(this.endpoints.id(result.endpoint));
    this.phaseOf.push(phase);
    this.checked.push(result.status === result.expectedStatus ? 1 : 0);
    if (result.error !== '') {
      const texts = this.errorTexts.get(phase) ?? [];
      if (texts.length < MAX_ERROR_TEXTS) texts.push(result.error);
      this.errorTexts.set(phase, texts);
    }
  }

  private matches(index: number, selection: Selection): boolean {
    if (selection.endpoint !== undefined && this.endpoints.list[this.endpointOf.at(index)] !== selection.endpoint)
      return false;
    const phaseKey = this.phases.list[this.phaseOf.at(index)] ?? '';
    if (selection.flow !== undefined && this.phaseFlow.get(this.phaseOf.at(index)) !== selection.flow) return false;
    if (selection.phase !== undefined && phaseKey.slice(phaseKey.indexOf('/') + 1) !== selection.phase) return false;
    const sent = this.sentAt.at(index);
    if (selection.fromMs !== undefined && sent < selection.fromMs) return false;
    if (selection.toMs !== undefined && sent >= selection.toMs) return false;
    return true;
  }

  stats(selection: Selection = {}): Stats {
    const latencies: number[] = [];
    const statuses: Record<string, number> = {};
    let failed = 0;
    let checked = 0;
    let first = Infinity;
    let last = -Infinity;
    let sum = 0;
    const phasesSeen = new Set<number>();
    for (let i = 0; i < this.size; i++) {
      if (!this.matches(i, selection)) continue;
      const latency = this.latencyMs.at(i);
      const status = this.status.at(i);
      latencies.push(latency);
      sum += latency;
      statuses[String(status)] = (statuses[String(status)] ?? 0) + 1;
      if (status === 0 || status >= 500) failed += 1;
      checked += this.checked.at(i);
      const sent = this.sentAt.at(i);
      first = Math.min(first, sent);
      last = Math.max(last, sent);
      phasesSeen.add(this.phaseOf.at(i));
    }
    const sorted = Float64Array.from(latencies).sort();
    const n = sorted.length;
    // the span requests were sent over; one request's span counts as a second
    const spanMs = n > 1 ? Math.max(1, last - first) * (n / (n - 1)) : 1000;
    return {
      requests: n,
      achievedRate: n === 0 ? 0 : (n * 1000) / spanMs,
      minMs: sorted[0] ?? 0,
      avgMs: n === 0 ? 0 : sum / n,
      p50Ms: percentile(sorted, 50),
      p90Ms: percentile(sorted, 90),
      p95Ms: percentile(sorted, 95),
      p99Ms: percentile(sorted, 99),
      maxMs: sorted[n - 1] ?? 0,
      errorRate: n === 0 ? 0 : failed / n,
      checkRate: n === 0 ? 0 : checked / n,
      statuses,
      errors: [...phasesSeen].flatMap((phase) => this.errorTexts.get(phase) ?? []).slice(0, MAX_ERROR_TEXTS),
    };
  }

  /** Results of `flow` added since the store held `from` results. */
  countSince(from: number, flow: string): number {
    let count = 0;
    for (let i = from; i < this.size; i++) if (this.phaseFlow.get(this.phaseOf.at(i)) === flow) count += 1;
    return count;
  }

  /** The p-th percentile of the selected latencies. */
  percentile(p: number, selection: Selection = {}): number {
    const latencies: number[] = [];
    for (let i = 0; i < this.size; i++) if (this.matches(i, selection)) latencies.push(this.latencyMs.at(i));
    return percentile(Float64Array.from(latencies).sort(), p);
  }

  /** Latencies over time, one point per `bucketMs` of sending time: for charts. */
  timeline(bucketMs = 1000): { atSeconds: number; requests: number; p50Ms: number; p99Ms: number; failed: number }[] {
    const buckets = new Map<number, { latencies: number[]; failed: number }>();
    for (let i = 0; i < this.size; i++) {
      const bucket = Math.floor(this.sentAt.at(i) / bucketMs);
      const entry = buckets.get(bucket) ?? { latencies: [], failed: 0 };
      entry.latencies.push(this.latencyMs.at(i));
      const status = this.status.at(i);
      if (status === 0 || status >= 500) entry.failed += 1;
      buckets.set(bucket, entry);
    }
    return [...buckets.entries()]
      .sort(([a], [b]) => a - b)
      .map(([bucket, { latencies, failed }]) => {
        const sorted = Float64Array.from(latencies).sort();
        return {
          atSeconds: (bucket * bucketMs) / 1000,
          requests: sorted.length,
          p50Ms: percentile(sorted, 50),
          p99Ms: percentile(sorted, 99),
          failed,
        };
      });
  }
}
