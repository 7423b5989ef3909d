/**
 * The record of one release: what the local canary executor writes as it goes, what the release report renders, and
 * what a promotion carries as evidence. Plain JSON-safe data; times are ISO 8601 strings in UTC, durations seconds.
 */

/** Where a release ended; `running` until it does. */
export type ReleaseOutcome = 'running' | 'promoted' | 'rolled-back' | 'refused';

export type GateVerdict = 'passed' | 'failed' | 'inconclusive';

/** One gate run between two traffic steps (the load gate, or one SLO query against Prometheus). */
export interface GateResult {
  readonly kind: 'load' | 'slo';
  /** `gate` for the load gate, the SLI's name (`availability`, `latency`) for an SLO query. */
  readonly name: string;
  readonly verdict: GateVerdict;
  readonly startedAt: string;
  readonly finishedAt: string;
  /** The numbers the verdict came from, by name (for example `canaryErrorRatio`, `threshold`, `p99Ms`). */
  readonly numbers: Readonly<Record<string, number>>;
  /** One line a person reads: why it passed or failed. */
  readonly detail: string;
}

/** One stage of the plan as it ran. */
export interface StageRecord {
  /** 1-based, in the plan's order. */
  readonly index: number;
  /** The canary's share of requests, 1 to 100. */
  readonly weight: number;
  readonly startedAt: string;
  /** When nginx began sending this weight to the canary. */
  readonly weightAppliedAt?: string;
  readonly finishedAt?: string;
  readonly gates: readonly GateResult[];
}

/** Stands for a digest when the stable version is the local platform's app, run from source rather than an image. */
export const SOURCE_DIGEST = 'source';

/** The series of one version in Prometheus, as the SLO queries select them. */
export interface VersionSeries {
  /** The image's digest, or {@link SOURCE_DIGEST} for the app `npm start` runs from the working tree. */
  readonly digest: string;
  readonly namespace: string;
  /** The `rollouts_pod_template_hash` label value of this version's series. */
  readonly podTemplateHash: string;
}

/** What the release shipped, and the proof it was allowed to. */
export interface ReleaseEvidence {
  /** Image reference by digest, e.g. `127.0.0.1:5000/slipway/erp-api@sha256:…`. */
  readonly image: string;
  readonly digest: string;
  /** The identity that signed the image, as `verify` checked it. */
  readonly signerIdentity: string;
  readonly sbom: { readonly format: string; readonly packages: number };
  readonly scan: {
    readonly verdict: string;
    readonly findings: number;
    /** Findings let through by an exception, one line each. */
    readonly exceptions: readonly string[];
  };
}

/** The measured figures of one release, in seconds; absent when the release did not reach that point. */
export interface ReleaseTimings {
  /** Deploy command to promotion or rollback. */
  readonly totalSeconds?: number;
  /** From the canary first taking traffic to a failed verdict. */
  readonly failedVerdictAfterTrafficSeconds?: number;
  /** From a failed verdict to all traffic on the stable version. */
  readonly rollbackSeconds?: number;
  /** Requests of the background traffic that failed while weights moved. */
  readonly droppedRequests?: number;
}

/** A statement of a pending migration that the stable version cannot run against while it shares the database. */
export interface BreakingMigration {
  readonly migration: string;
  readonly statement: string;
  readonly reason: string;
}

/** The image's pending migrations when the release checked them, before anything migrated. */
export interface MigrationCheck {
  readonly pending: readonly string[];
  readonly breaking: readonly BreakingMigration[];
  /** Set when an operator applied breaking migrations anyway (deploy --allow-breaking-migrations). */
  readonly overridden: boolean;
}

export interface ReleaseRecord {
  readonly schemaVersion: 1;
  /** Unique per release, sortable by time, safe in a file name. */
  readonly id: string;
  /** The plan's name (pipelines/src/release/plan.ts). */
  readonly plan: string;
  /** The pause profile the plan ran with (`local`, `production`). */
  readonly profile: string;
  readonly canary: VersionSeries;
  /** The version serving before the release; absent on the very first release of a cluster. */
  readonly stable?: VersionSeries;
  readonly startedAt: string;
  readonly finishedAt?: string;
  readonly outcome: ReleaseOutcome;
  /** Why the release was refused or rolled back, in one line. */
  readonly reason?: string;
  readonly stages: readonly StageRecord[];
  readonly evidence?: ReleaseEvidence;
  readonly migrations?: MigrationCheck;
  readonly timings: ReleaseTimings;
  /** The Prometheus that measured the release, for the report's range queries. */
  readonly prometheusUrl?: string;
}
