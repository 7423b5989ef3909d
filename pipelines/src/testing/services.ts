/** What the global setup hands every test (through vitest's provide/inject). */
export interface TestServices {
  readonly postgres: {
    readonly host: string;
    readonly port: number;
    readonly user: string;
    /** Superuser connection to the maintenance database, for creating per-file databases. */
    readonly adminUrl: string;
    /** Superuser connection to the shared `slipway_test` database. */
    readonly url: string;
    readonly pid: number;
  };
  readonly redis: {
    readonly host: string;
    readonly port: number;
    readonly url: string;
    readonly pid: number;
  };
  readonly stateFile: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    services: TestServices;
  }
}
