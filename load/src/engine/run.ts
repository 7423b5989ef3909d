import { readFileSync } from 'node:fs';

import {
  phasesOf,
  type Findings,
  type Flow,
  type Phase,
  type PhaseOutcome,
  type RequestSpec,
  type Scenario,
  type Seed,
  type VirtualUser,
} from './model.js';
import { ResultStore, type Selection, type Stats } from './results.js';
import { renewIfOld, seedTarget, signInUsers, type Seeded } from './session.js';
import type { Env } from './settings.js';
import { compare, parseThresholds, ThresholdError, type ThresholdRule } from './thresholds.js';
import { attack, timestampMs, vegetaPath, type Target } from './vegeta.js';

export interface RunOptions {
  readonly scenario: Scenario;
  readonly targetUrl: string;
  /** SEED_EMAIL and SEED_PASSWORD, when the target needs an admin account to seed products. */
  readonly env?: Env;
  /** The Vegeta binary (default: VEGETA_BIN, else the pinned one). */
  readonly vegeta?: string;
  /** An already seeded target (the benchmark seeds once for all its runs). */
  readonly seeded?: Seeded;
  /** Longest one request may take; slower is a failed request (default 30 s). */
  readonly requestTimeoutMs?: number;
  readonly signal?: AbortSignal;
  /** One line per phase as it ends. */
  readonly progress?: (line: string) => void;
}

export interface RuleResult {
  readonly passed: boolean;
  readonly value: number;
}

export interface EndpointSummary extends Stats {
  readonly flow: string;
}

/** What a run measured: per scenario, per flow, per endpoint and per phase, and each threshold's outcome. */
export interface ScenarioSummary extends Omit<Stats, 'minMs' | 'avgMs'> {
  readonly scenario: string;
  readonly targetUrl: string;
  readonly startedAt: string;
  readonly durationMs: number;
  /** Requests the open-model flows asked for in the phases that ran (closed flows: what they sent). */
  readonly requestedRequests: number;
  /** Requests sent over requests asked for: how far the generator fell behind (1: not at all). */
  readonly achievedShare: number;
  readonly endpoints: Readonly<Record<string, EndpointSummary>>;
  readonly phases: readonly PhaseOutcome[];
  /** Requests, p50, p99 and failures per second of the run, for charts. */
  readonly timeline: readonly { atSeconds: number; requests: number; p50Ms: number; p99Ms: number; failed: number }[];
  readonly thresholds: Readonly<
    Record<string, { readonly passed: boolean; readonly rules: Readonly<Record<string, RuleResult>> }>
  >;
  readonly findings?: Readonly<Record<string, unknown>>;
  readonly findingsLine?: string;
  /** CPU this process and its Vegeta children used while the attack ran, in % of one core. */
  readonly generatorCpuPercent: number;
  /** The target's RSS (process_resident_memory_bytes), when sampled. */
  readonly memory?: readonly { readonly atSeconds: number; readonly rssMb: number }[];
}

const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
const MEMORY_SAMPLE_MS = 1_000;

/** CPU ticks (1/100 s) of this process and its reaped children: utime, stime, cutime, cstime of /proc/self/stat. */
export function cpuTicks(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is state (field 3); utime is field 14
  return [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i] ?? 0), 0);
}

/** Picks one request of a mix by weight. */
function picker(mix: readonly RequestSpec[]): () => RequestSpec {
  const total = mix.reduce((sum, spec) => sum + spec.weight, 0);
  const last = mix.at(-1);
  if (last === undefined || !(total > 0)) throw new ThresholdError('a flow has an empty mix or no positive weight');
  return () => {
    let roll = Math.random() * total;
    for (const spec of mix) {
      roll -= spec.weight;
      if (roll < 0) return spec;
    }
    return last;
  };
}

function targetOf(spec: RequestSpec, seed: Seed, user: VirtualUser, n: number): Target {
  const context = { seed, user, n };
  const header: Record<string, string[]> = {};
  if (spec.authenticated) header.Authorization = [`Bearer ${user.token}`];
  const body = spec.body?.(context);
  if (body !== undefined) header['Content-Type'] = ['application/json'];
  for (const [name, value] of Object.entries(spec.headers?.(context) ?? {})) header[name] = [value];
  return {
    method: spec.method,
    url: `${seed.baseUrl}${spec.path(context)}`,
    header,
    ...(body === undefined ? {} : { body: Buffer.from(JSON.stringify(body)).toString('base64') }),
  };
}

/** The endpoints and flows a scenario sends, for checking threshold tags before a request goes out. */
function tagValues(scenario: Scenario): Record<string, Set<string>> {
  const phases = scenario.flows.flatMap(phasesOf);
  return {
    endpoint: new Set(scenario.flows.flatMap((flow) => flow.mix.map((spec) => spec.endpoint))),
    flow: new Set(scenario.flows.map((flow) => flow.name)),
    phase: new Set(phases.map((phase) => phase.label)),
    scenario: new Set([scenario.name]),
  };
}

/** Parses the scenario's thresholds and checks every tag they select by exists; throws a ThresholdError if not. */
export function checkThresholds(scenario: Scenario): ThresholdRule[] {
  const rules = parseThresholds(scenario.thresholds);
  const values = tagValues(scenario);
  for (const rule of rules) {
    if (rule.tag !== undefined && !values[rule.tag.name]?.has(rule.tag.value)) {
      throw new ThresholdError(
        `threshold ${rule.metric}{${rule.tag.name}:${rule.tag.value}} selects no request of scenario ${scenario.name}; ${rule.tag.name}s it has: ${[...(values[rule.tag.name] ?? [])].join(', ')}`,
      );
    }
  }
  return rules;
}

function ruleValue(rule: ThresholdRule, store: ResultStore, selection: Selection, requested: number): number {
  const stats = store.stats(selection);
  switch (rule.metric) {
    case 'http_req_failed':
      return stats.errorRate;
    case 'checks':
      return stats.checkRate;
    case 'http_reqs':
      return rule.aggregate === 'count' ? stats.requests : stats.achievedRate;
    case 'achieved_rate':
      return requested === 0 ? 1 : stats.requests / requested;
    case 'http_req_duration':
      switch (rule.aggregate) {
        case 'avg':
          return stats.avgMs;
        case 'min':
          return stats.minMs;
        case 'med':
          return stats.p50Ms;
        case 'max':
          return stats.maxMs;
        default:
          return store.percentile(rule.percentile ?? 99, selection);
      }
  }
}

/** Each threshold key with its rules' outcomes and measured values. */
export function evaluateThresholds(
  rules: readonly ThresholdRule[],
  store: ResultStore,
  requested: number,
): ScenarioSummary['thresholds'] {
  const out: Record<string, { passed: boolean; rules: Record<string, RuleResult> }> = {};
  for (const rule of rules) {
    const key = rule.tag === undefined ? rule.metric : `${rule.metric}{${rule.tag.name}:${rule.tag.value}}`;
    const selection: Selection =
      rule.tag === undefined || rule.tag.name === 'scenario' ? {} : { [rule.tag.name]: rule.tag.value };
    const value = ruleValue(rule, store, selection, requested);
    const passed = compare(value, rule.operator, rule.bound);
    const entry = out[key] ?? { passed: true, rules: {} };
    entry.rules[rule.text] = { passed, value };
    entry.passed &&= passed;
    out[key] = entry;
  }
  return out;
}

/** The target's RSS in MB from its Prometheus metrics, or undefined when it does not answer with one. */
async function targetRssMb(baseUrl: string): Promise<number | undefined> {
  try {
    const response = await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(2_000) });
    const text = await response.text();
    const match = /^process_resident_memory_bytes\s+(\d+(?:\.\d+)?(?:e\+?\d+)?)$/m.exec(text);
    return match?.[1] === undefined ? undefined : Number(match[1]) / 1024 / 1024;
  } catch {
    return undefined;
  }
}

/** Something stopped the run that is not a failure: the scenario's own stop rule. */
class StopRun extends Error {
  override readonly name = 'StopRun';
}

/**
 * Runs a scenario: seeds the target (unless given a seeded one), signs its virtual users in once, then runs each flow's
 * phases as Vegeta attacks side by side, and returns the summary with every threshold judged.
 * @throws ThresholdError before any request when a threshold names a metric or tag that does not exist.
 * @throws SeedError when the target cannot be seeded, EngineError when Vegeta fails.
 */
export async function runScenario(options: RunOptions): Promise<ScenarioSummary> {
  const { scenario } = options;
  const rules = checkThresholds(scenario);
  const vegeta = options.vegeta ?? vegetaPath();
  const seeded = options.seeded ?? (await seedTarget(options.targetUrl, options.env ?? {}, scenario.products));
  const seed = { ...seeded.seed, baseUrl: options.targetUrl };
  const users = await signInUsers({ ...seeded, seed }, Math.max(1, scenario.users));
  const renewing = new Set<number>();

  const startedAt = Date.now();
  const cpuAtStart = cpuTicks();
  const store = new ResultStore(startedAt);
  const outcomes: PhaseOutcome[] = [];
  // requests the open models asked for, phase by phase as they run; a closed model asks for what it sends
  let asked = 0;
  const memory: { atSeconds: number; rssMb: number }[] = [];
  const stopper = new AbortController();
  const signal = options.signal === undefined ? stopper.signal : AbortSignal.any([options.signal, stopper.signal]);
  let memoryTimer: NodeJS.Timeout | undefined;
  if (scenario.sampleTargetMemory === true) {
    const sample = (): void => {
      const at = (Date.now() - startedAt) / 1000;
      void targetRssMb(options.targetUrl).then((mb) => {
        if (mb !== undefined) memory.push({ atSeconds: at, rssMb: mb });
      });
    };
    sample();
    memoryTimer = setInterval(sample, MEMORY_SAMPLE_MS);
  }

  const runFlow = async (flow: Flow, first: boolean): Promise<void> => {
    const pick = picker(flow.mix);
    let n = 0;
    for (const phase of phasesOf(flow)) {
      if (signal.aborted) return;
      const phaseStart = Date.now();
      const before = store.size;
      await attack({
        vegeta,
        rate: phase.rate,
        ...(phase.workers === undefined ? {} : { workers: phase.workers }),
        durationMs: phase.durationMs,
        requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
        signal,
        next: () => {
          const spec = pick();
          const user = users[n % users.length];
          if (user === undefined) throw new Error('no virtual user is signed in');
          renewIfOld(seed, user, renewing, Date.now());
          const target = targetOf(spec, seed, user, n);
          n += 1;
          return { target, meta: { endpoint: spec.endpoint, expectStatus: spec.expectStatus } };
        },
        onResult: (result, meta) => {
          store.add({
            sentAtMs: timestampMs(result.timestamp),
            latencyMs: result.latency / 1e6,
            status: result.code,
            endpoint: meta?.endpoint ?? 'unknown',
            flow: flow.name,
            phase: phase.label,
            expectedStatus: meta?.expectStatus ?? 200,
            error: result.error,
          });
        },
      }).catch((error: unknown) => {
        if (!(signal.aborted && stopper.signal.aborted && stopper.signal.reason instanceof StopRun)) throw error;
      });
      const outcome = phaseOutcome(phase, store, before, phaseStart - startedAt, Date.now() - phaseStart);
      asked += phase.rate > 0 ? (phase.rate * phase.durationMs) / 1000 : outcome.requests;
      if (first) outcomes.push(outcome);
      options.progress?.(
        `${scenario.name} ${flow.name} ${phase.label}: ${phase.rate > 0 ? `${phase.rate}/s asked, ` : `${phase.workers ?? 0} workers, `}${outcome.achievedRate.toFixed(1)}/s sent, p99 ${outcome.p99Ms.toFixed(1)} ms, ${(outcome.errorRate * 100).toFixed(2)} % failed`,
      );
      if (first && scenario.stopAfterPhase?.(outcome) === true) {
        stopper.abort(new StopRun(`${scenario.name} stopped after ${phase.label}`));
        return;
      }
    }
  };

  try {
    await Promise.all(scenario.flows.map((flow, index) => runFlow(flow, index === 0)));
  } finally {
    if (memoryTimer !== undefined) clearInterval(memoryTimer);
  }
  const durationMs = Date.now() - startedAt;
  const cpuPercent = ((cpuTicks() - cpuAtStart) * 10 * 100) / Math.max(1, durationMs);
  const requested = Math.round(asked);
  const all = store.stats();
  const endpoints: Record<string, EndpointSummary> = {};
  for (const flow of scenario.flows) {
    for (const endpoint of new Set(flow.mix.map((spec) => spec.endpoint))) {
      const stats = store.stats({ flow: flow.name, endpoint });
      if (stats.requests > 0) endpoints[endpoint] = { flow: flow.name, ...stats };
    }
  }
  const findings: Findings | undefined = scenario.findings?.({
    phases: outcomes,
    window: (fromMs, toMs) => {
      const stats = store.stats({ fromMs, toMs });
      return {
        requests: stats.requests,
        p99Ms: stats.requests === 0 ? null : stats.p99Ms,
        errorRate: stats.requests === 0 ? null : stats.errorRate,
      };
    },
    memory,
  });
  return {
    scenario: scenario.name,
    targetUrl: options.targetUrl,
    startedAt: new Date(startedAt).toISOString(),
    durationMs,
    requests: all.requests,
    requestedRequests: requested,
    achievedRate: all.achievedRate,
    achievedShare: requested === 0 ? 0 : all.requests / requested,
    p50Ms: all.p50Ms,
    p90Ms: all.p90Ms,
    p95Ms: all.p95Ms,
    p99Ms: all.p99Ms,
    maxMs: all.maxMs,
    errorRate: all.errorRate,
    statuses: all.statuses,
    checkRate: all.checkRate,
    errors: all.errors,
    endpoints,
    phases: outcomes,
    timeline: store.timeline(),
    thresholds: evaluateThresholds(rules, store, requested),
    ...(findings === undefined ? {} : { findings: findings.values, findingsLine: findings.line }),
    generatorCpuPercent: cpuPercent,
    ...(scenario.sampleTargetMemory === true ? { memory } : {}),
  };
}

function phaseOutcome(
  phase: Phase,
  store: ResultStore,
  from: number,
  startedAtMs: number,
  elapsedMs: number,
): PhaseOutcome {
  const stats = store.stats({ flow: phase.flow, phase: phase.label });
  // a phase label may span several phases (a ramp's slices): the rate is this phase's own requests'
  const own = store.countSince(from, phase.flow);
  return {
    phase,
    startedAtMs,
    requests: own,
    achievedRate: (own * 1000) / Math.max(phase.durationMs, Math.min(elapsedMs, phase.durationMs)),
    p99Ms: stats.p99Ms,
    errorRate: stats.errorRate,
  };
}
