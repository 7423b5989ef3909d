/**
 * What a scenario is: typed data that says which requests to send, in which mix, as which users, at which arrival
 * rate, for how long, and by which thresholds it is judged. The engine (run.ts) turns it into Vegeta attacks.
 */

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** The seeded target a request is built against: the account, its products and one order. */
export interface Seed {
  readonly baseUrl: string;
  readonly email: string;
  readonly password: string;
  readonly productIds: readonly string[];
  readonly orderId: string;
  /** Start of this run's block of client addresses in 10.0.0.0/8, so runs do not share a sign-in budget. */
  readonly addressBase: number;
}

/** A virtual user: signed in once, with its own client address, its token reused for every request it sends. */
export interface VirtualUser {
  readonly index: number;
  readonly address: string;
  token: string;
  signedInAt: number;
}

/** What a request is built from: the seed, the user sending it, and its sequence number within its flow. */
export interface RequestContext {
  readonly seed: Seed;
  readonly user: VirtualUser;
  readonly n: number;
}

/** One kind of request of a mix. */
export interface RequestSpec {
  /** Name of the endpoint in the summary (e.g. get-product); one row per endpoint, not per URL. */
  readonly endpoint: string;
  /** Relative share of the mix; the weights of a mix need not add up to anything. */
  readonly weight: number;
  readonly method: HttpMethod;
  /** Path below the target URL, e.g. /api/v1/products?limit=20. */
  readonly path: (context: RequestContext) => string;
  /** A JSON body, or none. */
  readonly body?: (context: RequestContext) => unknown;
  /** Extra headers, e.g. X-Forwarded-For for a sign-in. */
  readonly headers?: (context: RequestContext) => Readonly<Record<string, string>>;
  /** Send the user's access token as a Bearer Authorization header. */
  readonly authenticated: boolean;
  /** The status a correct answer has; anything else is a failed check. */
  readonly expectStatus: number;
}

/**
 * How requests arrive. Open models (constant, ramp, steps) start requests on schedule whatever the answers take,
 * so a slow target cannot slow the arrival rate down; closed keeps a fixed number of workers each sending its next
 * request when the last one is answered.
 */
export type Arrival =
  | { readonly model: 'constant'; readonly rate: number; readonly durationMs: number }
  /** Linear from `startRate` through each stage's target rate. */
  | {
      readonly model: 'ramp';
      readonly startRate: number;
      readonly stages: readonly { readonly rate: number; readonly durationMs: number; readonly label?: string }[];
    }
  /** `steps` constant rates, `startRate` then `stepRate` more each, `stepMs` each. */
  | {
      readonly model: 'steps';
      readonly startRate: number;
      readonly stepRate: number;
      readonly steps: number;
      readonly stepMs: number;
    }
  | { readonly model: 'closed'; readonly workers: number; readonly durationMs: number };

/** A stream of requests with its own arrival model; a scenario's flows run side by side. */
export interface Flow {
  readonly name: string;
  readonly arrival: Arrival;
  readonly mix: readonly RequestSpec[];
}

/** `metric` or `metric{tag:value}` to a list of rules such as `rate<0.001` or `p(99)<500`. */
export type Thresholds = Readonly<Record<string, readonly string[]>>;

export interface Scenario {
  /** Its name in summaries and file names. */
  readonly name: string;
  readonly description: string;
  /** Products seeded (or found in the catalog) before the attack. */
  readonly products: number;
  /** Virtual users, each signed in once with its own X-Forwarded-For (1: the seeding sign-in serves). */
  readonly users: number;
  readonly flows: readonly Flow[];
  readonly thresholds: Thresholds;
  /** Fewest requests that make a verdict (the gate): fewer is inconclusive, not a pass. */
  readonly minRequests?: number;
  /**
   * Called after each phase of the first flow with the requests so far; true stops the run there (stress stops at
   * its breaking point).
   */
  readonly stopAfterPhase?: (phase: PhaseOutcome) => boolean;
  /** What the scenario found beyond the numbers (stress's breaking point, spike's recovery, soak's RSS growth). */
  readonly findings?: (result: FindingsInput) => Findings;
  /** Sample the target's own memory (process_resident_memory_bytes at /metrics) through the run (soak). */
  readonly sampleTargetMemory?: boolean;
}

/** One constant-rate (or closed) stretch of a flow, run as one Vegeta attack. */
export interface Phase {
  readonly flow: string;
  /** The step, stage or window this phase belongs to, e.g. step-3, warm, spike. */
  readonly label: string;
  /** Requests per second; 0 for a closed model. */
  readonly rate: number;
  /** Workers of a closed model. */
  readonly workers?: number;
  readonly durationMs: number;
}

export interface PhaseOutcome {
  readonly phase: Phase;
  /** When the phase's attack began, in ms after the run began. */
  readonly startedAtMs: number;
  readonly requests: number;
  readonly achievedRate: number;
  readonly p99Ms: number;
  readonly errorRate: number;
}

/** What a scenario's findings are computed from. */
export interface FindingsInput {
  readonly phases: readonly PhaseOutcome[];
  /** The p99 of the requests that started in [fromMs, toMs) after the run began, and how many there were. */
  readonly window: (
    fromMs: number,
    toMs: number,
  ) => { readonly requests: number; readonly p99Ms: number | null; readonly errorRate: number | null };
  /** The target's RSS in MB over time (seconds since the start), when sampled. */
  readonly memory: readonly { readonly atSeconds: number; readonly rssMb: number }[];
}

export interface Findings {
  readonly values: Readonly<Record<string, unknown>>;
  /** One line for a person. */
  readonly line: string;
}

/** Minimal ramp granularity: a linear stage is sent as one-second constant rates. */
const RAMP_SLICE_MS = 1_000;

/** The constant-rate (or closed) phases an arrival model is sent as, in order. */
export function phasesOf(flow: Flow): Phase[] {
  const { arrival } = flow;
  switch (arrival.model) {
    case 'constant':
      return [{ flow: flow.name, label: flow.name, rate: arrival.rate, durationMs: arrival.durationMs }];
    case 'closed':
      return [{ flow: flow.name, label: flow.name, rate: 0, workers: arrival.workers, durationMs: arrival.durationMs }];
    case 'steps':
      return Array.from({ length: arrival.steps }, (_, step) => ({
        flow: flow.name,
        label: `step-${step}`,
        rate: arrival.startRate + step * arrival.stepRate,
        durationMs: arrival.stepMs,
      }));
    case 'ramp': {
      const phases: Phase[] = [];
      let from = arrival.startRate;
      arrival.stages.forEach((stage, index) => {
        const label = stage.label ?? `stage-${index}`;
        if (stage.rate === from) {
          phases.push({ flow: flow.name, label, rate: from, durationMs: stage.durationMs });
        } else {
          const slices = Math.max(1, Math.round(stage.durationMs / RAMP_SLICE_MS));
          for (let slice = 0; slice < slices; slice++) {
            // the rate at the middle of the slice, so the slices send what the line would
            const rate = Math.max(1, Math.round(from + ((stage.rate - from) * (slice + 0.5)) / slices));
            phases.push({ flow: flow.name, label, rate, durationMs: stage.durationMs / slices });
          }
        }
        from = stage.rate;
      });
      return phases;
    }
  }
}

/** Requests a flow is asked to send over its whole length (closed models: none promised). */
export function requestedRequests(phases: readonly Phase[]): number {
  return phases.reduce((sum, phase) => sum + (phase.rate * phase.durationMs) / 1000, 0);
}

export const ADDRESS_SPACE = 2 ** 24;

/** The n-th client address of a run's block in 10.0.0.0/8, sent as X-Forwarded-For. */
export function clientAddress(addressBase: number, n: number): string {
  const index = (addressBase + n) % ADDRESS_SPACE;
  return `10.${(index >> 16) & 255}.${(index >> 8) & 255}.${index & 255}`;
}
